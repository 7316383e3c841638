import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delay, sendJson, startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

/**
 * Per-step timeouts, retries and the service's circuit breaker, against a real upstream whose
 * behaviour each test sets: `/slow` answers after 300 ms, `/flaky` fails with 503 `failures`
 * times then answers, `/broken` always answers 500.
 */
describe('step timeouts, retries and breakers against real upstreams', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  const state = { failures: 0 };

  before(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => sendJson(res, 200, { slow: true }), 300);
      if (req.url === '/flaky' && state.failures > 0) {
        state.failures--;
        return sendJson(res, 503, {});
      }
      if (req.url === '/broken') return sendJson(res, 500, {});
      if (req.url === '/garbled') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 9 });
        return void res.end('{"half": ');
      }
      sendJson(res, 200, { ok: req.url });
    });
    const quiet = 'retries: { attempts: 0 }, healthCheck: { passive: false }';
    weir = await startWeir(`
services:
  plain: { targets: [{ url: ${upstream.url} }], ${quiet}, circuitBreaker: false }
  guarded: { targets: [{ url: ${upstream.url} }], ${quiet}, circuitBreaker: { failureThreshold: 2, openFor: 1m } }
  garbling: { targets: [{ url: ${upstream.url} }], ${quiet}, circuitBreaker: { failureThreshold: 2, openFor: 1m } }
routes: []
flows:
  - name: timeout
    path: /timeout
    steps:
      slow: { service: plain, path: /slow, timeout: 50ms, retry: { attempts: 1, backoff: { initial: 1ms, max: 1ms } } }
    response: "{{ steps.slow.body }}"
  - name: retry-get
    path: /retry-get
    steps:
      flaky: { service: plain, path: /flaky, retry: { attempts: 2, backoff: { initial: 1ms, max: 5ms }, onStatuses: [503] } }
    response: "{{ steps.flaky.body }}"
  - name: retry-post
    method: POST
    path: /retry-post
    idempotency: false
    steps:
      flaky: { service: plain, method: POST, path: /flaky, retry: { attempts: 2, backoff: { initial: 1ms, max: 5ms }, onStatuses: [503] } }
    response: "{{ steps.flaky.body }}"
  - name: garbled
    path: /garbled
    steps:
      g: { service: garbling, path: /garbled, optional: true }
    response: "{{ steps.g }}"
  - name: breaker
    path: /breaker
    steps:
      broken: { service: guarded, path: /broken, fallback: { from: fallback } }
    response: "{{ steps.broken }}"
`);
  });

  beforeEach(() => {
    upstream.requests.length = 0;
    state.failures = 0;
  });

  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('gives each try its own timeout, retries a timed-out GET, then fails the step', async () => {
    const res = await call(`${weir.url}/timeout`);
    assert.equal(res.status, 502);
    const problem = res.json();
    assert.equal(problem.errors[0].code, 'WEIR_UPSTREAM_TIMEOUT');
    assert.match(problem.errors[0].message, /did not answer within 50 ms/);
    assert.equal(upstream.requests.length, 2, 'the first try and one retry');
    // Each try was cut off at its timeout: once the upstream's 300 ms have passed, neither answer was delivered.
    await delay(400);
    assert.deepEqual(upstream.requests.map((r) => r.endedAt), [0, 0], 'both connections were closed before the upstream answered');
  });

  it('retries a listed status for a GET until it succeeds', async () => {
    state.failures = 2;
    const res = await call(`${weir.url}/retry-get`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { ok: '/flaky' });
    assert.equal(upstream.requests.length, 3);
    assert.match(String(res.headers['server-timing']), /flaky;dur=[\d.]+;desc="ok 200"/);
  });

  it('does not retry a POST the step did not declare idempotent', async () => {
    state.failures = 2;
    const res = await call(`${weir.url}/retry-post`, { method: 'POST' });
    assert.equal(res.status, 502);
    assert.equal(upstream.requests.length, 1);
  });

  it('stops calling a service whose breaker opened, and the step falls back', async () => {
    for (let i = 0; i < 2; i++) {
      const res = await call(`${weir.url}/breaker`);
      assert.deepEqual(res.json(), { from: 'fallback', _errors: [{ step: 'broken', code: 'WEIR_STEP_FAILED', message: 'step "broken": GET /broken on service "guarded" answered 500' }] });
    }
    assert.equal(upstream.requests.length, 2);
    const open = await call(`${weir.url}/breaker`);
    assert.equal(open.status, 200);
    assert.equal(open.json()._errors[0].code, 'WEIR_CIRCUIT_OPEN');
    assert.equal(open.headers['weir-failed-steps'], 'broken');
    assert.equal(upstream.requests.length, 2, 'the open breaker kept the call from the upstream');
  });

  it('counts an answer that says JSON but does not parse against the target, so its breaker can open', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await call(`${weir.url}/garbled`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['weir-failed-steps'], 'g');
    }
    assert.equal(upstream.requests.filter((r) => r.url === '/garbled').length, 2, 'the open breaker kept the third call from the upstream');
  });
});
