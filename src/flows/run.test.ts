import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { contextOf, fakeService, flowOf, forEachStep, httpStep, transformStep, type SeenCall } from './fixtures.case.js';
import { planFlow } from './plan.js';
import { CallError, runFlow, type FlowOutcome } from './run.js';
import type { FlowContext, Step } from './types.js';

const RETRY = { attempts: 2, initialBackoffMs: 1, maxBackoffMs: 5, onStatuses: [503] };

function run(steps: Step[], service: ReturnType<typeof fakeService>, options: { response?: unknown; ctx?: FlowContext; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<FlowOutcome> {
  const plan = planFlow(flowOf(steps, options.response ?? null));
  return runFlow(plan, options.ctx ?? contextOf(), service.callService, { timeoutMs: options.timeoutMs ?? 5000, ...(options.signal && { signal: options.signal }) });
}

/** The one call made to `service`. */
function only(fake: ReturnType<typeof fakeService>, service: string): SeenCall & { end: number } {
  const calls = fake.to(service);
  assert.equal(calls.length, 1, `calls to ${service}`);
  assert.notEqual(calls[0]!.end, undefined);
  return calls[0] as SeenCall & { end: number };
}

const overlap = (x: SeenCall & { end: number }, y: SeenCall & { end: number }) => x.start < y.end && y.start < x.end;

describe('runFlow scheduling', () => {
  it('starts a step when what it reads exists, and independent steps at once', async () => {
    const fake = fakeService((call) => (call.service === 'a' ? { delayMs: 40, body: { id: 'u-1' } } : { delayMs: 40 }));
    const outcome = await run(
      [httpStep('a', 'a', '/a'), httpStep('b', 'b', '/b/{{ steps.a.body.id }}'), httpStep('c', 'c', '/c')],
      fake,
      { response: { b: '{{ steps.b.body.path }}' } },
    );
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.body, { b: '/b/u-1' });
    const [a, b, c] = [only(fake, 'a'), only(fake, 'b'), only(fake, 'c')];
    assert.ok(b.start >= a.end, 'b waited for a');
    assert.ok(overlap(a, c), 'c ran alongside a');
  });

  it('runs a diamond A → (B, C) → D with B and C together and D right after both', async () => {
    const delays: Record<string, number> = { A: 30, B: 40, C: 50, D: 10, E: 150 };
    const fake = fakeService((call) => ({ delayMs: delays[call.service]! }));
    const outcome = await run(
      [
        httpStep('A', 'A', '/a'),
        httpStep('B', 'B', '/b/{{ steps.A.status }}'),
        httpStep('C', 'C', '/c/{{ steps.A.status }}'),
        httpStep('D', 'D', '/d/{{ steps.B.status }}/{{ steps.C.status }}'),
        // An unrelated slow step: D must not wait for it (no level-by-level barrier).
        httpStep('E', 'E', '/e'),
      ],
      fake,
    );
    assert.equal(outcome.ok, true);
    const [A, B, C, D, E] = ['A', 'B', 'C', 'D', 'E'].map((s) => only(fake, s)) as Array<SeenCall & { end: number }>;
    assert.ok(B!.start >= A!.end && C!.start >= A!.end, 'B and C waited for A');
    assert.ok(overlap(B!, C!), 'B and C overlapped');
    assert.ok(D!.start >= Math.max(B!.end, C!.end), 'D waited for B and C');
    assert.ok(D!.start < E!.end, 'D did not wait for E');
    const records = Object.fromEntries(outcome.records.map((r) => [r.name, r]));
    assert.ok(records.D!.startMs >= records.C!.startMs + records.C!.durationMs - 1);
    assert.deepEqual(outcome.records.map((r) => [r.name, r.status, r.calls, r.httpStatus]), [
      ['A', 'ok', 1, 200],
      ['E', 'ok', 1, 200],
      ['B', 'ok', 1, 200],
      ['C', 'ok', 1, 200],
      ['D', 'ok', 1, 200],
    ]);
  });

  it('fans out with at most `concurrency` calls in flight, results in item order', async () => {
    // Later items answer sooner, so completion order differs from item order.
    const fake = fakeService((call) => ({ delayMs: 5 + (10 - Number.parseInt(call.path.split('/')[2]!, 10)) * 3 }));
    const ctx = contextOf({ body: { ids: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] } });
    const outcome = await run(
      [forEachStep('items', 'request.body.ids', 'svc', '/items/{{ each }}', { as: 'each', concurrency: 3, call: { query: { at: '{{ index }}' } } })],
      fake,
      { ctx, response: '{{ steps.items[*].body.path }}' },
    );
    assert.equal(outcome.ok, true);
    assert.equal(fake.calls.length, 10);
    assert.equal(fake.maxInFlight, 3);
    const byEnd = [...fake.calls].sort((x, y) => x.end! - y.end!).map((c) => c.call.path);
    assert.notDeepEqual(byEnd, fake.calls.map((c) => c.call.path), 'items answered out of order');
    assert.deepEqual(outcome.body, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `/items/${i}?at=${i}`));
    assert.equal(outcome.records[0]!.calls, 10);
  });

  it('skips a step whose when is false; dependents see null', async () => {
    const fake = fakeService(() => ({}));
    const outcome = await run(
      [httpStep('maybe', 'svc', '/maybe', { when: 'request.query.include' }), transformStep('after', { got: '{{ steps.maybe }}', isNull: '{{ steps.maybe == `null` }}' })],
      fake,
      { response: '{{ steps.after }}' },
    );
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.body, { got: null, isNull: true });
    assert.equal(fake.calls.length, 0);
    assert.equal(outcome.records[0]!.status, 'skipped');
  });

  it('an optional step that fails yields its fallback, is listed, and the flow goes on', async () => {
    const fake = fakeService((call) => (call.service === 'recs' ? { status: 500 } : call.service === 'ads' ? { status: 503 } : {}));
    const outcome = await run(
      [
        httpStep('recs', 'recs', '/recs', { fallback: { items: [] } }),
        httpStep('ads', 'ads', '/ads', { optional: true }),
        transformStep('page', { recs: '{{ steps.recs.items }}', ads: '{{ steps.ads }}' }),
      ],
      fake,
      { response: '{{ steps.page }}' },
    );
    assert.equal(outcome.ok, true);
    assert.equal(outcome.status, 200);
    assert.deepEqual(outcome.body, { recs: [], ads: null });
    assert.deepEqual(outcome.errors.map((e) => [e.step, e.code]), [['recs', 'WEIR_STEP_FAILED'], ['ads', 'WEIR_STEP_FAILED']]);
    assert.match(outcome.errors[0]!.message, /answered 500/);
    assert.deepEqual(outcome.records.map((r) => [r.name, r.status, r.httpStatus]), [['recs', 'failed', 500], ['ads', 'failed', 503], ['page', 'ok', undefined]]);
  });

  it('a required step that fails ends the flow at once with 502 and aborts its siblings', async () => {
    const fake = fakeService((call) => (call.service === 'auth' ? { delayMs: 10, status: 500 } : { delayMs: 300 }));
    const outcome = await run(
      [httpStep('auth', 'auth', '/auth'), httpStep('slow', 'slow', '/slow'), httpStep('orders', 'orders', '/o/{{ steps.auth.body.id }}')],
      fake,
    );
    // Did not wait for the slow sibling: its call was aborted rather than answered.
    assert.equal(outcome.ok, false);
    assert.equal(outcome.status, 502);
    assert.equal(outcome.code, 'WEIR_STEP_FAILED');
    assert.equal(outcome.failedStep, 'auth');
    assert.deepEqual(outcome.errors.map((e) => [e.step, e.code]), [['auth', 'WEIR_STEP_FAILED']]);
    assert.equal(only(fake, 'slow').aborted, true);
    assert.equal(fake.to('orders').length, 0);
    assert.deepEqual(outcome.records.map((r) => [r.name, r.status]), [['auth', 'failed'], ['slow', 'cancelled'], ['orders', 'not-started']]);
  });

  it('a failing item fails its forEach step and aborts the items in flight', async () => {
    const fake = fakeService((call) => (call.path === '/i/2' ? { delayMs: 10, status: 404 } : { delayMs: 200 }));
    const outcome = await run([forEachStep('each', 'request.body', 'svc', '/i/{{ item }}', { concurrency: 3 })], fake, { ctx: contextOf({ body: [1, 2, 3, 4, 5] }) });
    assert.equal(outcome.status, 502);
    assert.match(outcome.errors[0]!.message, /item 1: .*answered 404/);
    assert.deepEqual(fake.calls.map((c) => [c.call.path, c.aborted]), [['/i/1', true], ['/i/2', false], ['/i/3', true]]);
    assert.equal(outcome.records[0]!.httpStatus, 404);
  });

  it('fails a forEach whose items are not an array', async () => {
    const outcome = await run([forEachStep('each', 'request.body', 'svc', '/i/{{ item }}')], fakeService(() => ({})), { ctx: contextOf({ body: { not: 'a list' } }) });
    assert.equal(outcome.status, 502);
    assert.match(outcome.errors[0]!.message, /is an object, not an array/);
  });
});

