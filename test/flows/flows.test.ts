import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { startUpstream, type Observed, type TestUpstream } from '../support/upstream.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

/** An upstream that answers JSON after `delayMs`, from a handler of the request url. */
function slowJson(delayMs: number, answer: (url: string, body: Buffer) => { status?: number; body: unknown }) {
  return startUpstream((req, res, body) => {
    setTimeout(() => {
      const { status = 200, body: value } = answer(req.url!, body);
      const text = JSON.stringify(value);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    }, delayMs);
  });
}

function overlap(a: Observed, b: Observed): boolean {
  return a.startedAt < b.endedAt && b.startedAt < a.endedAt;
}

describe('flows through the gateway', () => {
  let users: TestUpstream;
  let orders: TestUpstream;
  let catalog: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    users = await slowJson(60, (url) => (url.startsWith('/users/404') ? { status: 404, body: { error: 'no such user' } } : { body: { id: url.split('/')[2], name: 'Ada' } }));
    orders = await slowJson(60, (url, body) =>
      url.startsWith('/orders/boom')
        ? { status: 500, body: { error: 'down' } }
        : { body: { id: url.split('/')[2]?.split('?')[0], items: [{ productId: 3 }, { productId: 1 }, { productId: 2 }], echo: body.length > 0 ? JSON.parse(body.toString()) : null } },
    );
    catalog = await slowJson(40, (url) => (url === '/products/13' ? { status: 503, body: {} } : { body: { id: Number(url.split('/')[2]), name: `p${url.split('/')[2]}` } }));
    weir = await startWeir(`
services:
  users: { targets: [{ url: ${users.url} }] }
  orders: { targets: [{ url: ${orders.url} }], retries: { attempts: 0 } }
  catalog: { targets: [{ url: ${catalog.url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: details
    path: /users/:userId/orders/:orderId
    steps:
      user:
        service: users
        path: /users/{{ request.params.userId }}
      order:
        service: orders
        path: /orders/{{ request.params.orderId }}
      products:
        forEach: steps.order.body.items
        concurrency: 2
        service: catalog
        path: /products/{{ item.productId }}
      label:
        transform: "{{ steps.user.body.name }} ordered {{ length(steps.order.body.items) }} items"
    response:
      user: "{{ steps.user.body }}"
      orderId: "{{ steps.order.body.id }}"
      names: "{{ steps.products[*].body.name }}"
      label: "{{ steps.label }}"
  - name: optional-catalog
    path: /optional/:productId
    steps:
      product:
        service: catalog
        path: /products/{{ request.params.productId }}
        optional: true
      order:
        service: orders
        path: /orders/1
    response:
      product: "{{ steps.product.body }}"
      orderId: "{{ steps.order.body.id }}"
  - name: echo-body
    method: POST
    path: /echo
    steps:
      order:
        service: orders
        method: POST
        path: /orders/new
        body:
          customer: "{{ request.body.customer }}"
          lines: "{{ request.body.lines }}"
    response: "{{ steps.order.body.echo }}"
  - name: header-from-query
    path: /header
    steps:
      user:
        service: users
        path: /users/1
        headers:
          x-note: "{{ request.query.note }}"
    response: "{{ steps.user.body }}"
`);
  });
  after(async () => {
    await weir.close();
    await Promise.all([users.close(), orders.close(), catalog.close()]);
  });

  it('runs independent steps side by side and dependent steps after their inputs', async () => {
    const res = await call(`${weir.url}/users/7/orders/42`);
    assert.equal(res.status, 200, res.body);
    assert.deepEqual(res.json(), { user: { id: '7', name: 'Ada' }, orderId: '42', names: ['p3', 'p1', 'p2'], label: 'Ada ordered 3 items' });
    const user = users.requests.at(-1)!;
    const order = orders.requests.at(-1)!;
    assert.ok(overlap(user, order), 'user and order were in flight at the same time');
    const products = catalog.requests.slice(-3);
    assert.deepEqual(products.map((p) => p.url).sort(), ['/products/1', '/products/2', '/products/3']);
    for (const p of products) assert.ok(p.startedAt >= order.endedAt, 'no product lookup before the order arrived');
  });

  it('keeps a fan-out within its concurrency', async () => {
    await call(`${weir.url}/users/7/orders/43`);
    const products = catalog.requests.slice(-3).sort((a, b) => a.startedAt - b.startedAt);
    // concurrency 2: the third call starts only after one of the first two ended.
    assert.ok(overlap(products[0]!, products[1]!));
    assert.ok(products[2]!.startedAt >= Math.min(products[0]!.endedAt, products[1]!.endedAt));
  });

  it('reports every step in Server-Timing', async () => {
    const res = await call(`${weir.url}/users/7/orders/44`);
    const timing = String(res.headers['server-timing']);
    for (const step of ['user', 'order', 'products', 'label', 'total']) assert.match(timing, new RegExp(`(^|, )${step};dur=\\d`));
  });

  it('answers with the upstream 4xx when a required step is refused', async () => {
    const res = await call(`${weir.url}/users/404/orders/1`);
    assert.equal(res.status, 404);
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_STEP_FAILED');
    assert.equal(problem.failedStep, 'user');
  });

  it('answers 502 when a required step fails with a 5xx, and cancels the rest', async () => {
    const res = await call(`${weir.url}/users/7/orders/boom`);
    assert.equal(res.status, 502);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_STEP_FAILED');
    assert.equal(problem.failedStep, 'order');
    assert.equal(weir.logs.filter((l) => l.msg === 'flow failed').length > 0, true, 'the failure is logged');
  });

  it('gives a partial answer when an optional step fails', async () => {
    const res = await call(`${weir.url}/optional/13`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['weir-failed-steps'], 'product');
    const body = res.json();
    assert.equal(body.product, null);
    assert.equal(body.orderId, '1');
    assert.equal(body._errors[0].step, 'product');
  });

  it('builds a call body from the request body', async () => {
    const res = await call(`${weir.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customer: 'c-1', lines: [1, 2], ignored: true }) });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { customer: 'c-1', lines: [1, 2] });
    assert.equal(orders.requests.at(-1)!.headers['content-type'], 'application/json');
  });

  it('refuses a request body that claims JSON and is not', async () => {
    const res = await call(`${weir.url}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 'WEIR_FLOW_BAD_INPUT');
  });

  it('keeps template values inside their path segment (no traversal, no host change)', async () => {
    const res = await call(`${weir.url}/users/a%2Fb%3Fx=1/orders/1`);
    assert.equal(res.status, 200);
    assert.equal(users.requests.at(-1)!.url, '/users/a%2Fb%3Fx%3D1', 'one encoded segment, no query');
    const before = users.requests.length;
    const traversal = await call(`${weir.url}/users/..%2Fadmin/orders/1`);
    assert.equal(traversal.status, 400);
    assert.equal(users.requests.length, before, 'nothing was sent');
  });

  it('refuses line breaks headed for an upstream header', async () => {
    const before = users.requests.length;
    const res = await call(`${weir.url}/header?note=a%0D%0AX-Evil:%201`);
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 'WEIR_FLOW_BAD_INPUT');
    assert.equal(users.requests.length, before, 'nothing was sent');
  });
});

