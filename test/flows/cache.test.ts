import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { delay, startUpstream, type TestUpstream, sendJson } from '../support/upstream.js';
import { call, configProblems, startWeir, withFlows, type TestWeir } from '../support/weir.js';

/** Calls to `upstream` whose path starts with `prefix`. */
function callsTo(upstream: TestUpstream, prefix: string): string[] {
  return upstream.requests.filter((r) => r.url.startsWith(prefix)).map((r) => r.url);
}

describe('step cache', () => {
  let catalog: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    catalog = await startUpstream((req, res) => {
      const url = new URL(req.url!, 'http://x');
      if (url.pathname.startsWith('/fail')) return sendJson(res, 500, { error: 'down' });
      if (url.pathname === '/products') {
        const ids = (url.searchParams.get('ids') ?? '').split(',').map(Number);
        return sendJson(res, 200, ids.map((id) => ({ id, name: `p${id}` })));
      }
      sendJson(res, 200, { path: url.pathname, query: url.search, user: req.headers['x-user'] ?? null });
    });
    weir = await startWeir(`
services:
  catalog: { targets: [{ url: ${catalog.url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: short-ttl
    path: /short/:id
    steps:
      product: { service: catalog, path: "/short/{{ request.params.id }}", cache: { ttl: 150ms } }
    response: "{{ steps.product.body }}"
  - name: per-user
    path: /per-user/:id
    steps:
      product:
        service: catalog
        path: "/per-user/{{ request.params.id }}"
        headers: { x-user: "{{ request.headers.\\"x-user\\" }}" }
        cache: { ttl: 1m }
    response: "{{ steps.product.body }}"
  - name: own-key
    path: /own-key/:id
    steps:
      product:
        service: catalog
        path: "/own-key/{{ request.params.id }}"
        query: { lang: "{{ request.query.lang }}" }
        cache: { ttl: 1m, key: "{{ request.params.id }}" }
    response: "{{ steps.product.body }}"
  - name: failing
    path: /failing
    steps:
      product: { service: catalog, path: /fail, cache: { ttl: 1m }, optional: true }
    response: { product: "{{ steps.product }}" }
  - name: each
    method: POST
    path: /each
    idempotency: false
    steps:
      products:
        forEach: request.body.ids
        service: catalog
        path: "/each/{{ item }}"
        cache: { ttl: 1m }
    response: "{{ steps.products[*].body.path }}"
  - name: batched
    method: POST
    path: /batched
    idempotency: false
    steps:
      products:
        forEach: request.body.ids
        service: catalog
        batch:
          maxSize: 10
          path: /products
          query: { ids: "{{ join(',', items[*].to_string(@)) }}" }
          key: id
          itemKey: item
        cache: { ttl: 1m }
    response: "{{ steps.products[*].body.name }}"
`);
  });

  after(async () => {
    await weir.close();
    await catalog.close();
  });

  it('answers a repeated step from the cache until the ttl passes, and says so in Server-Timing', async () => {
    const first = await call(`${weir.url}/short/1`);
    const second = await call(`${weir.url}/short/1`);
    assert.equal(first.status, 200);
    assert.deepEqual(second.json(), first.json());
    assert.match(String(first.headers['server-timing']), /product;dur=[\d.]+;desc="ok 200 cache=miss"/);
    assert.match(String(second.headers['server-timing']), /product;dur=[\d.]+;desc="ok cache=hit"/);
    assert.deepEqual(callsTo(catalog, '/short/'), ['/short/1']);
    await delay(200);
    await call(`${weir.url}/short/1`);
    assert.deepEqual(callsTo(catalog, '/short/'), ['/short/1', '/short/1'], 'expired entries are fetched again');
  });

  it('keeps answers for different credentials apart under the default key', async () => {
    const ada = await call(`${weir.url}/per-user/7`, { headers: { 'x-user': 'ada' } });
    const bob = await call(`${weir.url}/per-user/7`, { headers: { 'x-user': 'bob' } });
    const adaAgain = await call(`${weir.url}/per-user/7`, { headers: { 'x-user': 'ada' } });
    assert.equal(ada.json().user, 'ada');
    assert.equal(bob.json().user, 'bob');
    assert.equal(adaAgain.json().user, 'ada');
    assert.equal(callsTo(catalog, '/per-user/').length, 2);
  });

  it('uses the author\'s key when given (here: the id alone, whatever the query)', async () => {
    await call(`${weir.url}/own-key/5?lang=en`);
    const second = await call(`${weir.url}/own-key/5?lang=fr`);
    assert.equal(second.json().query, '?lang=en');
    assert.equal(callsTo(catalog, '/own-key/').length, 1);
  });

  it('never caches a failure', async () => {
    await call(`${weir.url}/failing`);
    const second = await call(`${weir.url}/failing`);
    assert.equal(second.json().product, null);
    assert.equal(callsTo(catalog, '/fail').length, 2);
  });

  it('caches each element of a fan-out on its own', async () => {
    const post = (ids: number[]) => call(`${weir.url}/each`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) });
    assert.deepEqual((await post([1, 2])).json(), ['/each/1', '/each/2']);
    const second = await post([2, 3]);
    assert.deepEqual(second.json(), ['/each/2', '/each/3']);
    assert.match(String(second.headers['server-timing']), /cache=partial/);
    assert.deepEqual(callsTo(catalog, '/each/').sort(), ['/each/1', '/each/2', '/each/3']);
  });

  it('batches only the elements it does not have', async () => {
    const post = (ids: number[]) => call(`${weir.url}/batched`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids }) });
    assert.deepEqual((await post([1, 2])).json(), ['p1', 'p2']);
    assert.deepEqual((await post([2, 1, 3])).json(), ['p2', 'p1', 'p3']);
    const all = await post([3, 1]);
    assert.deepEqual(all.json(), ['p3', 'p1']);
    assert.match(String(all.headers['server-timing']), /batches=0 cache=hit/);
    assert.deepEqual(callsTo(catalog, '/products'), ['/products?ids=1%2C2', '/products?ids=3']);
  });

  it('refuses cache options where they cannot apply, with the line', () => {
    const messages = configProblems(
      withFlows(`  - path: /x
    steps:
      t:
        transform: 1
        cache: { ttl: 1s }
      u:
        service: s
        path: /u
        cache: { ttl: 1s, key: "{{ steps.nope }}" }
    response: 1
`),
    );
    assert.ok(messages.some((m) => /^9: \/flows\/0\/steps\/t\/cache: "cache" belongs to calls/.test(m)), messages.join('\n'));
    const found = configProblems(
      withFlows(`  - path: /x
    steps:
      u:
        service: s
        path: /u
        cache: { ttl: 1s, key: "{{ steps.nope }}" }
    response: 1
`),
    );
    assert.ok(found.some((m) => /^10: \/flows\/0\/steps\/u\/cache\/key: step "u" reads steps.nope, but no step is named "nope"/.test(m)), found.join('\n'));
  });
});