describe('runFlow deadlines', () => {
  it('a step timeout aborts the call and fails the step', async () => {
    const fake = fakeService(() => ({ delayMs: 300 }));
    const outcome = await run([httpStep('slow', 'svc', '/slow', { timeoutMs: 30, optional: true })], fake);
    assert.ok(outcome.records[0]!.durationMs >= 25, 'the step ran until its timeout');
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.errors.map((e) => e.code), ['WEIR_UPSTREAM_TIMEOUT']);
    assert.equal(only(fake, 'svc').aborted, true);
  });

  it('the flow deadline aborts everything in flight and answers 504', async () => {
    const fake = fakeService(() => ({ delayMs: 300 }));
    const outcome = await run([httpStep('a', 'a', '/a'), httpStep('b', 'b', '/b/{{ steps.a.status }}')], fake, { timeoutMs: 60 });
    assert.ok(outcome.records[0]!.durationMs >= 55, 'a ran until the deadline');
    assert.equal(outcome.status, 504);
    assert.equal(outcome.code, 'WEIR_FLOW_TIMEOUT');
    assert.match(outcome.errors[0]!.message, /still running: "a"/);
    assert.equal(only(fake, 'a').aborted, true);
    assert.deepEqual(outcome.records.map((r) => [r.name, r.status, r.error?.code]), [['a', 'cancelled', 'WEIR_FLOW_TIMEOUT'], ['b', 'not-started', undefined]]);
  });

  it('the caller giving up aborts the flow', async () => {
    const fake = fakeService(() => ({ delayMs: 300 }));
    const outcome = await run([httpStep('a', 'a', '/a')], fake, { signal: AbortSignal.timeout(30) });
    assert.equal(outcome.code, 'WEIR_FLOW_CANCELLED');
    assert.equal(only(fake, 'a').aborted, true);
  });
});