describe('flow definitions are checked at load, with lines', () => {
  const head = ['services:', '  s: { targets: [{ url: "http://127.0.0.1:1" }] }', 'routes: []', 'flows:', '  - path: /f', '    steps:'];
  function issues(lines: string[]) {
    const result = parseConfig([...head, ...lines, '    response: null'].join('\n'), 'weir.yaml');
    assert.equal(result.ok, false);
    return result.ok ? [] : result.issues.map((i) => ({ line: i.line, path: i.path, message: i.message }));
  }

  it('names a cycle', () => {
    const found = issues(['      a: { service: s, path: "/a/{{ steps.b.body.id }}" }', '      b: { service: s, path: "/b/{{ steps.a.body.id }}" }']);
    assert.equal(found.length >= 1, true);
    assert.match(found[0]!.message, /"a" → "b" → "a"|"b" → "a" → "b"/);
    assert.ok([7, 8].includes(found[0]!.line), `line ${found[0]!.line}`);
  });

  it('locates a reference to an unknown step', () => {
    const found = issues(['      a: { service: s, path: /a }', '      b: { service: s, path: "/b/{{ steps.nope.body }}" }']);
    assert.equal(found[0]!.line, 8);
    assert.match(found[0]!.path, /^\/flows\/0\/steps\/b/);
    assert.match(found[0]!.message, /nope/);
  });

  it('locates an unknown service and a step that is neither a call nor a transform', () => {
    const found = issues(['      a: { service: nowhere, path: /a }', '      b: { when: "true" }']);
    assert.deepEqual(found.map((f) => [f.line, f.path]), [[7, '/flows/0/steps/a/service'], [8, '/flows/0/steps/b']]);
  });

  it('locates an expression that does not parse', () => {
    const found = issues(['      a: { service: s, path: "/a/{{ request.params.[ }}" }']);
    assert.equal(found[0]!.line, 7);
  });
});

describe('flow routes', () => {
  it('may not take a path a route already answers', () => {
    const result = parseConfig(
      ['services:', '  s: { targets: [{ url: "http://127.0.0.1:1" }] }', 'routes:', '  - { path: /orders/:id, service: s }', 'flows:', '  - path: /orders/:orderId', '    steps: { a: { service: s, path: /a } }', '    response: null'].join('\n'),
      'weir.yaml',
    );
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual(result.issues.map((i) => [i.line, i.path]), [[6, '/flows/0/path']]);
  });
});
