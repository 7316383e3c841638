/** The JSON Schema of weir.yaml, as published in docs/weir.schema.json for editors. */
import { WeirConfig } from './schema.js';

/** Draft-07 is the draft editors (yaml-language-server, VS Code) support best; the schema uses nothing newer. */
export const JSON_SCHEMA_DIALECT = 'http://json-schema.org/draft-07/schema#';

/** The file's exact text: key order as declared in schema.ts, 2-space indent, final newline. */
export function renderJsonSchema(): string {
  return `${JSON.stringify({ $schema: JSON_SCHEMA_DIALECT, ...WeirConfig }, null, 2)}\n`;
}
