import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { batchedStep, contextOf, fakeService, flowOf, httpStep, type FakeService } from './fixtures.case.js';
import { planFlow, planFlowProblems } from './plan.js';
import { runFlow, type FlowOutcome, type ResolvedCall } from './run.js';
import type { FlowContext, Step } from './types.js';

const RETRY = { attempts: 2, initialBackoffMs: 1, maxBackoffMs: 5, onStatuses: [503] };
const IDS = "{{ join(',', items[*].to_string(productId)) }}";

function run(steps: Step[], fake: FakeService, options: { response?: unknown; ctx?: FlowContext } = {}): Promise<FlowOutcome> {
  const plan = planFlow(flowOf(steps, options.response ?? null));
  return runFlow(plan, options.ctx ?? contextOf(), fake.callService, { timeoutMs: 5000 });
}

/** The ids a batch call asked for (`/products?ids=1%2C2`). */
function askedIds(call: ResolvedCall): string[] {
  return new URL(call.path, 'http://x').searchParams.get('ids')!.split(',');
}

/** A catalog answering `?ids=` with products (numeric ids), in reverse order, leaving out `missing`. */
function catalog(options: { delayMs?: number; missing?: string[]; reply?: (call: ResolvedCall, attempt: number) => { status?: number } | undefined } = {}): FakeService {
  return fakeService((call, attempt) => {
    const special = options.reply?.(call, attempt);
    if (special) return { delayMs: options.delayMs ?? 10, ...special };
    const body = askedIds(call)
      .filter((id) => !(options.missing ?? []).includes(id))
      .map((id) => ({ id: Number(id), name: `p${id}` }))
      .reverse();
    return { delayMs: options.delayMs ?? 10, body };
  });
}

/** Order items with string product ids '1' … 'n'. */
const itemsCtx = (n: number) => contextOf({ body: { items: Array.from({ length: n }, (_, i) => ({ productId: String(i + 1) })) } });

const products = (options: { maxSize?: number; concurrency?: number; retry?: typeof RETRY } = {}) =>
  batchedStep(
    'products',
    'request.body.items',
    'catalog',
    '/products',
    { maxSize: options.maxSize ?? 3, key: 'id', itemKey: 'item.productId' },
    { concurrency: options.concurrency ?? 4, call: { query: { ids: IDS } }, ...(options.retry && { retry: options.retry }) },
  );

