import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { startUpstream, type TestUpstream, sendJson } from '../support/upstream.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

describe('batched fan-outs and coalesced calls through the gateway', () => {
  let orders: TestUpstream;
  let catalog: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    // Orders: 7 items whose product ids are strings; 99 is not in the catalog. Slow enough for
    // concurrent flows to overlap.
    orders = await startUpstream((req, res) => {
      const id = new URL(req.url!, 'http://x').pathname.split('/')[2];
      const productIds = ['5', '3', '99', '1', '4', '2', '6'];
      setTimeout(() => sendJson(res, 200, { id, items: productIds.map((productId) => ({ productId })) }), 80);
    });
    // Catalog: GET /products?ids=a,b,c → the known products (numeric ids), unknown ids left out,
    // in id order rather than the order asked.
    catalog = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname !== '/products') return sendJson(res, 404, { error: 'not here' });
      const ids = (url.searchParams.get('ids') ?? '').split(',').map(Number).filter((n) => n >= 1 && n <= 50);
      setTimeout(() => sendJson(res, 200, { products: ids.sort((a, b) => a - b).map((id) => ({ id, name: `p${id}` })) }), 30);
    });
    weir = await startWeir(`
services:
  orders: { targets: [{ url: ${orders.url} }], retries: { attempts: 0 } }
  catalog: { targets: [{ url: ${catalog.url} }], retries: { attempts: 0 } }
routes: []
flows:
  - name: batched
    path: /orders/:orderId/products
    steps:
      order:
        service: orders
        path: /orders/{{ request.params.orderId }}
      products:
        forEach: steps.order.body.items
        concurrency: 2
        service: catalog
        headers:
          x-tenant: '{{ request.headers."x-tenant" }}'
        batch:
          maxSize: 3
          path: /products
          query: { ids: "{{ join(',', items[*].productId) }}" }
          results: products
          key: id
          itemKey: item.productId
    response:
      names: "{{ steps.products[*].body.name }}"
      statuses: "{{ steps.products[*].status }}"
  - name: summary
    path: /orders/:orderId/summary
    steps:
      order:
        service: orders
        path: /orders/{{ request.params.orderId }}
        headers:
          authorization: "{{ request.headers.authorization }}"
    response:
      id: "{{ steps.order.body.id }}"
`);
  });
  after(async () => {
    await weir.close();
    await Promise.all([orders.close(), catalog.close()]);
  });

  it('batches 7 items with maxSize 3 into exactly 3 upstream requests, answers in item order', async () => {
    const before = catalog.requests.length;
    const res = await call(`${weir.url}/orders/1/products`);
    assert.equal(res.status, 200, res.body);
    const seen = catalog.requests.slice(before);
    assert.equal(seen.length, 3);
    const asked = seen.map((r) => new URL(r.url, 'http://x').searchParams.get('ids')).sort();
    assert.deepEqual(asked, ['1,4,2', '5,3,99', '6']);
    for (const r of seen) assert.equal(new URL(r.url, 'http://x').pathname, '/products');
    const body = res.json();
    // Product 99 is unknown: its element is a 404 with a null body (left out of the projection).
    assert.deepEqual(body.statuses, [200, 200, 404, 200, 200, 200, 200]);
    assert.deepEqual(body.names, ['p5', 'p3', 'p1', 'p4', 'p2', 'p6']);
    assert.match(String(res.headers['server-timing']), /products;dur=[\d.]+;desc="ok 200 batches=3"/);
  });

  it('sends the step\'s headers on every batch call', async () => {
    const before = catalog.requests.length;
    const res = await call(`${weir.url}/orders/1/products`, { headers: { 'x-tenant': 'acme' } });
    assert.equal(res.status, 200, res.body);
    const seen = catalog.requests.slice(before);
    assert.equal(seen.length, 3);
    for (const r of seen) assert.equal(r.headers['x-tenant'], 'acme');
  });

  it('coalesces the identical order lookup of two concurrent flows into one upstream request', async () => {
    const before = orders.requests.length;
    const headers = { authorization: 'Bearer alice' };
    const [a, b] = await Promise.all([call(`${weir.url}/orders/42/summary`, { headers }), call(`${weir.url}/orders/42/summary`, { headers })]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    assert.deepEqual([a.json(), b.json()], [{ id: '42' }, { id: '42' }]);
    const seen = orders.requests.slice(before);
    assert.equal(seen.length, 1, 'one request upstream for both flows');
    assert.equal(seen[0]!.headers.authorization, 'Bearer alice');
    const timings = [a, b].map((r) => String(r.headers['server-timing']));
    assert.equal(timings.filter((t) => /order;dur=[\d.]+;desc="ok 200 coalesced=1"/.test(t)).length, 1, timings.join(' | '));
    // The shared request carries the request id of the flow that started it.
    assert.ok([a.headers['x-request-id'], b.headers['x-request-id']].includes(seen[0]!.headers['x-request-id'] as string));
  });

  it('does not coalesce lookups with different Authorization values', async () => {
    const before = orders.requests.length;
    const [a, b] = await Promise.all([
      call(`${weir.url}/orders/42/summary`, { headers: { authorization: 'Bearer alice' } }),
      call(`${weir.url}/orders/42/summary`, { headers: { authorization: 'Bearer bob' } }),
    ]);
    assert.deepEqual([a.status, b.status], [200, 200]);
    const seen = orders.requests.slice(before);
    assert.equal(seen.length, 2);
    assert.deepEqual(seen.map((r) => r.headers.authorization).sort(), ['Bearer alice', 'Bearer bob']);
  });
});

