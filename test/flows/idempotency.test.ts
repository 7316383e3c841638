import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { delay, startUpstream, type TestUpstream, sendJson } from '../support/upstream.js';
import { until } from '../support/cli.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

function flowsYaml(url: string): string {
  return `
services:
  orders: { targets: [{ url: ${url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: place-order
    method: POST
    path: /orders
    steps:
      order:
        service: orders
        method: POST
        path: /orders
        body: "{{ request.body }}"
    response: { order: "{{ steps.order.body }}" }
    status: 201
  - name: must-have-key
    method: POST
    path: /strict
    idempotency: { required: true, ttl: 1h }
    steps:
      order: { service: orders, method: POST, path: /orders, body: "{{ request.body }}" }
    response: "{{ steps.order.body }}"
  - name: slow-undo
    method: POST
    path: /slow-undo
    timeout: 300ms
    steps:
      hold:
        service: orders
        method: POST
        path: /holds
        compensate: { method: DELETE, path: /holds/1, timeout: 2s }
      fail: { service: orders, method: POST, path: /fail, after: [hold] }
    response: 1
`;
}

describe('Idempotency-Key on flows', () => {
  let orders: TestUpstream;
  let weir: TestWeir;
  let next = 0;
  const delays = { orders: 0, undo: 0 };

  before(async () => {
    orders = await startUpstream((req, res) => {
      if (req.url === '/fail') return sendJson(res, 500, {});
      if (req.method === 'DELETE') return void setTimeout(() => sendJson(res, 200, {}), delays.undo);
      setTimeout(() => sendJson(res, 200, { id: ++next }), delays.orders);
    });
    weir = await startWeir(flowsYaml(orders.url));
  });

  beforeEach(() => {
    orders.requests.length = 0;
    Object.assign(delays, { orders: 0, undo: 0 });
  });

  after(async () => {
    await weir.close();
    await orders.close();
  });

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    call(`${weir.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('runs a keyed request once and replays its response to a repeat', async () => {
    const first = await post('/orders', { sku: 'a' }, { 'idempotency-key': 'order-1' });
    const again = await post('/orders', { sku: 'a' }, { 'idempotency-key': 'order-1' });
    assert.equal(first.status, 201);
    assert.equal(again.status, 201);
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(first.headers['idempotent-replayed'], undefined);
    assert.match(String(first.headers['server-timing']), /order;dur=/);
    assert.equal(again.headers['server-timing'], undefined, 'the first run\'s timings do not describe the replay');
    assert.notEqual(again.headers['x-request-id'], first.headers['x-request-id'], 'the repeat has its own request id');
    assert.equal(orders.requests.length, 1, 'the upstream was called once');
  });

  it('runs requests without a key (or with another key) every time', async () => {
    await post('/orders', { sku: 'a' });
    await post('/orders', { sku: 'a' });
    await post('/orders', { sku: 'a' }, { 'idempotency-key': 'order-2' });
    await post('/orders', { sku: 'a' }, { 'idempotency-key': '"order-3"' });
    assert.equal(orders.requests.length, 4);
  });

  it('refuses the same key with a different request: 422', async () => {
    await post('/orders', { sku: 'a' }, { 'idempotency-key': 'order-4' });
    const other = await post('/orders', { sku: 'b' }, { 'idempotency-key': 'order-4' });
    assert.equal(other.status, 422);
    assert.equal(other.json().code, 'WEIR_IDEMPOTENCY_KEY_REUSED');
    assert.equal(orders.requests.length, 1);
  });

  it('keeps keys of different credentials apart', async () => {
    const ada = await post('/orders', { sku: 'a' }, { 'idempotency-key': 'same', authorization: 'Bearer ada' });
    const bob = await post('/orders', { sku: 'a' }, { 'idempotency-key': 'same', authorization: 'Bearer bob' });
    assert.notDeepEqual(bob.json(), ada.json());
    assert.equal(orders.requests.length, 2);
  });

  it('makes a concurrent repeat wait for the first and get its result', async () => {
    delays.orders = 300;
    const first = post('/orders', { sku: 'c' }, { 'idempotency-key': 'order-5' });
    await until(() => (orders.requests.length > 0 || undefined), 5000, 'the first request to reach the upstream');
    const second = await post('/orders', { sku: 'c' }, { 'idempotency-key': 'order-5' });
    const firstReply = await first;
    assert.equal(second.status, 201);
    assert.deepEqual(second.json(), firstReply.json());
    assert.equal(second.headers['idempotent-replayed'], 'true');
    assert.equal(orders.requests.length, 1);
  });

  it('answers 409 with Retry-After when the first is still running after the wait', async () => {
    // The flow's deadline (300 ms) bounds the wait; the first is still undoing its hold (1 s).
    delays.undo = 1000;
    const first = post('/slow-undo', {}, { 'idempotency-key': 'undo-1' });
    await until(() => (orders.requests.some((r) => r.method === 'DELETE') || undefined), 5000, 'the compensation to start');
    const second = await post('/slow-undo', {}, { 'idempotency-key': 'undo-1' });
    assert.equal(second.status, 409);
    assert.equal(second.json().code, 'WEIR_IDEMPOTENCY_IN_PROGRESS');
    assert.equal(second.headers['retry-after'], '1');
    assert.equal((await first).status, 502);
    const third = await post('/slow-undo', {}, { 'idempotency-key': 'undo-1' });
    assert.equal(third.status, 502, 'once finished, the failure is replayed: the flow is not run again');
    assert.equal(third.headers['idempotent-replayed'], 'true');
    assert.equal(orders.requests.filter((r) => r.url === '/holds').length, 1);
  });

  it('finishes a keyed flow whose client went away, so the retry gets the result', async () => {
    delays.orders = 200;
    const aborter = new AbortController();
    const gone = request(`${weir.url}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'order-6' },
      body: JSON.stringify({ sku: 'd' }),
      signal: aborter.signal,
    }).catch(() => undefined);
    await until(() => (orders.requests.length > 0 || undefined), 5000, 'the request to reach the upstream');
    aborter.abort();
    await gone;
    await delay(300);
    const retry = await post('/orders', { sku: 'd' }, { 'idempotency-key': 'order-6' });
    assert.equal(retry.status, 201);
    assert.equal(retry.headers['idempotent-replayed'], 'true');
    assert.equal(orders.requests.length, 1);
  });

  it('requires a key where the flow says so, and refuses malformed keys', async () => {
    const missing = await post('/strict', {});
    assert.equal(missing.status, 400);
    assert.equal(missing.json().code, 'WEIR_IDEMPOTENCY_KEY_MISSING');
    const spaces = await post('/strict', {}, { 'idempotency-key': 'has spaces' });
    assert.equal(spaces.status, 400);
    assert.equal(spaces.json().code, 'WEIR_IDEMPOTENCY_KEY_INVALID');
    const long = await post('/strict', {}, { 'idempotency-key': 'k'.repeat(256) });
    assert.equal(long.json().code, 'WEIR_IDEMPOTENCY_KEY_INVALID');
    assert.equal(orders.requests.length, 0);
    assert.equal((await post('/strict', {}, { 'idempotency-key': 'ok-1' })).status, 200);
  });

  it('replays from the data folder after a restart', async () => {
    const first = await post('/orders', { sku: 'e' }, { 'idempotency-key': 'order-7' });
    await weir.close();
    weir = await startWeir(flowsYaml(orders.url), { dataDir: weir.dataDir });
    const again = await post('/orders', { sku: 'e' }, { 'idempotency-key': 'order-7' });
    assert.deepEqual(again.json(), first.json());
    assert.equal(again.headers['idempotent-replayed'], 'true');
    assert.equal(orders.requests.length, 1);
  });
});
