import { after, before, describe, it } from 'node:test';
import type { CallRecord } from '../../src/calls/record.js';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';

/** A call as the admin API shows it. */
type Call = Omit<CallRecord, 'at'> & { at: string };

describe('call log: API, consumer and team isolation', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let alice: AdminCall; // admin of shop, which owns the API
  let carol: AdminCall; // member of apps, whose consumer calls it
  let key = '';

  const list = async (who: AdminCall, query = ''): Promise<Call[]> => {
    await weir.node.calls!.flush();
    const res = await who('GET', `/api/v1/calls?limit=500${query}`);
    assert.equal(res.status, 200, res.body);
    return res.json().items;
  };

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`services:\n  backend: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: file-route, path: /file, service: backend }\n`);
    admin = await adminClient(weir.adminUrl);
    for (const team of ['shop', 'apps']) await admin('POST', '/api/v1/teams', { name: team });
    for (const user of ['alice', 'carol']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'admin' });
    await admin('PUT', '/api/v1/teams/apps/members/carol', { role: 'member', writes: ['consumer'] });
    alice = await adminClient(weir.adminUrl, 'alice', 'alice-password-1');
    carol = await adminClient(weir.adminUrl, 'carol', 'carol-password-1');
    const spec = { basePath: '/orders', version: 'v1', access: { keys: {} }, routes: [{ name: 'items', path: '/items/*', service: 'backend' }] };
    assert.equal((await alice('POST', '/api/v1/apis', { name: 'orders', team: 'shop', spec })).status, 201);
    await alice('POST', '/api/v1/apis/orders/releases', {});
    assert.equal((await alice('POST', '/api/v1/apis/orders/publish', { release: 1 })).status, 200);
    await carol('POST', '/api/v1/consumers', { name: 'mobile', team: 'apps' });
    key = (await carol('POST', '/api/v1/consumers/mobile/keys', {})).json().key;
    assert.equal((await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'orders' })).json().state, 'approved');
    // Probes (named probe-…) may meet the API before the key or subscription reached it: 4xx records the filters below leave out.
    let probe = 0;
    await until(async () => ((await call(`${weir.url}/orders/v1/items/0`, { headers: { 'x-api-key': key, 'x-request-id': `probe-${probe++}` } })).status === 200 ? true : undefined), 5000, 'the API to serve');
  });

  after(async () => {
    await weir?.close();
    await upstream?.close();
  });

  it('names the consumer key-auth identified, and the API, version and team that own the route', async () => {
    for (let i = 1; i <= 3; i++) assert.equal((await call(`${weir.url}/orders/v1/items/${i}`, { headers: { 'x-api-key': key, 'x-request-id': `keyed-${i}` } })).status, 200);
    const refused = await call(`${weir.url}/orders/v1/items/9`, { headers: { 'x-request-id': 'no-key' } });
    assert.equal(refused.status, 401);
    assert.equal((await call(`${weir.url}/file`, { headers: { 'x-request-id': 'file-1' } })).status, 200);
    const all = await list(admin);
    const keyed = all.filter((r) => r.id.startsWith('keyed-'));
    assert.equal(keyed.length, 3);
    for (const r of keyed) {
      assert.equal(r.consumer, 'mobile');
      assert.equal(r.team, 'shop');
      assert.equal(r.api, 'orders');
      assert.equal(r.apiVersion, 'v1');
      assert.equal(r.route, 'orders:items');
      assert.equal(r.status, 200);
    }
    const noKey = all.find((r) => r.id === 'no-key')!;
    assert.equal(noKey.status, 401);
    assert.equal(noKey.errorCode, 'WEIR_CREDENTIAL_MISSING');
    assert.equal(noKey.consumer, null);
    assert.equal(noKey.team, 'shop');
    assert.equal(all.find((r) => r.id === 'file-1')!.team, null);
    const byMobile = (await list(admin, '&consumer=mobile')).map((r) => r.id);
    assert.deepEqual(byMobile, all.filter((r) => r.consumer === 'mobile').map((r) => r.id));
    assert.ok(keyed.every((r) => byMobile.includes(r.id)));
    assert.deepEqual((await list(admin, '&api=orders&status=4xx')).map((r) => r.id).filter((id) => !id.startsWith('probe-')), ['no-key']);
  });

  it("shows a team only its own APIs' calls; admins see everything", async () => {
    const everything = await list(admin);
    const mine = await list(alice);
    assert.ok(mine.length > 0);
    assert.deepEqual(mine.map((r) => r.id), everything.filter((r) => r.team === 'shop').map((r) => r.id));
    assert.ok(!mine.some((r) => r.id === 'file-1'), "the file's routes are no team's");
    assert.deepEqual(await list(carol), [], "calling an API does not make its calls the caller's");
    assert.deepEqual(await list(alice, '&team=apps'), [], 'naming another team gives nothing');
    assert.deepEqual((await list(admin, '&team=shop')).map((r) => r.id), mine.map((r) => r.id));
    assert.equal((await alice('GET', '/api/v1/calls/keyed-1')).json().consumer, 'mobile');
    assert.equal((await alice('GET', '/api/v1/calls/file-1')).status, 404);
    assert.equal((await carol('GET', '/api/v1/calls/keyed-1')).status, 404);
    const exported = (await alice('GET', '/api/v1/calls/export')).body.trim().split('\n').map((l) => (JSON.parse(l) as Call).id);
    assert.deepEqual(exported, mine.map((r) => r.id));
    assert.equal((await carol('GET', '/api/v1/calls/export?format=csv')).body.trim().split('\r\n').length, 1, 'only the header');
  });
});