describe('batched forEach', () => {
  it('makes ⌈N/maxSize⌉ calls and gives each element its own result, in element order', async () => {
    const fake = catalog();
    const outcome = await run([products({ maxSize: 3 })], fake, { ctx: itemsCtx(7), response: '{{ steps.products }}' });
    assert.equal(outcome.ok, true, JSON.stringify(outcome.errors));
    assert.equal(fake.calls.length, 3);
    assert.deepEqual(fake.calls.map((c) => askedIds(c.call)).sort(), [['1', '2', '3'], ['4', '5', '6'], ['7']]);
    assert.equal(fake.calls[0]!.call.path.split('?')[0], '/products');
    const results = outcome.body as Array<{ status: number; body: { id: number; name: string } }>;
    // The answers come back reversed, with numeric ids for string item keys: matched by key as text.
    assert.deepEqual(results.map((r) => r.body.id), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(results.map((r) => r.status), [200, 200, 200, 200, 200, 200, 200]);
    assert.deepEqual(outcome.records.map((r) => [r.name, r.status, r.calls, r.batches, r.httpStatus]), [['products', 'ok', 3, 3, 200]]);
  });

  it('matches number item keys to string result keys too', async () => {
    const fake = fakeService((call) => ({ body: askedIds(call).map((id) => ({ sku: id, n: Number(id) * 10 })) }));
    const ctx = contextOf({ body: [5, 6] });
    const step = batchedStep('each', 'request.body', 'svc', '/p', { maxSize: 10, key: 'sku', itemKey: 'n' }, { as: 'n', call: { query: { ids: "{{ join(',', items[*].to_string(@)) }}" } } });
    const outcome = await run([step], fake, { ctx, response: '{{ steps.each[*].body.n }}' });
    assert.deepEqual(outcome.body, [50, 60]);
  });

  it('gives an element with no result 404 and a null body; the step still succeeds', async () => {
    const fake = catalog({ missing: ['2', '5'] });
    const outcome = await run([products({ maxSize: 3 })], fake, { ctx: itemsCtx(6), response: '{{ steps.products }}' });
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.errors, []);
    const results = outcome.body as Array<{ status: number; headers: object; body: unknown }>;
    assert.deepEqual(results[1], { status: 404, headers: {}, body: null });
    assert.deepEqual(results[4], { status: 404, headers: {}, body: null });
    assert.deepEqual(results.map((r) => r.status), [200, 404, 200, 200, 404, 200]);
    assert.equal(outcome.records[0]!.status, 'ok');
  });

  it('reads the results from where `results` says, and fails when they are not an array', async () => {
    const nested = fakeService((call) => ({ body: { data: { products: askedIds(call).map((id) => ({ id })) } } }));
    const step = (results: string) =>
      batchedStep('p', 'request.body', 'c', '/products', { maxSize: 5, key: 'id', itemKey: 'item', results }, { call: { query: { ids: "{{ join(',', items) }}" } } });
    const ok = await run([step('data.products')], nested, { ctx: contextOf({ body: ['a', 'b'] }), response: '{{ steps.p[*].body.id }}' });
    assert.deepEqual(ok.body, ['a', 'b']);

    const notArray = await run([step('data')], nested, { ctx: contextOf({ body: ['a', 'b'] }) });
    assert.equal(notArray.status, 502);
    assert.match(notArray.errors[0]!.message, /batch 0 \(items 0–1\): results "data" of the batch answer is an object, not an array/);
  });

  it('a failed batch call fails the step and aborts the batches in flight', async () => {
    // The failing batch answers at once; the others take 100 ms.
    const quick = fakeService((call) => (askedIds(call)[0] === '4' ? { delayMs: 5, status: 500 } : { delayMs: 100, body: [] }));
    const outcome = await run([products({ maxSize: 3, concurrency: 3 })], quick, { ctx: itemsCtx(9) });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.status, 502);
    assert.equal(outcome.failedStep, 'products');
    assert.match(outcome.errors[0]!.message, /batch 1 \(items 3–5\): GET \/products on service "catalog" answered 500/);
    assert.deepEqual(quick.calls.map((c) => [askedIds(c.call)[0], c.aborted]), [['1', true], ['4', false], ['7', true]]);
    assert.equal(outcome.records[0]!.httpStatus, 500);
  });

  it('retries each batch call on its own', async () => {
    const fake = catalog({ reply: (call, attempt) => (askedIds(call)[0] === '4' && attempt === 0 ? { status: 503 } : undefined) });
    const outcome = await run([products({ maxSize: 3, retry: RETRY })], fake, { ctx: itemsCtx(7), response: '{{ steps.products[*].body.id }}' });
    assert.equal(outcome.ok, true);
    assert.deepEqual(outcome.body, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(fake.calls.length, 4);
    assert.deepEqual([outcome.records[0]!.calls, outcome.records[0]!.batches], [4, 3]);
  });

  it('runs at most `concurrency` batch calls at once', async () => {
    const two = catalog({ delayMs: 30 });
    const outcome = await run([products({ maxSize: 2, concurrency: 2 })], two, { ctx: itemsCtx(10) });
    assert.equal(outcome.ok, true);
    assert.equal(two.calls.length, 5);
    assert.equal(two.maxInFlight, 2);

    const all = catalog({ delayMs: 30 });
    await run([products({ maxSize: 2, concurrency: 10 })], all, { ctx: itemsCtx(10) });
    assert.equal(all.maxInFlight, 5);
    const last = Math.max(...all.calls.map((c) => c.start));
    const first = Math.min(...all.calls.map((c) => c.end!));
    assert.ok(last < first, 'every batch started before the first one answered');
  });

  it('makes no call for an empty list', async () => {
    const fake = catalog();
    const outcome = await run([products()], fake, { ctx: itemsCtx(0), response: '{{ steps.products }}' });
    assert.deepEqual([outcome.ok, outcome.body, fake.calls.length, outcome.records[0]!.batches], [true, [], 0, 0]);
  });

  it('lets item keys use index and a custom `as`, and batch headers and body see `items`', async () => {
    const fake = fakeService((call) => ({ body: (call.body as { want: string[] }).want.map((k) => ({ k })) }));
    const step = batchedStep(
      'p',
      'request.body',
      'svc',
      '/lookup',
      { maxSize: 2, key: 'k', itemKey: "join('-', [to_string(index), row.code])" },
      { as: 'row', call: { method: 'POST', headers: { 'x-count': '{{ length(items) }}' }, body: { want: "{{ items[*].code }}" } } },
    );
    // The body asks for the codes, not the index-code keys: only keys built the same way match.
    const outcome = await run([step], fake, { ctx: contextOf({ body: [{ code: 'a' }, { code: 'b' }, { code: 'c' }] }), response: '{{ steps.p[*].status }}' });
    assert.deepEqual(outcome.body, [404, 404, 404]);
    assert.deepEqual(fake.calls.map((c) => [c.call.method, c.call.headers['x-count']]), [['POST', '2'], ['POST', '1']]);
  });
});

describe('planning a batched forEach', () => {
  it('counts what the batch templates and itemKey read as dependencies', () => {
    const plan = planFlow(
      flowOf([
        httpStep('order', 'svc', '/o'),
        httpStep('token', 'svc', '/t'),
        httpStep('region', 'svc', '/r'),
        batchedStep('p', 'steps.order.body.items', 'svc', '/p', { maxSize: 5, key: 'id', itemKey: "join('-', [steps.region.body.code, item.id])" }, {
          call: { headers: { authorization: '{{ steps.token.body.value }}' } },
        }),
      ]),
    );
    assert.deepEqual([...plan.steps.find((s) => s.name === 'p')!.deps].sort(), ['order', 'region', 'token']);
  });

  it('locates problems under batch', () => {
    const problems = planFlowProblems(
      flowOf([batchedStep('p', 'request.body', 'svc', '/p', { maxSize: 0, key: 'a.[', itemKey: 'steps.nope.id', results: 'nope(@)' }, { call: { query: { ids: '{{ steps.missing }}' } } })]),
    );
    assert.deepEqual(problems.map((p) => p.path).sort(), ['/steps/0/batch/itemKey', '/steps/0/batch/key', '/steps/0/batch/maxSize', '/steps/0/batch/query/ids', '/steps/0/batch/results']);
    assert.match(problems.find((p) => p.path.endsWith('/results'))!.message, /unknown function nope\(\)/);
  });

  it('reads `@` and a field named steps in key and results as data, not as the flow context', () => {
    const problems = planFlowProblems(flowOf([batchedStep('p', 'request.body', 'svc', '/p', { maxSize: 2, key: 'steps.id', itemKey: 'item', results: '@' })]));
    assert.deepEqual(problems, []);
  });
});
