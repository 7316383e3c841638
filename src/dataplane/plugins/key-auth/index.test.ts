import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

const hash = (key: string) => createHash('sha256').update(key).digest('base64url');
const entry = (consumer: string, subscription: string, expiresAt: number | null = null) =>
  `{ consumer: ${consumer}, team: t1, credential: c-${consumer}, expiresAt: ${expiresAt ?? 'null'}, subscription: ${subscription} }`;

describe('key-auth plugin', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    upstream = await startUpstream();
    const keys = `{ "${hash('k-live')}": ${entry('app', 'approved')}, "${hash('k-old')}": ${entry('old', 'approved', 1000)}, "${hash('k-wait')}": ${entry('wait', 'pending')} }`;
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - { path: /hidden/*, service: s, plugins: [{ name: key-auth, config: { api: a, keys: ${keys} } }] }
  - { path: /shown/*, service: s, plugins: [{ name: key-auth, config: { api: a, header: x-key, hideCredentials: false, keys: ${keys} } }] }
`);
  });

  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('lets a live, subscribed key through with identity headers', async () => {
    const res = await call(`${weir.url}/hidden/1`, { headers: { 'x-api-key': 'k-live', 'x-consumer-team': 'forged' } });
    assert.equal(res.status, 200);
    const seen = upstream.requests.at(-1)!.headers;
    assert.deepEqual([seen['x-consumer-id'], seen['x-consumer-team'], seen['x-credential-id'], seen['x-api-key']], ['app', 't1', 'c-app', undefined]);
    assert.equal((await call(`${weir.url}/shown/1`, { headers: { 'x-key': 'k-live' } })).status, 200);
    assert.equal(upstream.requests.at(-1)!.headers['x-key'], 'k-live', 'kept when hideCredentials is false');
  });

  it('refuses expired, forged and malformed credentials with 401, and unapproved ones with 403', async () => {
    const code = async (headers: Record<string, string>) => (await call(`${weir.url}/hidden/1`, { headers })).json().code;
    assert.equal(await code({ 'x-api-key': 'k-old' }), 'WEIR_CREDENTIAL_INVALID', 'expired');
    assert.equal(await code({ 'x-api-key': 'k-livE' }), 'WEIR_CREDENTIAL_INVALID', 'not byte-for-byte the key');
    assert.equal(await code({ authorization: 'Basic a2V5Og==' }), 'WEIR_CREDENTIAL_MISSING', 'another scheme');
    assert.equal(await code({ authorization: 'Bearer' }), 'WEIR_CREDENTIAL_MISSING', 'no token');
    assert.equal(await code({ 'x-api-key': 'k-wait' }), 'WEIR_SUBSCRIPTION_PENDING');
    const count = upstream.requests.length;
    await call(`${weir.url}/hidden/1`, { headers: { 'x-api-key': 'k-old' } });
    assert.equal(upstream.requests.length, count, 'refused requests never reach the upstream');
  });

  it('checks its table at load, with the line', () => {
    const problems = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: key-auth, config: { api: a, keys: { h: { consumer: c } } } }]
`);
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/plugins/0/config/keys/h')), problems.join('\n'));
  });
});
