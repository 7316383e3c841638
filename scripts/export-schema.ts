// Writes docs/weir.schema.json from src/config/schema.ts. Run after changing the schema:
//   node --import tsx scripts/export-schema.ts   (or: npm run schema)
// src/config/json-schema.test.ts fails while the committed file is stale.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { renderJsonSchema } from '../src/config/json-schema.js';

const target = fileURLToPath(new URL('../docs/weir.schema.json', import.meta.url));
await writeFile(target, renderJsonSchema());
console.log(`wrote ${target}`);
