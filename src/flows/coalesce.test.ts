import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CallCoalescer, coalescing, coalescingKey } from './coalesce.js';
import { contextOf, fakeService, flowOf, forEachStep, httpStep } from './fixtures.case.js';
import { planFlow } from './plan.js';
import { CallError, runFlow, type ResolvedCall } from './run.js';

const get = (path: string, headers: Record<string, string> = {}): ResolvedCall => ({ service: 'orders', method: 'GET', path, headers, body: undefined });

/** Settles `promise` into a value or an error, for asserting on both. */
const settle = <T>(promise: Promise<T>) => promise.then((value) => ({ value }), (error: unknown) => ({ error }));

describe('coalescing', () => {
  it('sends one request for identical calls in flight together; every caller gets the answer', async () => {
    const fake = fakeService(() => ({ delayMs: 30, body: { id: 1, items: [{ n: 1 }] } }));
    const call = coalescing(fake.callService);
    const [a, b] = await Promise.all([call(get('/orders/1'), new AbortController().signal), call(get('/orders/1'), new AbortController().signal)]);
    assert.equal(fake.calls.length, 1);
    assert.deepEqual(a.body, { id: 1, items: [{ n: 1 }] });
    assert.equal(b.body, a.body, 'the same answer, not a copy');
    assert.equal(a.coalesced, undefined);
    assert.equal(b.coalesced, true);
    // Shared, so nobody may change it under the others.
    assert.ok(Object.isFrozen(a.body) && Object.isFrozen((a.body as { items: object[] }).items[0]) && Object.isFrozen(a.headers));
    assert.throws(() => ((a.body as { id: number }).id = 2), TypeError);
  });

  it('shares across wrappers of one coalescer (concurrent flows), not across coalescers', async () => {
    const fake = fakeService(() => ({ delayMs: 30 }));
    const table = new CallCoalescer();
    const first = coalescing(fake.callService, table);
    const second = coalescing(fake.callService, table);
    const other = coalescing(fake.callService);
    await Promise.all([first(get('/o'), new AbortController().signal), second(get('/o'), new AbortController().signal), other(get('/o'), new AbortController().signal)]);
    assert.equal(fake.calls.length, 2);
    assert.equal(table.inFlight, 0, 'the table empties when the request settles');
  });

  it('does not share between different headers, paths, services or methods, nor with a body', async () => {
    const fake = fakeService(() => ({ delayMs: 20 }));
    const call = coalescing(fake.callService);
    const signal = new AbortController().signal;
    await Promise.all([
      call(get('/o', { authorization: 'Bearer alice' }), signal),
      call(get('/o', { authorization: 'Bearer bob' }), signal),
      call(get('/o?page=2', { authorization: 'Bearer bob' }), signal),
      call({ ...get('/o', { authorization: 'Bearer bob' }), service: 'other' }, signal),
      call({ ...get('/o', { authorization: 'Bearer bob' }), method: 'HEAD' }, signal),
      call({ ...get('/o'), method: 'POST', body: { a: 1 } }, signal),
      call({ ...get('/o'), method: 'POST', body: { a: 1 } }, signal),
    ]);
    assert.equal(fake.calls.length, 7);
    assert.equal(coalescingKey({ ...get('/o'), method: 'PUT' }), undefined);
    assert.equal(coalescingKey(get('/o', { a: '1', b: '2' })), coalescingKey(get('/o', { b: '2', a: '1' })), 'header order does not matter');
  });

  it('does not cache: a call after the answer makes a new request', async () => {
    const fake = fakeService(() => ({ delayMs: 5 }));
    const call = coalescing(fake.callService);
    await call(get('/o'), new AbortController().signal);
    await call(get('/o'), new AbortController().signal);
    assert.equal(fake.calls.length, 2);
  });

  it('gives every waiter the failure of the shared request', async () => {
    const fake = fakeService(() => ({ delayMs: 20, error: new CallError('WEIR_UPSTREAM_ERROR', 'reset', true) }));
    const call = coalescing(fake.callService);
    const results = await Promise.all([settle(call(get('/o'), new AbortController().signal)), settle(call(get('/o'), new AbortController().signal))]);
    assert.equal(fake.calls.length, 1);
    for (const r of results) assert.equal((r as { error: CallError }).error.code, 'WEIR_UPSTREAM_ERROR');
  });

  it('a waiter that aborts stops waiting, but the request goes on for the others', async () => {
    const fake = fakeService(() => ({ delayMs: 60, body: { ok: true } }));
    const call = coalescing(fake.callService);
    const leaver = new AbortController();
    const first = settle(call(get('/o'), leaver.signal));
    const second = settle(call(get('/o'), new AbortController().signal));
    setTimeout(() => leaver.abort(new Error('client went away')), 10);
    const t0 = performance.now();
    const left = await first;
    assert.ok(performance.now() - t0 < 40, 'the aborting caller did not wait for the answer');
    assert.match(String((left as { error: Error }).error), /client went away/);
    assert.deepEqual((await second as { value: { body: unknown } }).value.body, { ok: true });
    assert.equal(fake.calls.length, 1);
    assert.equal(fake.calls[0]!.aborted, false);
  });

  it('aborts the request when every waiter has aborted, and the next caller starts afresh', async () => {
    const fake = fakeService(() => ({ delayMs: 60 }));
    const table = new CallCoalescer();
    const call = coalescing(fake.callService, table);
    const one = new AbortController();
    const two = new AbortController();
    const results = [settle(call(get('/o'), one.signal)), settle(call(get('/o'), two.signal))];
    setTimeout(() => one.abort(new Error('one')), 5);
    setTimeout(() => two.abort(new Error('two')), 15);
    await Promise.all(results);
    assert.equal(fake.calls.length, 1);
    assert.equal(fake.calls[0]!.aborted, true);
    assert.equal(table.inFlight, 0);
    await call(get('/o'), new AbortController().signal);
    assert.equal(fake.calls.length, 2);
    assert.equal(fake.calls[1]!.aborted, false);
  });

  it('refuses a call whose signal already aborted, without a request', async () => {
    const fake = fakeService(() => ({}));
    const call = coalescing(fake.callService);
    await assert.rejects(call(get('/o'), AbortSignal.abort(new Error('gone'))), /gone/);
    assert.equal(fake.calls.length, 0);
  });
});

