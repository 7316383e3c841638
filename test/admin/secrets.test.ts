import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from './render.js';

describe('secrets', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let bob: AdminCall; // admin of travel
  const coverage = operationCoverage();
  const VALUE = 'Bearer s3cret-value-abcd';

  const authSeenUpstream = async (path: string, expected: string) =>
    until(async () => {
      const res = await call(`${weir.url}${path}`);
      return res.status === 200 && res.json().headers.authorization === expected ? true : undefined;
    }, 5000, `${path} to send "${expected}" upstream`);

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`services:\n  billing: { targets: [{ url: ${upstream.url} }] }\nroutes: []\n`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    for (const team of ['travel', 'shop']) await admin('POST', '/api/v1/teams', { name: team });
    await admin('POST', '/api/v1/users', { username: 'bob', password: 'bob-password-1' });
    await admin('PUT', '/api/v1/teams/travel/members/bob', { role: 'admin' });
    bob = coverage.wrap(await adminClient(weir.adminUrl, 'bob', 'bob-password-1'));
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    assert.deepEqual(coverage.missing({ only: ['secrets'] }), [], 'secret operations no test called');
  });

  it('stores a secret sealed, shows only a hint, and fills it in where a spec refers to it', async () => {
    const created = await bob('POST', '/api/v1/secrets', { name: 'billing-token', team: 'travel', value: VALUE });
    assert.equal(created.status, 201);
    assert.equal(created.json().hint, '…abcd');
    assert.equal(created.json().reference, '${secret:billing-token}');
    assert.equal(created.body.includes('s3cret'), false);
    const route = await bob('POST', '/api/v1/routes', {
      name: 'billing',
      team: 'travel',
      spec: { path: '/billing/*', service: 'billing', plugins: [{ name: 'headers', config: { request: { set: { authorization: '${secret:billing-token}' } } } }] },
    });
    assert.equal(route.status, 201, route.body);
    await authSeenUpstream('/billing/x', VALUE);
    assert.equal((await bob('GET', '/api/v1/routes/billing')).json().spec.plugins[0].config.request.set.authorization, '${secret:billing-token}', 'the API shows the reference, not the value');
    for (const res of [await bob('GET', '/api/v1/secrets/billing-token'), await bob('GET', '/api/v1/secrets'), await admin('GET', '/api/v1/audit?kind=secret')]) {
      assert.equal(res.status, 200);
      assert.equal(res.body.includes('s3cret'), false, 'never returned, not even in the audit log');
    }
    const db = readFileSync(join(weir.dataDir, 'weir.db'));
    const wal = readFileSync(join(weir.dataDir, 'weir.db-wal'));
    assert.equal(db.includes('s3cret') || wal.includes('s3cret'), false, 'not stored in clear');
  });

  it('rotates: everything using the secret gets the new value at once', async () => {
    const read = await bob('GET', '/api/v1/secrets/billing-token');
    assert.equal((await bob('PUT', '/api/v1/secrets/billing-token', { value: 'Bearer rotated-9876' })).status, 428);
    const rotated = await bob('PUT', '/api/v1/secrets/billing-token', { value: 'Bearer rotated-9876' }, { 'if-match': read.headers['etag'] as string });
    assert.equal(rotated.json().hint, '…9876');
    assert.equal(rotated.json().version, 2);
    await authSeenUpstream('/billing/y', 'Bearer rotated-9876');
  });

  it('keeps another team\'s members away from a secret in every operation', async () => {
    await admin('POST', '/api/v1/users', { username: 'sam', password: 'sam-password-12' });
    await admin('PUT', '/api/v1/teams/shop/members/sam', { role: 'admin' });
    const sam = coverage.wrap(await adminClient(weir.adminUrl, 'sam', 'sam-password-12'));
    assert.equal((await sam('GET', '/api/v1/secrets/billing-token')).status, 404);
    assert.equal((await sam('PUT', '/api/v1/secrets/billing-token', { value: 'mine now' }, { 'if-match': '"2"' })).status, 404);
    assert.equal((await sam('DELETE', '/api/v1/secrets/billing-token', undefined, { 'if-match': '"2"' })).status, 404);
    assert.deepEqual((await sam('GET', '/api/v1/secrets')).json().items, []);
    assert.equal((await sam('POST', '/api/v1/secrets', { name: 'x', team: 'travel', value: 'v' })).status, 404);
    assert.equal((await bob('GET', '/api/v1/secrets/billing-token')).json().version, 2, 'untouched');
  });

  it('keeps teams from using each other\'s secrets, and will not delete one in use', async () => {
    await admin('POST', '/api/v1/services', { name: 'shop-svc', team: 'shop', spec: { targets: [{ url: upstream.url }] } });
    const stolen = await admin('POST', '/api/v1/routes', {
      name: 'steal',
      team: 'shop',
      spec: { path: '/steal/*', service: 'shop-svc', plugins: [{ name: 'headers', config: { request: { set: { 'x-loot': '${secret:billing-token}' } } } }] },
    });
    assert.equal(stolen.status, 422);
    assert.match(stolen.json().detail, /its team has no secret "billing-token"/);
    assert.equal((await admin('GET', '/api/v1/secrets')).json().items.length, 1);
    const inUse = await bob('DELETE', '/api/v1/secrets/billing-token', undefined, { 'if-match': '"2"' });
    assert.equal(inUse.status, 422);
    assert.equal((await bob('DELETE', '/api/v1/routes/billing', undefined, { 'if-match': '"1"' })).status, 204);
    assert.equal((await bob('DELETE', '/api/v1/secrets/billing-token', undefined, { 'if-match': '"2"' })).status, 204);
  });
});
