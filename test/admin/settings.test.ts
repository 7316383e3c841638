import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from './render.js';

describe('gateway-wide settings through the admin API', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  const coverage = operationCoverage();

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
global:
  proxy: { via: false }
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - { path: /a/*, service: s }
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    assert.deepEqual(coverage.missing({ only: ['settings'] }), [], 'settings operations no test called');
  });

  it('lays stored settings over the file\'s global, live on every route', async () => {
    const empty = await admin('GET', '/api/v1/settings');
    assert.deepEqual(empty.json(), { settings: {}, version: 0 });
    assert.equal(empty.headers['etag'], '"0"');
    const set = await admin('PUT', '/api/v1/settings', { settings: { plugins: [{ name: 'headers', config: { response: { set: { 'x-gateway': 'weir' } } } }], limits: { maxBodySize: '1kb' } } }, { 'if-match': '"0"' });
    assert.equal(set.status, 200, set.body);
    assert.equal(set.headers['etag'], '"1"');
    const res = await until(async () => {
      const r = await call(`${weir.url}/a/x`);
      return r.headers['x-gateway'] === 'weir' ? r : undefined;
    }, 5000, 'the global plugin to apply');
    assert.equal(res.headers['via'], undefined, 'the file\'s proxy settings still apply');
    const big = await call(`${weir.url}/a/x`, { method: 'POST', body: 'x'.repeat(2048) });
    assert.equal(big.status, 413, 'the stored limit applies');
  });

  it('refuses what would break the config, stale versions, ports, and non-admins', async () => {
    const bad = await admin('PUT', '/api/v1/settings', { settings: { plugins: [{ name: 'nope' }] } }, { 'if-match': '"1"' });
    assert.equal(bad.status, 422);
    assert.equal(bad.json().code, 'WEIR_CONFIG_INVALID');
    assert.match(bad.body, /unknown plugin \\"nope\\"/);
    assert.equal((await admin('PUT', '/api/v1/settings', { settings: {} }, { 'if-match': '"0"' })).json().code, 'WEIR_PRECONDITION_FAILED');
    assert.equal((await admin('PUT', '/api/v1/settings', { settings: { listen: { port: 1 } } }, { 'if-match': '"1"' })).json().code, 'WEIR_VALIDATION_FAILED', 'ports need a restart: not settable live');
    await admin('POST', '/api/v1/users', { username: 'eve', password: 'eve-password-12' });
    const eve = coverage.wrap(await adminClient(weir.adminUrl, 'eve', 'eve-password-12'));
    assert.equal((await eve('GET', '/api/v1/settings')).status, 403);
    assert.equal((await eve('PUT', '/api/v1/settings', { settings: {} }, { 'if-match': '"1"' })).status, 403);
    assert.equal((await admin('GET', '/api/v1/audit?kind=settings')).json().items[0].actor, 'admin');
  });
});