describe('runFlow retries', () => {
  const flaky = (failures: number, reply: { status?: number; error?: CallError }) => fakeService((_, attempt) => (attempt < failures ? { delayMs: 1, ...reply } : { delayMs: 1 }));
  const retryable = new CallError('WEIR_UPSTREAM_ERROR', 'connection reset', true);

  it('retries a retryable CallError', async () => {
    const fake = flaky(2, { error: retryable });
    const outcome = await run([httpStep('a', 'svc', '/a', { retry: RETRY })], fake);
    assert.equal(outcome.ok, true);
    assert.equal(fake.calls.length, 3);
    assert.equal(outcome.records[0]!.calls, 3);
  });

  it('retries a listed status, not others, and gives up after the attempts', async () => {
    const listed = flaky(2, { status: 503 });
    assert.equal((await run([httpStep('a', 'svc', '/a', { retry: RETRY })], listed)).ok, true);
    assert.equal(listed.calls.length, 3);

    const unlisted = flaky(2, { status: 500 });
    assert.equal((await run([httpStep('a', 'svc', '/a', { retry: RETRY })], unlisted)).ok, false);
    assert.equal(unlisted.calls.length, 1);

    const always = flaky(99, { status: 503 });
    const outcome = await run([httpStep('a', 'svc', '/a', { retry: RETRY })], always);
    assert.equal(outcome.status, 502);
    assert.equal(always.calls.length, 3);
  });

  it('does not retry a non-retryable CallError', async () => {
    const fake = flaky(1, { error: new CallError('WEIR_CIRCUIT_OPEN', 'open', false) });
    const outcome = await run([httpStep('a', 'svc', '/a', { retry: RETRY })], fake);
    assert.deepEqual(outcome.errors.map((e) => e.code), ['WEIR_CIRCUIT_OPEN']);
    assert.equal(fake.calls.length, 1);
  });

  it('retries POST only when the step is marked idempotent', async () => {
    const post = flaky(1, { error: retryable });
    assert.equal((await run([httpStep('a', 'svc', '/a', { retry: RETRY, call: { method: 'POST' } })], post)).ok, false);
    assert.equal(post.calls.length, 1);

    const vouched = flaky(1, { error: retryable });
    assert.equal((await run([httpStep('a', 'svc', '/a', { retry: RETRY, idempotent: true, call: { method: 'POST' } })], vouched)).ok, true);
    assert.equal(vouched.calls.length, 2);
  });

  it('retries a step timeout as a fresh try', async () => {
    const fake = fakeService((_, attempt) => ({ delayMs: attempt === 0 ? 200 : 1 }));
    const outcome = await run([httpStep('a', 'svc', '/a', { retry: RETRY, timeoutMs: 30 })], fake);
    assert.equal(outcome.ok, true);
    assert.deepEqual(fake.calls.map((c) => c.aborted), [true, false]);
  });
});

