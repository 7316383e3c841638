import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir } from '../../../../test/support/weir.js';

describe('respond plugin', () => {
  it('answers the route itself with problem+json for the code, never calling the upstream', async () => {
    const upstream = await startUpstream();
    const weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - path: /old/*
    service: s
    plugins: [{ name: respond, config: { code: WEIR_API_RETIRED, detail: "use /new" } }]
  - { path: /new/*, service: s }
`);
    try {
      const res = await call(`${weir.url}/old/thing`);
      assert.equal(res.status, 410);
      assert.match(String(res.headers['content-type']), /application\/problem\+json/);
      assert.equal(res.json().code, 'WEIR_API_RETIRED');
      assert.equal(res.json().detail, 'use /new');
      assert.equal(res.json().requestId, res.headers['x-request-id']);
      assert.equal(upstream.requests.length, 0);
      assert.equal((await call(`${weir.url}/new/thing`)).status, 200);
    } finally {
      await weir.close();
      await upstream.close();
    }
  });

  it('refuses a code Weir does not have, with the line', () => {
    const problems = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: respond, config: { code: WEIR_NOPE } }]
`);
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/plugins/0/config/code')), problems.join('\n'));
  });
});