describe('coalescing in flows', () => {
  it('two concurrent flows share the identical lookup; the joiner records it', async () => {
    const fake = fakeService((call) => ({ delayMs: 40, body: { id: call.path.split('/')[2] } }));
    const table = new CallCoalescer();
    const plan = planFlow(flowOf([httpStep('order', 'orders', '/orders/{{ request.params.id }}')], '{{ steps.order.body.id }}'));
    const runOne = () => runFlow(plan, contextOf({ params: { id: '7' } }), coalescing(fake.callService, table), { timeoutMs: 1000 });
    const [a, b] = await Promise.all([runOne(), runOne()]);
    assert.deepEqual([a.body, b.body], ['7', '7']);
    assert.equal(fake.calls.length, 1);
    assert.deepEqual([a.records[0]!.coalesced, b.records[0]!.coalesced], [undefined, 1]);
    assert.deepEqual([a.records[0]!.calls, b.records[0]!.calls], [1, 1]);
  });

  it('a fan-out over repeated ids makes one request per distinct id', async () => {
    const fake = fakeService(() => ({ delayMs: 30 }));
    const plan = planFlow(flowOf([forEachStep('p', 'request.body', 'catalog', '/products/{{ item }}', { concurrency: 10 })], '{{ steps.p[*].body.path }}'));
    const outcome = await runFlow(plan, contextOf({ body: [1, 2, 1, 1, 2, 3] }), coalescing(fake.callService), { timeoutMs: 1000 });
    assert.deepEqual(outcome.body, ['/products/1', '/products/2', '/products/1', '/products/1', '/products/2', '/products/3']);
    assert.equal(fake.calls.length, 3);
    assert.deepEqual([outcome.records[0]!.calls, outcome.records[0]!.coalesced], [6, 3]);
  });

  it('a flow that fails does not cancel the request another flow still waits for', async () => {
    const fake = fakeService((call) => (call.service === 'auth' ? { delayMs: 5, status: 500 } : { delayMs: 50, body: { id: 1 } }));
    const table = new CallCoalescer();
    const failing = planFlow(flowOf([httpStep('order', 'orders', '/orders/1'), httpStep('auth', 'auth', '/verify')]));
    const fine = planFlow(flowOf([httpStep('order', 'orders', '/orders/1')], '{{ steps.order.body }}'));
    const [bad, good] = await Promise.all([
      runFlow(failing, contextOf(), coalescing(fake.callService, table), { timeoutMs: 1000 }),
      runFlow(fine, contextOf(), coalescing(fake.callService, table), { timeoutMs: 1000 }),
    ]);
    assert.equal(bad.status, 502);
    assert.deepEqual([good.ok, good.body], [true, { id: 1 }]);
    assert.deepEqual(fake.to('orders').map((c) => c.aborted), [false]);
  });
});
