import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from './render.js';

describe('API lifecycle: draft → release → publish → deprecate → retire', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let alice: AdminCall; // admin of team shop
  let bob: AdminCall; // member of shop who may write APIs
  const coverage = operationCoverage();

  const serves = (path: string, status: number) =>
    until(async () => ((await call(`${weir.url}${path}`)).status === status ? true : undefined), 5000, `${path} to answer ${status}`);

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  shop-backend: { targets: [{ url: ${upstream.url} }] }
routes: []
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    await admin('POST', '/api/v1/teams', { name: 'shop' });
    for (const user of ['alice', 'bob']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'admin' });
    await admin('PUT', '/api/v1/teams/shop/members/bob', { role: 'member', writes: ['api'] });
    alice = coverage.wrap(await adminClient(weir.adminUrl, 'alice', 'alice-password-1'));
    bob = coverage.wrap(await adminClient(weir.adminUrl, 'bob', 'bob-password-1'));
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    assert.deepEqual(coverage.missing({ only: ['apis'] }), [], 'API operations no test called');
  });

  const v1 = { basePath: '/shop', version: 'v1', routes: [{ name: 'orders', path: '/orders/*', service: 'shop-backend' }] };

  it('serves nothing while draft; serves a published release under basePath/version, prefix stripped', async () => {
    assert.equal((await bob('POST', '/api/v1/apis', { name: 'shop-v1', team: 'shop', spec: v1 })).status, 201);
    assert.equal((await call(`${weir.url}/shop/v1/orders/1`)).status, 404, 'a draft receives no traffic');
    assert.deepEqual((await bob('GET', '/api/v1/apis/shop-v1/status')).json(), { api: 'shop-v1', state: 'draft', release: null, sunset: null, version: 0 });
    const release = await bob('POST', '/api/v1/apis/shop-v1/releases', { note: 'first' });
    assert.equal(release.status, 201);
    assert.equal(release.json().number, 1);
    assert.equal(release.json().status, 'ready');
    const published = await bob('POST', '/api/v1/apis/shop-v1/publish', { release: 1 });
    assert.equal(published.status, 200, published.body);
    assert.equal(published.json().state, 'published');
    await serves('/shop/v1/orders/1', 200);
    assert.equal(upstream.requests.at(-1)!.url, '/orders/1');
  });

  it('serves v2 side by side, and a release that would not load is refused', async () => {
    const v2 = { basePath: '/shop', version: 'v2', routes: [{ name: 'orders', path: '/orders/*', service: 'shop-backend', stripPrefix: '/shop' }] };
    await bob('POST', '/api/v1/apis', { name: 'shop-v2', team: 'shop', spec: v2 });
    await bob('POST', '/api/v1/apis/shop-v2/releases', {});
    await bob('POST', '/api/v1/apis/shop-v2/publish', { release: 1 });
    await serves('/shop/v2/orders/7', 200);
    assert.equal(upstream.requests.at(-1)!.url, '/v2/orders/7');
    assert.equal((await call(`${weir.url}/shop/v1/orders/7`)).status, 200);
    const broken = await bob('PUT', '/api/v1/apis/shop-v2', { spec: { ...v2, routes: [{ name: 'x', path: '/x', service: 'nowhere' }] } }, { 'if-match': '"1"' });
    assert.equal(broken.status, 200, 'a draft may be broken');
    const release = await bob('POST', '/api/v1/apis/shop-v2/releases', {});
    assert.equal(release.status, 422);
    assert.equal(release.json().code, 'WEIR_CONFIG_INVALID');
    assert.match(release.body, /nowhere/);
  });

  it('publishes a change, shows the diff, and rolls back to the earlier release', async () => {
    const current = await bob('GET', '/api/v1/apis/shop-v1');
    const changed = { ...v1, routes: [...v1.routes, { name: 'health', path: '/health', service: 'shop-backend' }] };
    await bob('PUT', '/api/v1/apis/shop-v1', { spec: changed }, { 'if-match': current.headers['etag'] as string });
    assert.equal((await bob('POST', '/api/v1/apis/shop-v1/releases', { note: 'health check' })).json().number, 2);
    const diff = (await bob('GET', '/api/v1/apis/shop-v1/releases/2/diff')).json();
    assert.deepEqual(diff.changes.map((c: { change: string; what: string }) => `${c.change} ${c.what}`), ['added route health']);
    assert.equal(diff.from, 1);
    await bob('POST', '/api/v1/apis/shop-v1/publish', { release: 2 });
    await serves('/shop/v1/health', 200);
    const rollback = await bob('POST', '/api/v1/apis/shop-v1/publish', { release: 1 });
    assert.equal(rollback.json().release, 1);
    await serves('/shop/v1/health', 404);
    assert.equal((await call(`${weir.url}/shop/v1/orders/2`)).status, 200);
    assert.deepEqual((await bob('GET', '/api/v1/apis/shop-v1/releases')).json().items.map((r: { number: number; note: string }) => `${r.number}:${r.note}`), ['1:first', '2:health check']);
  });

  it('loses no request while 20 publishes swap releases under load', async () => {
    const agent = new Agent({ connections: 8 });
    let stop = false;
    const statuses: number[] = [];
    const load = async () => {
      while (!stop) {
        const res = await request(`${weir.url}/shop/v1/orders/load`, { dispatcher: agent });
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    };
    const clients = Array.from({ length: 4 }, load);
    for (let i = 0; i < 20; i++) {
      const res = await bob('POST', '/api/v1/apis/shop-v1/publish', { release: (i % 2) + 1 });
      assert.equal(res.status, 200, res.body);
      await new Promise((r) => setTimeout(r, 20));
    }
    stop = true;
    await Promise.all(clients);
    await agent.close();
    assert.ok(statuses.length > 20, `only ${statuses.length} requests were made`);
    assert.deepEqual([...new Set(statuses)], [200], `every request was answered 200 (${statuses.length} requests)`);
  });

  it('deprecates with Deprecation and Sunset headers, then retires to 410', async () => {
    const deprecated = await bob('POST', '/api/v1/apis/shop-v1/deprecate', { sunset: '2027-06-30T00:00:00Z' });
    assert.equal(deprecated.json().state, 'deprecated');
    const res = await until(async () => {
      const r = await call(`${weir.url}/shop/v1/orders/3`);
      return r.headers['deprecation'] !== undefined ? r : undefined;
    }, 5000, 'deprecation headers');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['deprecation']), /^@\d+$/);
    assert.equal(res.headers['sunset'], 'Wed, 30 Jun 2027 00:00:00 GMT');
    assert.equal((await call(`${weir.url}/shop/v2/orders/3`)).headers['deprecation'], undefined, 'v2 is not deprecated');

    assert.equal((await bob('POST', '/api/v1/apis/shop-v1/retire')).json().state, 'retired');
    await serves('/shop/v1/orders/3', 410);
    const gone = await call(`${weir.url}/shop/v1/orders/3`);
    assert.equal(gone.json().code, 'WEIR_API_RETIRED');
    assert.match(String(gone.headers['content-type']), /problem\+json/);
    const again = await bob('POST', '/api/v1/apis/shop-v1/publish', { release: 1 });
    assert.equal(again.status, 409);
    assert.equal(again.json().code, 'WEIR_INVALID_STATE');
    assert.equal((await bob('POST', '/api/v1/apis/shop-v1/deprecate', {})).json().code, 'WEIR_INVALID_STATE');
  });

  it('holds releases of an API that requires approval until a team admin other than the author approves', async () => {
    await bob('POST', '/api/v1/apis', { name: 'reviews', team: 'shop', spec: { basePath: '/reviews', version: 'v1', requireApproval: true, routes: [{ name: 'all', path: '/*', service: 'shop-backend' }] } });
    const pending = await bob('POST', '/api/v1/apis/reviews/releases', {});
    assert.equal(pending.json().status, 'pending-approval');
    const early = await bob('POST', '/api/v1/apis/reviews/publish', { release: 1 });
    assert.equal(early.status, 409);
    assert.equal(early.json().code, 'WEIR_NOT_APPROVED');
    assert.equal((await bob('POST', '/api/v1/apis/reviews/releases/1/approve', {})).status, 403, 'a member cannot approve');
    const approved = await alice('POST', '/api/v1/apis/reviews/releases/1/approve', { reason: 'looks good' });
    assert.equal(approved.json().status, 'approved');
    assert.equal(approved.json().decidedBy, 'alice');
    assert.equal((await bob('POST', '/api/v1/apis/reviews/publish', { release: 1 })).status, 200);
    await serves('/reviews/v1/x', 200);

    const own = await alice('POST', '/api/v1/apis/reviews/releases', {});
    assert.equal((await alice('POST', `/api/v1/apis/reviews/releases/${own.json().number}/approve`, {})).status, 403, 'nobody approves their own release');
    assert.equal((await alice('GET', `/api/v1/apis/reviews/releases/${own.json().number}`)).json().status, 'pending-approval');
    const rejected = await alice('POST', `/api/v1/apis/reviews/releases/${own.json().number}/reject`, { reason: 'not yet' });
    assert.equal(rejected.json().status, 'rejected');
    assert.equal((await alice('POST', `/api/v1/apis/reviews/releases/${own.json().number}/reject`, { reason: 'again' })).json().code, 'WEIR_INVALID_STATE');
    const audit = (await admin('GET', '/api/v1/audit?kind=release&team=shop')).json().items;
    assert.ok(audit.some((e: { actor: string; before: { status: string }; after: { status: string } }) => e.actor === 'alice' && e.before?.status === 'pending-approval' && e.after?.status === 'approved'));
  });

  it('lists APIs, and deletes one only when no traffic depends on it', async () => {
    assert.deepEqual((await bob('GET', '/api/v1/apis')).json().items.map((a: { name: string }) => a.name), ['reviews', 'shop-v1', 'shop-v2']);
    const live = await bob('DELETE', '/api/v1/apis/reviews', undefined, { 'if-match': '"1"' });
    assert.equal(live.status, 409);
    assert.equal(live.json().code, 'WEIR_INVALID_STATE');
    await bob('POST', '/api/v1/apis', { name: 'scratch', team: 'shop', spec: { basePath: '/scratch', version: 'v0' } });
    assert.equal((await bob('DELETE', '/api/v1/apis/scratch', undefined, { 'if-match': '"1"' })).status, 204, 'a draft can go');
  });

  it('keeps another team out of every API operation', async () => {
    await admin('POST', '/api/v1/teams', { name: 'other' });
    await admin('POST', '/api/v1/users', { username: 'mallory', password: 'mallory-password-1' });
    await admin('PUT', '/api/v1/teams/other/members/mallory', { role: 'admin' });
    const mallory = coverage.wrap(await adminClient(weir.adminUrl, 'mallory', 'mallory-password-1'));
    const spec = { basePath: '/evil', version: 'v1' };
    const attempts: Array<[string, string, unknown?, Record<string, string>?]> = [
      ['GET', '/api/v1/apis/shop-v2'],
      ['PUT', '/api/v1/apis/shop-v2', { spec }, { 'if-match': '"1"' }],
      ['DELETE', '/api/v1/apis/shop-v2', undefined, { 'if-match': '"1"' }],
      ['GET', '/api/v1/apis/shop-v2/releases'],
      ['POST', '/api/v1/apis/shop-v2/releases', {}],
      ['GET', '/api/v1/apis/shop-v2/releases/1'],
      ['GET', '/api/v1/apis/shop-v2/releases/1/diff'],
      ['POST', '/api/v1/apis/shop-v2/releases/1/approve', {}],
      ['POST', '/api/v1/apis/shop-v2/releases/1/reject', { reason: 'x' }],
      ['GET', '/api/v1/apis/shop-v2/status'],
      ['POST', '/api/v1/apis/shop-v2/publish', { release: 1 }],
      ['POST', '/api/v1/apis/shop-v2/deprecate', {}],
      ['POST', '/api/v1/apis/shop-v2/retire'],
      ['GET', '/api/v1/apis/shop-v2/openapi.json'],
    ];
    for (const [method, path, body, headers] of attempts) {
      const res = await mallory(method, path, body, headers);
      assert.equal(res.status, 404, `${method} ${path} answered ${res.status}`);
    }
    assert.deepEqual((await mallory('GET', '/api/v1/apis')).json().items, []);
    assert.equal((await mallory('POST', '/api/v1/apis', { name: 'evil', team: 'shop', spec })).status, 404);
    assert.equal((await bob('GET', '/api/v1/apis/shop-v2/status')).json().state, 'published', 'nothing changed');
  });
});
