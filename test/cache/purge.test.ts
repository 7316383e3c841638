// Purging the response cache through the admin API in one process: by key, by prefix, by route;
// who may purge which route; bad purge bodies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { operationCoverage } from '../admin/render.js';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { ADMIN_PASSWORD, adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';

describe('cache purge through the admin API (one process)', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  const coverage = operationCoverage();
  const seen = (url: string) => upstream.requests.filter((r) => r.url === url).length;
  const get = async (path: string) => (await call(`${weir.url}${path}`)).headers['x-cache'];

  before(async () => {
    upstream = await startUpstream((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
      res.end(`answer for ${req.url}`);
    });
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: products
    path: /products/*
    service: s
    plugins: [{ name: cache, config: {} }]
  - name: other
    path: /other/*
    service: s
    plugins: [{ name: cache, config: {} }]
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl, 'admin', ADMIN_PASSWORD));
  });
  after(async () => {
    assert.deepEqual(coverage.missing({ only: ['cache'] }), [], 'cache operations no test called');
    await weir.close();
    await upstream.close();
  });

  it('by key: that request target goes, others stay', async () => {
    for (const p of ['/products/1?lang=en', '/products/1?lang=fr', '/products/2']) await get(p);
    assert.equal(await get('/products/1?lang=en'), 'HIT');
    const purged = await admin('POST', '/api/v1/cache/purge', { route: 'products', key: '/products/1?lang=en' });
    assert.equal(purged.status, 200, purged.body);
    assert.deepEqual(purged.json(), { processes: 1, memory: 1, redis: 0 });
    assert.equal(await get('/products/1?lang=en'), 'MISS');
    assert.equal(await get('/products/1?lang=fr'), 'HIT');
    assert.equal(await get('/products/2'), 'HIT');
    assert.equal(seen('/products/1?lang=en'), 2);
  });

  it('by prefix: every target under it goes, on this route only', async () => {
    for (const p of ['/products/10', '/products/11', '/products/2', '/other/1']) await get(p);
    const purged = await admin('POST', '/api/v1/cache/purge', { prefix: '/products/1' });
    assert.equal(purged.status, 200, purged.body);
    assert.equal(purged.json().memory, 4); // /products/1?lang=en, ?lang=fr, /products/10, /products/11
    assert.deepEqual(await Promise.all(['/products/10', '/products/11', '/products/2', '/other/1'].map(get)), ['MISS', 'MISS', 'HIT', 'HIT']);
  });

  it('by route: everything of the route goes', async () => {
    const purged = await admin('POST', '/api/v1/cache/purge', { route: 'other' });
    assert.equal(purged.status, 200);
    assert.equal(await get('/other/1'), 'MISS');
    assert.equal(await get('/products/2'), 'HIT');
  });

  it('bad bodies are refused with WEIR_VALIDATION_FAILED', async () => {
    for (const body of [{ key: '/a', prefix: '/b' }, { key: 'no-slash' }, { prefix: '/has space' }, { everything: true }, { route: '' }]) {
      const res = await admin('POST', '/api/v1/cache/purge', body);
      assert.equal(res.status, 422, JSON.stringify(body));
      assert.equal(res.json().code, 'WEIR_VALIDATION_FAILED');
    }
  });

  it('file routes are the system admins\'; a team\'s route may be purged by those who may change it', async () => {
    assert.equal((await admin('POST', '/api/v1/teams', { name: 'shop', description: 'the shop' })).status, 201);
    assert.equal((await admin('POST', '/api/v1/teams', { name: 'travel', description: 'travel' })).status, 201);
    for (const user of ['alice', 'carol', 'bob']) assert.equal((await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` })).status, 201);
    assert.equal((await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'member', writes: ['route'] })).status, 200);
    assert.equal((await admin('PUT', '/api/v1/teams/shop/members/carol', { role: 'viewer' })).status, 200);
    assert.equal((await admin('PUT', '/api/v1/teams/travel/members/bob', { role: 'admin' })).status, 200);
    const alice = coverage.wrap(await adminClient(weir.adminUrl, 'alice', 'alice-password-1'));
    const carol = coverage.wrap(await adminClient(weir.adminUrl, 'carol', 'carol-password-1'));
    const bob = coverage.wrap(await adminClient(weir.adminUrl, 'bob', 'bob-password-1'));
    const created = await alice('POST', '/api/v1/routes', { name: 'catalog', team: 'shop', spec: { path: '/catalog/*', service: 's', plugins: [{ name: 'cache', config: {} }] } });
    assert.equal(created.status, 201, created.body);
    await until(async () => ((await get('/catalog/1')) === 'HIT' ? true : undefined), 5_000, 'the team route cached');

    assert.equal((await carol('POST', '/api/v1/cache/purge', { route: 'catalog' })).status, 403, 'a viewer may not');
    assert.equal((await bob('POST', '/api/v1/cache/purge', { route: 'catalog' })).status, 404, 'another team does not see it');
    assert.equal((await get('/catalog/1')), 'HIT');
    const byAlice = await alice('POST', '/api/v1/cache/purge', { route: 'catalog', key: '/catalog/1' });
    assert.equal(byAlice.status, 200, byAlice.body);
    assert.equal(byAlice.json().memory, 1);
    assert.equal(await get('/catalog/1'), 'MISS');

    // An API's routes (<api>:<route>) belong to the API's team; purging them takes the right to change APIs.
    assert.equal((await admin('POST', '/api/v1/users', { username: 'dave', password: 'dave-password-1' })).status, 201);
    assert.equal((await admin('PUT', '/api/v1/teams/shop/members/dave', { role: 'admin' })).status, 200);
    const dave = coverage.wrap(await adminClient(weir.adminUrl, 'dave', 'dave-password-1'));
    const api = await dave('POST', '/api/v1/apis', { name: 'reviews', team: 'shop', spec: { basePath: '/reviews', version: 'v1', routes: [{ name: 'all', path: '/*', service: 's' }] } });
    assert.equal(api.status, 201, api.body);
    assert.equal((await dave('POST', '/api/v1/cache/purge', { route: 'reviews:all' })).status, 200);
    assert.equal((await alice('POST', '/api/v1/cache/purge', { route: 'reviews:all' })).status, 403, 'alice may change routes, not APIs');
    assert.equal((await bob('POST', '/api/v1/cache/purge', { route: 'reviews:all' })).status, 404);

    assert.equal((await alice('POST', '/api/v1/cache/purge', { route: 'products' })).status, 404, 'a file route is the admins\'');
    const everything = await alice('POST', '/api/v1/cache/purge', {});
    assert.equal(everything.status, 403);
    assert.equal(everything.json().code, 'WEIR_FORBIDDEN');
    assert.equal((await admin('POST', '/api/v1/cache/purge', { route: 'products' })).status, 200);
  });
});
