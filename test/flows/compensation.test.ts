import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream, sendJson } from '../support/upstream.js';
import { call, configProblems, startWeir, withFlows, type TestWeir } from '../support/weir.js';

/**
 * A travel-like backend: POST /bookings and POST /holds succeed (holds after 40 ms, so the
 * booking finishes first), POST /payments answers what `payment` says, DELETE undoes; the
 * `undo` setting makes DELETE /bookings/* fail to prove failed compensations are reported.
 */
describe('compensation (sagas)', () => {
  let backend: TestUpstream;
  let weir: TestWeir;
  const state = { payment: 200, paymentDelayMs: 0, undo: 200 };

  before(async () => {
    backend = await startUpstream((req, res) => {
      const url = req.url!;
      if (req.method === 'POST' && url === '/bookings') return sendJson(res, 201, { id: 'b-1' });
      if (req.method === 'POST' && url === '/holds') return void setTimeout(() => sendJson(res, 201, { id: 'h-9' }), 40);
      if (req.method === 'POST' && url === '/payments') return void setTimeout(() => sendJson(res, state.payment, state.payment < 300 ? { id: 'pay-1' } : { error: 'declined' }), state.paymentDelayMs);
      if (req.method === 'DELETE' && url.startsWith('/bookings/')) return sendJson(res, state.undo, {});
      if (req.method === 'DELETE' && url.startsWith('/holds/')) return sendJson(res, 200, {});
      sendJson(res, 404, {});
    });
    weir = await startWeir(`
services:
  backend: { targets: [{ url: ${backend.url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: book
    method: POST
    path: /book
    timeout: 500ms
    idempotency: false
    steps:
      booking:
        service: backend
        method: POST
        path: /bookings
        compensate: { method: DELETE, path: "/bookings/{{ steps.booking.body.id }}", retry: { attempts: 2, backoff: { initial: 1ms, max: 5ms } } }
      hold:
        service: backend
        method: POST
        path: /holds
        compensate: { method: DELETE, path: "/holds/{{ steps.hold.body.id }}" }
      payment:
        service: backend
        method: POST
        path: /payments
        body: { booking: "{{ steps.booking.body.id }}", hold: "{{ steps.hold.body.id }}" }
        compensate: { method: POST, path: /refunds }
    response: { booking: "{{ steps.booking.body.id }}", payment: "{{ steps.payment.body.id }}" }
`);
  });

  beforeEach(() => {
    backend.requests.length = 0;
    Object.assign(state, { payment: 200, paymentDelayMs: 0, undo: 200 });
  });

  after(async () => {
    await weir.close();
    await backend.close();
  });

  const book = () => call(`${weir.url}/book`, { method: 'POST' });
  const seen = () => backend.requests.map((r) => `${r.method} ${r.url}`);

  it('undoes nothing when the flow succeeds', async () => {
    const res = await book();
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { booking: 'b-1', payment: 'pay-1' });
    assert.ok(!seen().some((s) => s.startsWith('DELETE')));
  });

  it('undoes the finished steps, last finished first, after the failure, and says so', async () => {
    state.payment = 402;
    const res = await book();
    assert.equal(res.status, 402, "the upstream refusal is passed on");
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_STEP_FAILED');
    assert.equal(problem.failedStep, 'payment');
    assert.deepEqual(
      problem.compensations.map((c: { step: string; status: string }) => [c.step, c.status]),
      [['hold', 'compensated'], ['booking', 'compensated']],
    );
    assert.match(problem.detail, /undone: "hold", "booking"/);
    // The hold finished after the booking, so it is undone first; the failed payment is not "undone".
    assert.deepEqual(seen().slice(3), ['DELETE /holds/h-9', 'DELETE /bookings/b-1']);
    const payment = backend.requests.find((r) => r.url === '/payments')!;
    const firstUndo = backend.requests.find((r) => r.method === 'DELETE')!;
    assert.ok(firstUndo.startedAt >= payment.endedAt, 'compensation starts after the failure is known');
    assert.match(String(res.headers['server-timing']), /hold\.compensate;dur=[\d.]+;desc="ok 200"/);
  });

  it('compensates when the flow runs out of time, too', async () => {
    state.paymentDelayMs = 1000;
    const res = await book();
    assert.equal(res.status, 504);
    assert.equal(res.json().code, 'WEIR_FLOW_TIMEOUT');
    assert.deepEqual(seen().filter((s) => s.startsWith('DELETE')), ['DELETE /holds/h-9', 'DELETE /bookings/b-1']);
  });

  it('retries a failing compensation, then reports it (502 WEIR_COMPENSATION_FAILED, error log) and still undoes the rest', async () => {
    state.payment = 500;
    state.undo = 500;
    const logsBefore = weir.logs.length;
    const res = await book();
    assert.equal(res.status, 502);
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_COMPENSATION_FAILED');
    assert.match(problem.detail, /NOT undone: "booking"/);
    const booking = problem.compensations.find((c: { step: string }) => c.step === 'booking');
    assert.equal(booking.status, 'failed');
    assert.equal(booking.attempts, 3);
    assert.equal(seen().filter((s) => s === 'DELETE /bookings/b-1').length, 3, 'first try + 2 retries');
    assert.ok(seen().includes('DELETE /holds/h-9'), 'the other step is still undone');
    const alert = weir.logs.slice(logsBefore).find((l) => l['msg'] === 'compensation failed: a finished step of a failed flow was NOT undone');
    assert.ok(alert, 'an error line for the operator');
    assert.equal(alert['level'], 50);
    assert.deepEqual(alert['call'], { service: 'backend', method: 'DELETE', path: '/bookings/b-1' });
  });

  it('refuses compensate on a forEach step and unknown steps in a compensation, with lines', () => {
    const messages = configProblems(
      withFlows(`  - path: /x
    steps:
      each:
        forEach: request.body
        service: s
        path: /e/{{ item }}
        compensate: { path: /undo }
    response: 1
  - path: /y
    steps:
      one:
        service: s
        path: /one
        compensate: { method: DELETE, path: "/one/{{ steps.nope.body.id }}" }
    response: 1
`),
    );
    assert.ok(messages.some((m) => /^11: \/flows\/0\/steps\/each\/compensate: "compensate" belongs to http steps/.test(m)), messages.join('\n'));
    assert.ok(messages.some((m) => /^18: \/flows\/1\/steps\/one\/compensate\/path: the compensation of step "one" reads steps.nope/.test(m)), messages.join('\n'));
  });
});
