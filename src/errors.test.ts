import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS, problemFor } from './errors.js';

describe('error table', () => {
  it('is documented in docs/errors.md exactly', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('<!-- errors-table:start -->'), doc.indexOf('<!-- errors-table:end -->'));
    const rows = [...table.matchAll(/^\| `(WEIR_\w+)` \| (\d{3}) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
    assert.deepEqual(rows, Object.entries(ERRORS).map(([code, e]) => [code, e.status, e.title]));
  });

  it('renders RFC 9457 problems', () => {
    assert.deepEqual(problemFor('WEIR_NO_ROUTE', 'no route matches GET /x', 'id-1', '/x'), {
      type: 'https://weir.dev/errors#WEIR_NO_ROUTE',
      title: 'No route matches this request',
      status: 404,
      code: 'WEIR_NO_ROUTE',
      detail: 'no route matches GET /x',
      instance: '/x',
      requestId: 'id-1',
    });
  });
});
