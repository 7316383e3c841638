import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { assertValidOpenApi31, operationCoverage } from './render.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { ADMIN_PASSWORD, adminClient, call, startWeir, type AdminCall, type Reply, type TestWeir } from '../support/weir.js';

describe('admin API', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  const coverage = operationCoverage();
  const { ops, exercised } = coverage;
  const recording = coverage.wrap;

  async function signedIn(username: string, password: string): Promise<AdminCall> {
    return recording(await adminClient(weir.adminUrl, username, password));
  }

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  billing: { targets: [{ url: ${upstream.url} }] }
routes:
  - { name: billing, path: /billing/*, service: billing }
`);
    admin = await signedIn('admin', ADMIN_PASSWORD);
  });

  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('signs in with the first admin\'s password, refuses a wrong one, and throttles guessing', async () => {
    const login = (username: string, password: string) =>
      call(`${weir.adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    const ok = await login('admin', ADMIN_PASSWORD);
    assert.equal(ok.status, 200);
    assert.match(String(ok.headers['set-cookie']), /^weir_session=[\w-]{40,}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    assert.equal(ok.json().user.systemAdmin, true);
    assert.equal((await login('admin', 'nope')).json().code, 'WEIR_UNAUTHENTICATED');
    for (let i = 0; i < 4; i++) assert.equal((await login('mallory', 'guess')).status, 401);
    const fifth = await login('mallory', 'guess');
    assert.equal(fifth.status, 401);
    const throttled = await login('mallory', 'guess');
    assert.equal(throttled.status, 429);
    assert.equal(throttled.json().code, 'WEIR_LOGIN_THROTTLED');
    assert.ok(Number(throttled.headers['retry-after']) >= 1);
  });

  it('needs the CSRF token with a session cookie for changes, not with an access token', async () => {
    const login = await call(`${weir.adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }) });
    const cookie = String(login.headers['set-cookie']).split(';')[0]!;
    const body = JSON.stringify({ name: 'csrf-check' });
    const without = await call(`${weir.adminUrl}/api/v1/teams`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body });
    assert.equal(without.status, 403);
    assert.equal(without.json().code, 'WEIR_CSRF_FAILED');
    const withToken = await call(`${weir.adminUrl}/api/v1/teams`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': login.json().csrfToken }, body });
    assert.equal(withToken.status, 201);
    assert.equal((await call(`${weir.adminUrl}/api/v1/me`, { headers: { cookie } })).status, 200, 'reads need no CSRF token');
    const out = await call(`${weir.adminUrl}/api/v1/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': login.json().csrfToken } });
    assert.equal(out.status, 204);
    exercised.add('logout');
    assert.equal((await call(`${weir.adminUrl}/api/v1/me`, { headers: { cookie } })).status, 401, 'the session ended');
    const anonymous = await call(`${weir.adminUrl}/api/v1/teams`);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers['www-authenticate'], 'Bearer');
    exercised.add('login');
  });

  it('changes a password with the current one, and deletes users (not oneself)', async () => {
    assert.equal((await admin('POST', '/api/v1/users', { username: 'dora', password: 'dora-password-1' })).status, 201);
    const dora = await signedIn('dora', 'dora-password-1');
    const wrong = await dora('PUT', '/api/v1/me/password', { current: 'nope', password: 'dora-password-2' });
    assert.equal(wrong.status, 401);
    assert.equal((await dora('PUT', '/api/v1/me/password', { current: 'dora-password-1', password: 'short' })).status, 422);
    assert.equal((await dora('PUT', '/api/v1/me/password', { current: 'dora-password-1', password: 'dora-password-2' })).status, 204);
    const login = (password: string) => call(`${weir.adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'dora', password }) });
    assert.equal((await login('dora-password-1')).status, 401);
    assert.equal((await login('dora-password-2')).status, 200);
    assert.equal((await dora('DELETE', '/api/v1/users/dora')).status, 403, 'not a system admin');
    const me = (await admin('GET', '/api/v1/me')).json().user.username;
    assert.equal((await admin('DELETE', `/api/v1/users/${me}`)).json().code, 'WEIR_IN_USE');
    assert.equal((await admin('DELETE', '/api/v1/users/dora')).status, 204);
    assert.equal((await dora('GET', '/api/v1/me')).status, 401, 'her tokens went with her');
    assert.equal((await admin('DELETE', '/api/v1/users/dora')).status, 404);
  });

  it('lists and revokes access tokens; a revoked token stops working', async () => {
    const created = await admin('POST', '/api/v1/me/tokens', { name: 'short-lived', expiresInDays: 1 });
    assert.equal(created.status, 201);
    const { token, id, prefix } = created.json();
    assert.ok(token.startsWith(prefix));
    assert.equal((await admin('GET', '/api/v1/me')).json().user.username, 'admin');
    assert.ok((await admin('GET', '/api/v1/users')).json().items.some((u: { username: string }) => u.username === 'admin'));
    const listed = (await admin('GET', '/api/v1/me/tokens')).json().items;
    assert.ok(listed.some((t: { id: string; token?: string }) => t.id === id && t.token === undefined), 'listed, never shown again');
    const me = await call(`${weir.adminUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.json().user.username, 'admin');
    assert.equal((await admin('DELETE', `/api/v1/me/tokens/${id}`)).status, 204);
    assert.equal((await call(`${weir.adminUrl}/api/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await admin('DELETE', `/api/v1/me/tokens/${id}`)).status, 404);
  });

  describe('teams, roles and resources', () => {
    let alice: AdminCall; // member of shop, may write routes
    let bob: AdminCall; // admin of travel
    let carol: AdminCall; // viewer of shop

    before(async () => {
      for (const team of ['shop', 'travel']) assert.equal((await admin('POST', '/api/v1/teams', { name: team, description: `the ${team} team` })).status, 201);
      for (const user of ['alice', 'bob', 'carol']) assert.equal((await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` })).status, 201);
      assert.equal((await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'member', writes: ['route'] })).status, 200);
      assert.equal((await admin('PUT', '/api/v1/teams/travel/members/bob', { role: 'admin' })).status, 200);
      assert.equal((await admin('PUT', '/api/v1/teams/shop/members/carol', { role: 'viewer' })).status, 200);
      [alice, bob, carol] = await Promise.all([signedIn('alice', 'alice-password-1'), signedIn('bob', 'bob-password-1'), signedIn('carol', 'carol-password-1')]);
    });

    it('puts a team\'s new service and route into traffic on the running gateway', async () => {
      const service = await bob('POST', '/api/v1/services', { name: 'flights', team: 'travel', spec: { targets: [{ url: upstream.url }] } });
      assert.equal(service.status, 201);
      assert.equal(service.headers['etag'], '"1"');
      assert.equal(service.headers['location'], '/api/v1/services/flights');
      const route = await bob('POST', '/api/v1/routes', { name: 'flight-search', team: 'travel', spec: { path: '/flights/*', service: 'flights' } });
      assert.equal(route.status, 201);
      const served = await until(async () => {
        const res = await call(`${weir.url}/flights/search`);
        return res.status === 200 ? res : undefined;
      }, 5000, 'the new route to serve');
      assert.equal(served.json().url, '/flights/search');
    });

    it('keeps teams apart: nobody outside a team reads, lists or changes its things', async () => {
      await bob('POST', '/api/v1/flows', { name: 'trip', team: 'travel', spec: { path: '/trip', steps: { f: { service: 'flights', path: '/x' } }, response: '{{ steps.f.body }}' } });
      const specs = {
        services: { targets: [{ url: upstream.url }] },
        routes: { path: '/taken', service: 'flights' },
        flows: { path: '/taken', steps: {}, response: 1 },
      };
      for (const [plural, name] of [['services', 'flights'], ['routes', 'flight-search'], ['flows', 'trip']] as const) {
        assert.equal((await alice('GET', `/api/v1/${plural}/${name}`)).status, 404, `alice reads ${plural}/${name}`);
        assert.equal((await alice('PUT', `/api/v1/${plural}/${name}`, { spec: specs[plural] }, { 'if-match': '"1"' })).status, 404, `alice replaces ${plural}/${name}`);
        assert.equal((await alice('DELETE', `/api/v1/${plural}/${name}`, undefined, { 'if-match': '"1"' })).status, 404, `alice deletes ${plural}/${name}`);
        assert.deepEqual((await alice('GET', `/api/v1/${plural}`)).json().items.filter((i: { team: string }) => i.team === 'travel'), [], `alice lists ${plural}`);
        assert.deepEqual((await alice('GET', `/api/v1/${plural}?team=travel`)).json().items, []);
      }
      assert.equal((await alice('POST', '/api/v1/routes', { name: 'sneaky', team: 'travel', spec: { path: '/sneaky', service: 'flights' } })).status, 404, 'creating in another team');
      assert.equal((await alice('GET', '/api/v1/teams/travel')).status, 404);
      assert.equal((await alice('GET', '/api/v1/teams/travel/members')).status, 404);
      assert.equal((await alice('PUT', '/api/v1/teams/travel/members/alice', { role: 'admin' })).status, 404);
      assert.deepEqual((await alice('GET', '/api/v1/teams')).json().items.map((t: { name: string }) => t.name), ['shop']);
      assert.deepEqual((await alice('GET', '/api/v1/audit')).json().items.filter((e: { team: string | null }) => e.team !== 'shop'), [], 'only her team\'s audit entries');
      assert.equal((await alice('GET', '/api/v1/users')).status, 403);
      assert.equal((await alice('POST', '/api/v1/teams', { name: 'mine' })).status, 403);
    });

    it('lets a member write only what the team admin allows, and a viewer only read', async () => {
      assert.equal((await admin('POST', '/api/v1/services', { name: 'catalog', team: 'shop', spec: { targets: [{ url: upstream.url }] } })).status, 201);
      const denied = await alice('POST', '/api/v1/services', { name: 'alices', team: 'shop', spec: { targets: [{ url: upstream.url }] } });
      assert.equal(denied.status, 403);
      assert.equal(denied.json().code, 'WEIR_FORBIDDEN');
      assert.equal((await alice('POST', '/api/v1/routes', { name: 'catalog', team: 'shop', spec: { path: '/catalog/*', service: 'catalog' } })).status, 201);
      assert.equal((await carol('GET', '/api/v1/routes/catalog')).status, 200);
      assert.equal((await carol('POST', '/api/v1/routes', { name: 'carols', team: 'shop', spec: { path: '/carol', service: 'catalog' } })).status, 403);
      assert.equal((await carol('PUT', '/api/v1/teams/shop/members/carol', { role: 'admin' })).status, 403, 'a viewer cannot promote herself');
      assert.deepEqual((await carol('GET', '/api/v1/teams/shop/members')).json().items.map((m: { username: string; role: string }) => `${m.username}:${m.role}`), ['alice:member', 'carol:viewer']);
    });

    it('needs If-Match for changes and refuses stale ones, so no change is lost', async () => {
      const read = await bob('GET', '/api/v1/services/flights');
      assert.equal(read.headers['etag'], '"1"');
      const spec = { ...read.json().spec, timeouts: { read: '2s' } };
      const blind = await bob('PUT', '/api/v1/services/flights', { spec });
      assert.equal(blind.status, 428);
      assert.equal(blind.json().code, 'WEIR_PRECONDITION_REQUIRED');
      const first = await bob('PUT', '/api/v1/services/flights', { spec }, { 'if-match': '"1"' });
      assert.equal(first.status, 200);
      assert.equal(first.headers['etag'], '"2"');
      const stale = await bob('PUT', '/api/v1/services/flights', { spec: read.json().spec }, { 'if-match': '"1"' });
      assert.equal(stale.status, 412);
      assert.equal(stale.json().code, 'WEIR_PRECONDITION_FAILED');
      assert.equal(stale.json().currentVersion, 2);
      assert.deepEqual((await bob('GET', '/api/v1/services/flights')).json().spec.timeouts, { read: '2s' });
    });

    it('refuses a change that would break the gateway config, naming the problem, and keeps serving', async () => {
      const broken = await bob('POST', '/api/v1/routes', { name: 'dangling', team: 'travel', spec: { path: '/dangling', service: 'nowhere' } });
      assert.equal(broken.status, 422);
      assert.equal(broken.json().code, 'WEIR_CONFIG_INVALID');
      assert.ok(broken.json().problems.some((p: { pointer: string; message: string }) => p.pointer.endsWith('/service') && /nowhere/.test(p.message)), broken.body);
      assert.equal((await bob('GET', '/api/v1/routes/dangling')).status, 404, 'nothing was stored');
      const inUse = await bob('DELETE', '/api/v1/services/flights', undefined, { 'if-match': '"2"' });
      assert.equal(inUse.status, 422, 'a route still uses the service');
      const clash = await admin('POST', '/api/v1/services', { name: 'billing', team: 'shop', spec: { targets: [{ url: upstream.url }] } });
      assert.equal(clash.status, 409, 'the config file already defines it');
      assert.equal((await call(`${weir.url}/flights/ok`)).status, 200, 'still serving');
    });

    it('answers bad bodies with the pointer of the problem', async () => {
      const bad = await bob('POST', '/api/v1/services', { name: 'x', team: 'travel', spec: { targets: 'nope' } });
      assert.equal(bad.status, 422);
      assert.equal(bad.json().code, 'WEIR_VALIDATION_FAILED');
      assert.ok(bad.json().problems.some((p: { pointer: string }) => p.pointer === '/spec/targets'), bad.body);
      const unknownKey = await bob('POST', '/api/v1/routes', { name: 'x', team: 'travel', spec: { path: '/x', service: 'flights', colour: 'red' } });
      assert.equal(unknownKey.status, 422);
      const notJson = await call(`${weir.adminUrl}/api/v1/teams`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'text/plain' }, body: 'hi' });
      assert.equal(notJson.status, 401, 'credentials are checked first');
      const huge = await admin('POST', '/api/v1/teams', { name: 'big', description: 'x'.repeat(2 * 1024 * 1024) });
      assert.equal(huge.status, 413);
      assert.equal(huge.json().code, 'WEIR_BODY_TOO_LARGE');
      assert.equal((await admin('GET', '/api/v1/services/nope')).json().code, 'WEIR_NOT_FOUND');
      assert.equal((await admin('POST', '/api/v1/teams', { name: 'shop' })).status, 409);
    });

    it('records every change in the audit log, with who and before/after', async () => {
      const entries = (await admin('GET', '/api/v1/audit?kind=service&team=travel')).json().items;
      const flights = entries.filter((e: { name: string }) => e.name === 'flights');
      assert.deepEqual(flights.map((e: { action: string; actor: string }) => `${e.action} by ${e.actor}`), ['update by bob', 'create by bob']);
      assert.equal(flights[0].before.timeouts, undefined);
      assert.deepEqual(flights[0].after.timeouts, { read: '2s' });
      const page = await admin('GET', '/api/v1/audit?limit=2');
      assert.equal(page.json().items.length, 2);
      assert.equal((await admin('GET', `/api/v1/audit?limit=2&after=${page.json().next}`)).json().items[0].id < page.json().items[1].id, true);
    });

    it('moves, then deletes resources; deleting a team that owns some is refused', async () => {
      assert.equal((await admin('DELETE', '/api/v1/teams/shop')).json().code, 'WEIR_IN_USE');
      const moved = await admin('PUT', '/api/v1/routes/catalog', { team: 'travel', spec: { path: '/catalog/*', service: 'catalog' } }, { 'if-match': '"1"' });
      assert.equal(moved.json().team, 'travel');
      assert.equal((await alice('GET', '/api/v1/routes/catalog')).status, 404, 'no longer alice\'s team\'s');
      assert.equal((await admin('DELETE', '/api/v1/routes/catalog', undefined, { 'if-match': '"2"' })).status, 204);
      assert.equal((await admin('DELETE', '/api/v1/services/catalog', undefined, { 'if-match': '"1"' })).status, 204);
      assert.equal((await admin('DELETE', '/api/v1/teams/shop/members/carol')).status, 204);
      assert.equal((await carol('GET', '/api/v1/routes')).json().items.length, 0);
      assert.equal((await admin('POST', '/api/v1/teams', { name: 'empty' })).status, 201);
      assert.equal((await admin('DELETE', '/api/v1/teams/empty')).status, 204);
      await until(async () => ((await call(`${weir.url}/catalog/x`)).status === 404 ? true : undefined), 5000, 'the deleted route to stop serving');
    });
  });

  it('publishes an OpenAPI 3.1 document of every operation, and a reference page', async () => {
    const doc = (await call(`${weir.adminUrl}/api/v1/openapi.json`)).json();
    assertValidOpenApi31(doc);
    const documented = Object.values(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap((item) => Object.values(item).map((op) => op.operationId));
    assert.deepEqual(documented.sort(), ops.map((o) => o.operationId).sort());
    assert.deepEqual(doc.paths['/api/v1/services/{name}'].put.parameters.map((p: { name: string; in: string }) => `${p.in}:${p.name}`), ['path:name', 'header:if-match']);
    assert.ok(doc.paths['/api/v1/services'].post.responses['422'].description.includes('WEIR_CONFIG_INVALID'));
    const page = await call(`${weir.adminUrl}/api/v1/docs`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /fetch\('\/api\/v1\/openapi.json'\)/);
  });

  after(() => {
    // Runs last: every documented operation was called above (runtime ones have their own tests).
    // Runtime operations have their own tests (test/flows/explain.test.ts), APIs and secrets theirs,
    // checks test/observability/synthetic.test.ts, analytics test/calllog/analytics.test.ts.
    assert.deepEqual(coverage.missing({ except: ['runtime', 'apis', 'secrets', 'openapi', 'settings', 'consumers', 'cache', 'calls', 'checks', 'analytics'] }), [], 'operations no test called');
  });
});

export type { Reply };
