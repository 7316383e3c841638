import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from './render.js';
import { signRequest } from '../support/signature.js';

describe('consumers, API keys and subscriptions, enforced by the data plane', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let alice: AdminCall; // admin of shop, which owns the API
  let carol: AdminCall; // member of apps, which builds the mobile app
  let key = '';
  const coverage = operationCoverage();

  /** Calls the API until its answer has `code` (changes reach the data plane asynchronously). */
  const answers = (headers: Record<string, string>, expect: number, code?: string) =>
    until(async () => {
      const res = await call(`${weir.url}/orders/v1/items/1`, { headers });
      return res.status === expect && (code === undefined || res.json().code === code) ? res : undefined;
    }, 5000, `the API to answer ${expect} ${code ?? ''}`);

  const answersAt = (url: string, headers: Record<string, string>, expect: number) =>
    until(async () => ((await call(url, { headers })).status === expect ? true : undefined), 5000, `${url} to answer ${expect}`);

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`services:\n  backend: { targets: [{ url: ${upstream.url} }] }\nroutes: []\n`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    for (const team of ['shop', 'apps']) await admin('POST', '/api/v1/teams', { name: team });
    for (const user of ['alice', 'carol']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'admin' });
    await admin('PUT', '/api/v1/teams/apps/members/carol', { role: 'member', writes: ['consumer'] });
    alice = coverage.wrap(await adminClient(weir.adminUrl, 'alice', 'alice-password-1'));
    carol = coverage.wrap(await adminClient(weir.adminUrl, 'carol', 'carol-password-1'));
    const spec = { basePath: '/orders', version: 'v1', access: { keys: {}, approval: 'manual' }, routes: [{ name: 'items', path: '/items/*', service: 'backend' }] };
    assert.equal((await alice('POST', '/api/v1/apis', { name: 'orders-v1', team: 'shop', spec })).status, 201);
    await alice('POST', '/api/v1/apis/orders-v1/releases', {});
    assert.equal((await alice('POST', '/api/v1/apis/orders-v1/publish', { release: 1 })).status, 200);
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    assert.deepEqual(coverage.missing({ only: ['consumers'] }), [], 'consumer operations no test called');
  });

  it('refuses calls without a key, with WWW-Authenticate', async () => {
    const res = await answers({}, 401, 'WEIR_CREDENTIAL_MISSING');
    assert.match(String(res.headers['www-authenticate']), /^ApiKey header="x-api-key", Bearer$/);
    assert.equal((await call(`${weir.url}/orders/v1/items/1`, { headers: { 'x-api-key': 'weir_key_forged' } })).json().code, 'WEIR_CREDENTIAL_INVALID');
    assert.equal(upstream.requests.length, 0);
  });

  it('takes a key only with an approved subscription, saying why not otherwise', async () => {
    assert.equal((await carol('POST', '/api/v1/consumers', { name: 'mobile', team: 'apps', description: 'the iOS app' })).status, 201);
    const created = await carol('POST', '/api/v1/consumers/mobile/keys', {});
    assert.equal(created.status, 201);
    key = created.json().key;
    assert.match(key, /^weir_key_/);
    assert.equal((await carol('GET', '/api/v1/consumers/mobile/keys')).json().items[0].prefix, created.json().prefix);
    await answers({ 'x-api-key': key }, 403, 'WEIR_NOT_SUBSCRIBED');

    const pending = await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'orders-v1' });
    assert.equal(pending.json().state, 'pending');
    await answers({ 'x-api-key': key }, 403, 'WEIR_SUBSCRIPTION_PENDING');
    assert.deepEqual((await alice('GET', '/api/v1/apis/orders-v1/subscriptions')).json().items.map((s: { consumer: string; state: string }) => `${s.consumer}:${s.state}`), ['mobile:pending']);
    assert.equal((await carol('POST', '/api/v1/apis/orders-v1/subscriptions/mobile/approve', {})).status, 404, 'the consumer team cannot see, let alone approve');

    const approved = await alice('POST', '/api/v1/apis/orders-v1/subscriptions/mobile/approve', { reason: 'known partner' });
    assert.equal(approved.json().state, 'approved');
    assert.equal(approved.json().decidedBy, 'alice');
    await answers({ 'x-api-key': key, 'x-consumer-id': 'forged-admin' }, 200);
    const seen = upstream.requests.at(-1)!;
    assert.equal(seen.url, '/items/1');
    assert.equal(seen.headers['x-consumer-id'], 'mobile', 'the client\'s forged copy was replaced');
    assert.equal(seen.headers['x-api-key'], undefined, 'the key is hidden from the upstream');
    assert.equal(typeof seen.headers['x-credential-id'], 'string');
    assert.equal((await call(`${weir.url}/orders/v1/items/2`, { headers: { authorization: `Bearer ${key}` } })).status, 200, 'Bearer works too');
    assert.deepEqual((await carol('GET', '/api/v1/consumers/mobile/subscriptions')).json().items.map((s: { state: string }) => s.state), ['approved']);
    const audit = (await admin('GET', '/api/v1/audit?kind=subscription')).json().items;
    assert.ok(audit.some((e: { actor: string; after: { state: string } }) => e.actor === 'alice' && e.after.state === 'approved'));
  });

  it('stops a revoked subscription and a revoked key', async () => {
    assert.equal((await alice('POST', '/api/v1/apis/orders-v1/subscriptions/mobile/revoke', { reason: 'abuse' })).json().state, 'revoked');
    await answers({ 'x-api-key': key }, 403, 'WEIR_SUBSCRIPTION_REVOKED');
    assert.equal((await alice('POST', '/api/v1/apis/orders-v1/subscriptions/mobile/revoke', { reason: 'again' })).json().code, 'WEIR_INVALID_STATE');
    await alice('POST', '/api/v1/apis/orders-v1/subscriptions/mobile/approve', {});
    await answers({ 'x-api-key': key }, 200);
    const id = (await carol('GET', '/api/v1/consumers/mobile/keys')).json().items[0].id;
    assert.equal((await carol('DELETE', `/api/v1/consumers/mobile/keys/${id}`)).status, 204);
    await answers({ 'x-api-key': key }, 401, 'WEIR_CREDENTIAL_INVALID');
  });

  it('rejects with a reason, and a consumer goes with its keys', async () => {
    await carol('POST', '/api/v1/consumers', { name: 'web', team: 'apps' });
    const webKey = (await carol('POST', '/api/v1/consumers/web/keys', { expiresInDays: 30 })).json().key;
    await carol('POST', '/api/v1/consumers/web/subscriptions', { api: 'orders-v1' });
    const rejected = await alice('POST', '/api/v1/apis/orders-v1/subscriptions/web/reject', { reason: 'not yet' });
    assert.equal(rejected.json().reason, 'not yet');
    await answers({ 'x-api-key': webKey }, 403, 'WEIR_SUBSCRIPTION_REJECTED');
    assert.equal((await carol('GET', '/api/v1/consumers/web')).json().team, 'apps');
    assert.deepEqual((await carol('GET', '/api/v1/consumers')).json().items.map((c: { name: string }) => c.name), ['mobile', 'web']);
    assert.equal((await alice('GET', '/api/v1/consumers/web')).status, 404, 'another team\'s consumer');
    assert.equal((await carol('DELETE', '/api/v1/consumers/web')).status, 204);
    await answers({ 'x-api-key': webKey }, 401, 'WEIR_CREDENTIAL_INVALID');
    const draft = await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'nope' });
    assert.equal(draft.status, 404);
  });

  it('takes JWTs instead of keys when the API says so, its signing key a team secret', async () => {
    const key = 'an-idp-shared-secret-of-32-bytes-or-more';
    await alice('POST', '/api/v1/secrets', { name: 'idp-key', team: 'shop', value: key });
    const spec = { basePath: '/jwt', version: 'v1', access: { jwt: { issuer: 'https://idp.test', secret: '${secret:idp-key}', algorithms: ['HS256'] } }, routes: [{ name: 'all', path: '/*', service: 'backend' }] };
    assert.equal((await alice('POST', '/api/v1/apis', { name: 'jwt-v1', team: 'shop', spec })).status, 201);
    await alice('POST', '/api/v1/apis/jwt-v1/releases', {});
    await alice('POST', '/api/v1/apis/jwt-v1/publish', { release: 1 });
    assert.equal((await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'jwt-v1' })).json().state, 'approved', 'approval: auto by default');
    const jwt = await new SignJWT({ sub: 'mobile' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.test').setExpirationTime('5m').sign(new TextEncoder().encode(key));
    const ok = await until(async () => {
      const res = await call(`${weir.url}/jwt/v1/x`, { headers: { authorization: `Bearer ${jwt}` } });
      return res.status === 200 ? res : undefined;
    }, 5000, 'the JWT API to serve');
    assert.equal(ok.status, 200);
    assert.equal(upstream.requests.at(-1)!.headers['x-consumer-id'], 'mobile');
    const wrong = await new SignJWT({ sub: 'mobile' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://idp.test').setExpirationTime('5m').sign(new TextEncoder().encode(`${key}-not`));
    assert.equal((await call(`${weir.url}/jwt/v1/x`, { headers: { authorization: `Bearer ${wrong}` } })).json().code, 'WEIR_CREDENTIAL_INVALID');
  });

  it('takes HTTP Basic credentials when the API says so: valid, wrong, unknown, malformed, revoked', async () => {
    const spec = { basePath: '/basic', version: 'v1', access: { basic: {} }, routes: [{ name: 'all', path: '/*', service: 'backend' }] };
    await alice('POST', '/api/v1/apis', { name: 'basic-v1', team: 'shop', spec });
    await alice('POST', '/api/v1/apis/basic-v1/releases', {});
    await alice('POST', '/api/v1/apis/basic-v1/publish', { release: 1 });
    await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'basic-v1' });
    assert.equal((await carol('POST', '/api/v1/consumers/mobile/basic-credentials', { username: 'mobile-app', password: 'short' })).status, 422);
    const created = await carol('POST', '/api/v1/consumers/mobile/basic-credentials', { username: 'mobile-app', password: 'a-long-enough-password' });
    assert.equal(created.status, 201);
    assert.equal((await carol('POST', '/api/v1/consumers/mobile/basic-credentials', { username: 'mobile-app', password: 'another-long-password' })).status, 409);
    const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
    const ok = await until(async () => {
      const res = await call(`${weir.url}/basic/v1/x`, { headers: basic('mobile-app', 'a-long-enough-password') });
      return res.status === 200 ? res : undefined;
    }, 5000, 'Basic to be accepted');
    assert.equal(ok.status, 200);
    assert.deepEqual([upstream.requests.at(-1)!.headers['x-consumer-id'], upstream.requests.at(-1)!.headers['authorization']], ['mobile', undefined]);
    const refused = async (headers: Record<string, string>) => (await call(`${weir.url}/basic/v1/x`, { headers })).json().code;
    assert.equal(await refused(basic('mobile-app', 'a-long-enough-passwore')), 'WEIR_CREDENTIAL_INVALID', 'wrong password');
    assert.equal(await refused(basic('someone', 'a-long-enough-password')), 'WEIR_CREDENTIAL_INVALID', 'unknown user');
    assert.equal(await refused({ authorization: 'Basic bm9jb2xvbg==' }), 'WEIR_CREDENTIAL_INVALID', 'malformed (no colon)');
    const challenge = (await call(`${weir.url}/basic/v1/x`)).headers['www-authenticate'];
    assert.match(String(challenge), /Basic realm="basic-v1"/);
    const listed = (await carol('GET', '/api/v1/consumers/mobile/keys')).json().items.find((k: { type: string }) => k.type === 'basic');
    assert.equal(listed.username, 'mobile-app');
    await carol('DELETE', `/api/v1/consumers/mobile/keys/${created.json().id}`);
    await until(async () => ((await refused(basic('mobile-app', 'a-long-enough-password'))) === 'WEIR_CREDENTIAL_INVALID' ? true : undefined), 5000, 'the revoked credential to be refused');
  });

  it('signs requests with HMAC credentials on an API that also takes keys: shown once, stored sealed, rotated by overlap, revoked', async () => {
    const spec = { basePath: '/signed', version: 'v1', access: { keys: {}, hmac: { clockSkewSeconds: 120 } }, routes: [{ name: 'all', path: '/*', service: 'backend' }] };
    await alice('POST', '/api/v1/apis', { name: 'signed-v1', team: 'shop', spec });
    await alice('POST', '/api/v1/apis/signed-v1/releases', {});
    await alice('POST', '/api/v1/apis/signed-v1/publish', { release: 1 });
    await carol('POST', '/api/v1/consumers/mobile/subscriptions', { api: 'signed-v1' });
    const first = await carol('POST', '/api/v1/consumers/mobile/hmac-credentials', {});
    assert.equal(first.status, 201, first.body);
    const { id, keyId, secret } = first.json() as { id: string; keyId: string; secret: string };
    assert.match(keyId, /^weir_hk_/);
    assert.match(secret, /^weir_hs_[A-Za-z0-9_-]{43}$/);
    const listed = await carol('GET', '/api/v1/consumers/mobile/keys');
    assert.deepEqual(listed.json().items.filter((k: { type: string }) => k.type === 'hmac').map((k: { id: string; keyId: string }) => [k.id, k.keyId]), [[id, keyId]]);
    const audit = await admin('GET', '/api/v1/audit?kind=credential');
    for (const text of [listed.body, audit.body]) assert.ok(!text.includes(secret) && !text.includes(secret.slice(-12)), 'the secret is never shown again, nor kept in clear');
    assert.ok(audit.json().items.some((e: { after: { sealed?: string } | null }) => typeof e.after?.sealed === 'string'), 'stored sealed');

    const url = `${weir.url}/signed/v1/orders?dry=1`;
    const body = JSON.stringify({ item: 'book' });
    const post = (sign: { keyId: string; secret: string }, payload = body) =>
      call(url, { method: 'POST', headers: { ...signRequest({ method: 'POST', url, body, ...sign }), 'content-type': 'application/json' }, body: payload });
    const ok = await until(async () => {
      const res = await post({ keyId, secret });
      return res.status === 200 ? res : undefined;
    }, 5000, 'the signed request to be admitted');
    assert.equal(ok.status, 200);
    const seen = upstream.requests.at(-1)!;
    assert.deepEqual([seen.url, seen.body.toString(), seen.headers['x-consumer-id'], seen.headers['x-credential-id']], ['/orders?dry=1', body, 'mobile', id]);
    assert.deepEqual([seen.headers['signature'], seen.headers['signature-input'], seen.headers['content-digest']], [undefined, undefined, undefined], 'hidden from the upstream');
    assert.equal((await post({ keyId, secret: `${secret}x` })).json().code, 'WEIR_SIGNATURE_INVALID');
    assert.equal((await post({ keyId, secret }, JSON.stringify({ item: 'car' }))).json().code, 'WEIR_CONTENT_DIGEST_MISMATCH');
    const key = (await carol('POST', '/api/v1/consumers/mobile/keys', {})).json().key;
    await answersAt(`${weir.url}/signed/v1/x`, { 'x-api-key': key }, 200);
    const refused = await call(`${weir.url}/signed/v1/x`);
    assert.equal(refused.headers['www-authenticate'], 'ApiKey header="x-api-key", Bearer, Signature realm="signed-v1", alg="hmac-sha256"');

    const second = (await carol('POST', '/api/v1/consumers/mobile/hmac-credentials', { expiresInDays: 90 })).json();
    assert.notEqual(second.keyId, keyId);
    assert.ok(Date.parse(second.expiresAt) > Date.now() + 89 * 86_400_000);
    await until(async () => ((await post(second)).status === 200 ? true : undefined), 5000, 'the second credential to work');
    assert.equal((await post({ keyId, secret })).status, 200, 'both work while clients move over');
    assert.equal((await carol('DELETE', `/api/v1/consumers/mobile/keys/${id}`)).status, 204);
    await until(async () => ((await post({ keyId, secret })).status === 401 ? true : undefined), 5000, 'the revoked credential to be refused');
    assert.equal((await post({ keyId, secret })).json().code, 'WEIR_CREDENTIAL_INVALID');
    assert.equal((await post(second)).status, 200);
    await alice('POST', '/api/v1/apis/signed-v1/subscriptions/mobile/revoke', { reason: 'done' });
    await until(async () => ((await post(second)).status === 403 ? true : undefined), 5000, 'the revoked subscription to refuse signatures');
    assert.equal((await post(second)).json().code, 'WEIR_SUBSCRIPTION_REVOKED');
  });
});
