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
  - path: /limited
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 1000, window: 1m, by: [ip] }] }
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

  it('switches the rate-limit counters live: Redis unreachable with onRedisDown closed refuses, back to memory admits', async () => {
    assert.equal((await call(`${weir.url}/limited`)).status, 200);
    const closed = await admin('PUT', '/api/v1/settings', { settings: { rateLimits: { store: 'redis', redis: { url: 'redis://127.0.0.1:1', timeout: '100ms' }, onRedisDown: 'closed' } } }, { 'if-match': '"1"' });
    assert.equal(closed.status, 200, closed.body);
    const refused = await until(async () => {
      const r = await call(`${weir.url}/limited`);
      return r.status === 503 ? r : undefined;
    }, 5000, 'the Redis counters to apply');
    assert.equal(refused.json().code, 'WEIR_RATE_LIMIT_UNAVAILABLE');
    assert.equal((await admin('PUT', '/api/v1/settings', { settings: { rateLimits: { store: 'memory' } } }, { 'if-match': '"2"' })).status, 200);
    await until(async () => ((await call(`${weir.url}/limited`)).status === 200 ? true : undefined), 5000, 'the memory counters to apply again');
    const bad = await admin('PUT', '/api/v1/settings', { settings: { rateLimits: { store: 'etcd' } } }, { 'if-match': '"3"' });
    assert.equal(bad.status, 422);
    assert.match(bad.body, /rateLimits\/store/);
  });

  it('refuses what would break the config, stale versions, ports, and non-admins', async () => {
    const bad = await admin('PUT', '/api/v1/settings', { settings: { plugins: [{ name: 'nope' }] } }, { 'if-match': '"3"' });
    assert.equal(bad.status, 422);
    assert.equal(bad.json().code, 'WEIR_CONFIG_INVALID');
    assert.match(bad.body, /unknown plugin \\"nope\\"/);
    assert.equal((await admin('PUT', '/api/v1/settings', { settings: {} }, { 'if-match': '"0"' })).json().code, 'WEIR_PRECONDITION_FAILED');
    assert.equal((await admin('PUT', '/api/v1/settings', { settings: { listen: { port: 1 } } }, { 'if-match': '"3"' })).json().code, 'WEIR_VALIDATION_FAILED', 'ports need a restart: not settable live');
    await admin('POST', '/api/v1/users', { username: 'eve', password: 'eve-password-12' });
    const eve = coverage.wrap(await adminClient(weir.adminUrl, 'eve', 'eve-password-12'));
    assert.equal((await eve('GET', '/api/v1/settings')).status, 403);
    assert.equal((await eve('PUT', '/api/v1/settings', { settings: {} }, { 'if-match': '"3"' })).status, 403);
    assert.equal((await admin('GET', '/api/v1/audit?kind=settings')).json().items[0].actor, 'admin');
  });
});
