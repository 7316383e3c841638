import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { renderAdminApiDoc } from './render.js';

test('docs/admin-api.md is what the operations generate (run `npm run docs` after changing one)', async () => {
  const committed = await readFile(new URL('../../docs/admin-api.md', import.meta.url), 'utf8');
  assert.ok(committed === renderAdminApiDoc(), 'docs/admin-api.md is stale: run `npm run docs`');
});