describe('batch definitions are checked at load, with lines', () => {
  const head = ['services:', '  s: { targets: [{ url: "http://127.0.0.1:1" }] }', 'routes: []', 'flows:', '  - path: /f', '    steps:'];
  function issues(lines: string[]) {
    const result = parseConfig([...head, ...lines, '    response: null'].join('\n'), 'weir.yaml');
    assert.equal(result.ok, false);
    return result.ok ? [] : result.issues.map((i) => ({ line: i.line, path: i.path, message: i.message }));
  }

  it('locates a bad template or expression inside batch', () => {
    const found = issues([
      '      p:',
      '        forEach: request.body',
      '        service: s',
      '        batch:',
      '          maxSize: 2',
      '          path: /p',
      '          query:',
      '            ids: "{{ steps.nope }}"',
      '          key: "id.["',
      '          itemKey: item',
    ]);
    assert.deepEqual(found.map((f) => [f.line, f.path]), [[14, '/flows/0/steps/p/batch/query/ids'], [15, '/flows/0/steps/p/batch/key']]);
    assert.match(found[0]!.message, /reads steps\.nope/);
  });

  it('needs a path or a batch on a forEach step, and batch only on forEach steps', () => {
    const found = issues([
      '      a: { forEach: request.body, service: s }',
      '      b: { service: s, path: /b, batch: { maxSize: 2, path: /b, key: id, itemKey: item } }',
    ]);
    assert.deepEqual(found.map((f) => [f.line, f.path]), [[7, '/flows/0/steps/a'], [8, '/flows/0/steps/b/batch']]);
    assert.match(found[0]!.message, /needs a "path" \(one call per element\) or a "batch"/);
    assert.match(found[1]!.message, /"batch" belongs to forEach steps/);
  });

  it('refuses a batch without its keys or with maxSize 0 (schema)', () => {
    const found = issues(['      p: { forEach: request.body, service: s, batch: { maxSize: 0, path: /p } }']);
    assert.ok(found.length >= 1);
    assert.ok(found.every((f) => f.line === 7 && f.path.startsWith('/flows/0/steps/p/batch')), JSON.stringify(found));
  });

  it('accepts a batched forEach without a step path', () => {
    const yaml = [...head, '      p:', '        forEach: request.body', '        service: s', '        batch: { maxSize: 2, path: /p, key: id, itemKey: item }', '    response: "{{ steps.p }}"'].join('\n');
    const result = parseConfig(yaml, 'weir.yaml');
    assert.equal(result.ok, true, result.ok ? '' : JSON.stringify(result.issues));
  });
});
