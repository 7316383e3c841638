import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sendJson, startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../support/weir.js';

/**
 * global.masking on a real Weir: a flow whose compensation fails logs the exact call it could not
 * make (for an operator to finish by hand) — with the card number and the token in its path masked.
 */
describe('global.masking: what Weir logs', () => {
  let backend: TestUpstream;
  let weir: TestWeir;
  const config = (masking: string) => `
global:
${masking}
services:
  billing: { targets: [{ url: ${backend.url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: charge
    method: POST
    path: /charge
    idempotency: false
    steps:
      hold:
        service: billing
        method: POST
        path: /holds
        compensate: { method: DELETE, path: "/cards/{{ request.body.card }}/holds", query: { token: "{{ request.body.token }}", owner: "{{ request.body.owner }}" } }
      capture:
        service: billing
        method: POST
        path: /captures
        body: { hold: "{{ steps.hold.body.id }}" }
    response: { ok: true }
`;

  before(async () => {
    backend = await startUpstream((req, res) => {
      if (req.method === 'POST' && req.url === '/holds') return sendJson(res, 201, { id: 'h-1' });
      if (req.method === 'POST' && req.url === '/captures') return sendJson(res, 402, { error: 'declined' });
      sendJson(res, 500, { error: 'undo failed' });
    });
    weir = await startWeir(
      config(`  masking:
    rules:
      - { detector: card, style: partial }
      - { regex: "owner=(\\\\w+)" }`),
    );
  });

  after(async () => {
    await weir.close();
    await backend.close();
  });

  const charge = () =>
    call(`${weir.url}/charge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ card: '4111111111111111', token: 'tok-secret-1', owner: 'ada' }) });
  const alertAfter = (from: number) => weir.logs.slice(from).find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('compensation failed'));

  it('masks the failed compensation call in the log line: card by the rules, token as a credential', async () => {
    const from = weir.logs.length;
    const res = await charge();
    assert.equal(res.status, 502, 'WEIR_COMPENSATION_FAILED');
    assert.ok(backend.requests.some((r) => r.method === 'DELETE' && r.url === '/cards/4111111111111111/holds?token=tok-secret-1&owner=ada'), 'the upstream got the real call');
    const alert = alertAfter(from);
    assert.ok(alert, 'the compensation failure is logged');
    assert.deepEqual(alert['call'], { service: 'billing', method: 'DELETE', path: '/cards/************1111/holds?token=***&owner=****' });
    const raw = JSON.stringify(weir.logs.slice(from));
    assert.equal(raw.includes('4111111111111111'), false);
    assert.equal(raw.includes('tok-secret-1'), false);
  });

  it('follows the config version: without global.masking only the credential is redacted', async () => {
    await weir.rewrite(config('  listen: { port: 0 }'));
    const from = weir.logs.length;
    await charge();
    assert.deepEqual(alertAfter(from)!['call'], { service: 'billing', method: 'DELETE', path: '/cards/4111111111111111/holds?token=***&owner=ada' });
  });

  it('refuses bad global.masking rules at load, with their lines', () => {
    const problems = configProblems(`global:
  masking:
    redactHeaders: [x-session]
    rules:
      - { detector: e-mail }
      - { path: "$.a[?(@.b)]" }
services: {}
routes: []
`);
    assert.deepEqual(problems, [
      '5: /global/masking/rules/0/detector: unknown detector "e-mail"; did you mean "email"?',
      '6: /global/masking/rules/1/path: invalid JSON path: expected [n], [*] or [\'name\'] at position 3 of "$.a[?(@.b)]"',
    ]);
  });
});