describe('runFlow input and templates', () => {
  it('sends values in the path as one segment, and the query encoded', async () => {
    const fake = fakeService(() => ({}));
    const ctx = contextOf({ params: { id: '../admin?x=1' }, query: { tag: ['a b', 'c&d'] } });
    await run([httpStep('a', 'svc', '/users/{{ request.params.id }}', { call: { query: { tag: '{{ request.query.tag }}', none: '{{ request.query.none }}' } } })], fake, { ctx });
    assert.equal(only(fake, 'svc').call.path, '/users/..%2Fadmin%3Fx%3D1?tag=a%20b&tag=c%26d');
  });

  it('refuses a header value with CR/LF with 400 and makes no call', async () => {
    const fake = fakeService(() => ({}));
    const ctx = contextOf({ query: { name: 'ada\r\nx-admin: yes' } });
    const outcome = await run([httpStep('a', 'svc', '/a', { call: { headers: { 'x-user': '{{ request.query.name }}' } } })], fake, { ctx });
    assert.equal(outcome.status, 400);
    assert.equal(outcome.code, 'WEIR_FLOW_BAD_INPUT');
    assert.equal(outcome.failedStep, 'a');
    assert.match(outcome.errors[0]!.message, /header x-user: value contains CR, LF or NUL/);
    assert.equal(fake.calls.length, 0);
  });

  it('fails a step whose expression breaks on the data, naming the expression', async () => {
    const outcome = await run([transformStep('n', '{{ length(request.body) }}')], fakeService(() => ({})), { ctx: contextOf({ body: 5 }) });
    assert.equal(outcome.status, 502);
    assert.match(outcome.errors[0]!.message, /\{\{ length\(request\.body\) \}\}/);
  });

  it('answers with the response template and the flow status', async () => {
    const plan = planFlow(flowOf([transformStep('t', { n: 1 })], { value: '{{ steps.t.n }}', id: 'id-{{ request.params.id }}' }, { status: 201 }));
    const outcome = await runFlow(plan, contextOf({ params: { id: '9' } }), fakeService(() => ({})).callService, { timeoutMs: 1000 });
    assert.deepEqual([outcome.ok, outcome.status, outcome.body], [true, 201, { value: 1, id: 'id-9' }]);
  });
});
