import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { JSON_SCHEMA_DIALECT, renderJsonSchema } from './json-schema.js';

test('docs/weir.schema.json is what schema.ts generates (run `npm run schema` after changing the schema)', async () => {
  const committed = await readFile(new URL('../../docs/weir.schema.json', import.meta.url), 'utf8');
  // A boolean, not assert.equal: diffing two large texts takes minutes when they differ.
  assert.ok(committed === renderJsonSchema(), 'docs/weir.schema.json is stale: run `npm run schema`');
});

test('the JSON Schema names its dialect and id, and has no TypeBox internals', () => {
  const schema = JSON.parse(renderJsonSchema()) as Record<string, unknown>;
  assert.equal(schema['$schema'], JSON_SCHEMA_DIALECT);
  assert.equal(schema['$id'], 'https://weir.dev/schema/weir.schema.json');
  assert.deepEqual(schema['required'], ['services', 'routes']);
  assert.equal(renderJsonSchema().includes('Symbol('), false);
});
