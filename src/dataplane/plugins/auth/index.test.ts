import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SignJWT } from 'jose';
import { contentDigest, signRequest } from '../../../../test/support/signature.js';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

const ISSUER = 'https://id.example.test';
const JWT_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';
const HMAC_SECRET = 'weir_hs_the-app-secret-0123456789abcdef';
const sha = (value: string) => createHash('sha256').update(value).digest('base64url');
const entry = (consumer: string, subscription: string, expiresAt: number | null = null, extra = '') =>
  `{ consumer: ${consumer}, team: t1, credential: c-${consumer}, expiresAt: ${expiresAt ?? 'null'}, subscription: ${subscription}${extra} }`;
const past = 1000;

const methods = (hide: boolean) => `
      keys: { hideCredentials: ${hide}, credentials: { "${sha('k-live')}": ${entry('app', 'approved')}, "${sha('k-old')}": ${entry('old', 'approved', past)}, "${sha('k-wait')}": ${entry('wait', 'pending')} } }
      basic: { hideCredentials: ${hide}, credentials: { alice: ${entry('app', 'approved', null, `, salt: s1, hash: "${sha('s1alice-password-long')}"`)}, gone: ${entry('old', 'approved', past, `, salt: s2, hash: "${sha('s2gone-password-long')}"`)} } }
      jwt: { hideCredentials: ${hide}, issuer: "${ISSUER}", secret: "${JWT_SECRET}", algorithms: [HS256], clockToleranceSeconds: 0, consumers: { app: { team: t1, subscription: approved }, wait: { team: t1, subscription: pending } } }
      hmac: { hideCredentials: ${hide}, clockSkewSeconds: 60, credentials: { hk-live: ${entry('app', 'approved', null, `, secret: ${HMAC_SECRET}`)}, hk-old: ${entry('old', 'approved', past, `, secret: ${HMAC_SECRET}`)}, hk-wait: ${entry('wait', 'pending', null, `, secret: ${HMAC_SECRET}`)} } }`;

const jwt = (claims: Record<string, unknown>, options: { secret?: string; exp?: number | string } = {}) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setExpirationTime(options.exp ?? '5m').sign(new TextEncoder().encode(options.secret ?? JWT_SECRET));
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('auth plugin: keys, Basic, JWT and HMAC signatures, alone or mixed', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - path: /all/*
    service: s
    plugins:
      - name: auth
        config:
          api: orders${methods(true).replace(/^ {6}/gm, '          ')}
  - path: /shown/*
    service: s
    plugins:
      - name: auth
        config:
          api: orders${methods(false).replace(/^ {6}/gm, '          ')}
  - path: /signed/*
    service: s
    plugins:
      - name: auth
        config: { api: orders, hmac: { maxBodyBytes: 64, credentials: { hk-live: ${entry('app', 'approved', null, `, secret: ${HMAC_SECRET}`)} } } }
flows:
  - name: pay
    path: /flow/pay
    method: POST
    idempotency: false
    plugins:
      - name: auth
        config: { api: orders, hmac: { credentials: { hk-live: ${entry('app', 'approved', null, `, secret: ${HMAC_SECRET}`)} } } }
    steps:
      charge: { service: s, path: /charge, method: POST, body: { amount: "{{ request.body.amount }}" } }
    response: { amount: "{{ request.body.amount }}", consumer: "{{ request.headers.\\"x-consumer-id\\" }}" }
`);
  });

  after(async () => {
    await weir.close();
    await upstream.close();
  });

  const send = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) =>
    call(`${weir.url}${path}`, { method: method as 'GET', headers, ...(body === undefined ? {} : { body }) });
  const signed = (path: string, extra: Partial<Parameters<typeof signRequest>[0]> = {}, method = 'GET', body?: string) =>
    signRequest({ method, url: `${weir.url}${path}`, keyId: 'hk-live', secret: HMAC_SECRET, ...(body === undefined ? {} : { body }), ...extra });
  const refusal = async (res: Promise<Awaited<ReturnType<typeof call>>>) => {
    const r = await res;
    return `${r.status} ${r.status >= 400 ? r.json().code : ''}`.trim();
  };
  const seen = () => upstream.requests.at(-1)!.headers;

  it('admits each method on one API, with the same identity headers and forged copies replaced', async () => {
    const forged = { 'x-consumer-id': 'root', 'x-consumer-team': 'admins', 'x-credential-id': 'forged' };
    const cases: Array<[string, Record<string, string>, string]> = [
      ['key header', { 'x-api-key': 'k-live' }, 'c-app'],
      ['key as Bearer', { authorization: 'Bearer k-live' }, 'c-app'],
      ['Basic', basic('alice', 'alice-password-long'), 'c-app'],
      ['JWT', { authorization: `Bearer ${await jwt({ sub: 'app', jti: 'j1' })}` }, 'jwt:j1'],
      ['HMAC', signed('/all/x?q=1'), 'c-app'],
    ];
    for (const [what, headers, credential] of cases) {
      const path = what === 'HMAC' ? '/all/x?q=1' : '/all/x';
      const res = await send(path, { ...headers, ...forged });
      assert.equal(res.status, 200, `${what}: ${res.body}`);
      assert.deepEqual([seen()['x-consumer-id'], seen()['x-consumer-team'], seen()['x-credential-id']], ['app', 't1', credential], what);
    }
  });

  it('lists every accepted method in the challenge when no credential is sent', async () => {
    const res = await send('/all/x');
    assert.equal(res.status, 401);
    assert.equal(res.json().code, 'WEIR_CREDENTIAL_MISSING');
    assert.equal(res.headers['www-authenticate'], 'ApiKey header="x-api-key", Bearer, Basic realm="orders", charset="UTF-8", Signature realm="orders", alg="hmac-sha256"');
    assert.match(res.json().detail, /API key.*Basic.*JWT.*signature/);
    const hmacOnly = await send('/signed/x', { authorization: 'Bearer k-live' });
    assert.equal(hmacOnly.json().code, 'WEIR_CREDENTIAL_MISSING', 'a method the route does not accept is no credential');
    assert.equal(hmacOnly.headers['www-authenticate'], 'Signature realm="orders", alg="hmac-sha256"');
  });

  it('refuses expired, revoked, malformed and forged keys and Basic credentials', async () => {
    assert.equal(await refusal(send('/all/x', { 'x-api-key': 'k-old' })), '401 WEIR_CREDENTIAL_INVALID', 'expired key');
    assert.equal(await refusal(send('/all/x', { 'x-api-key': 'k-revoked' })), '401 WEIR_CREDENTIAL_INVALID', 'revoked (no longer in the table)');
    assert.equal(await refusal(send('/all/x', { 'x-api-key': 'k-livE' })), '401 WEIR_CREDENTIAL_INVALID', 'forged');
    assert.equal(await refusal(send('/all/x', { authorization: 'Bearer' })), '401 WEIR_CREDENTIAL_MISSING', 'malformed');
    assert.equal(await refusal(send('/all/x', { 'x-api-key': 'k-wait' })), '403 WEIR_SUBSCRIPTION_PENDING');
    assert.equal(await refusal(send('/all/x', basic('alice', 'alice-password-lonG'))), '401 WEIR_CREDENTIAL_INVALID', 'wrong password');
    assert.equal(await refusal(send('/all/x', basic('gone', 'gone-password-long'))), '401 WEIR_CREDENTIAL_INVALID', 'expired Basic');
    assert.equal(await refusal(send('/all/x', { authorization: 'Basic bm9jb2xvbg==' })), '401 WEIR_CREDENTIAL_INVALID', 'malformed Basic');
  });

  it('refuses expired, forged and malformed JWTs, and a JWT of a consumer without an approved subscription', async () => {
    const expired = await send('/all/x', { authorization: `Bearer ${await jwt({ sub: 'app' }, { exp: Math.floor(Date.now() / 1000) - 3600 })}` });
    assert.equal(expired.json().code, 'WEIR_CREDENTIAL_INVALID');
    assert.match(expired.json().detail, /expired/);
    assert.match(String(expired.headers['www-authenticate']), /Bearer error="invalid_token"/);
    assert.match(String(expired.headers['www-authenticate']), /ApiKey header="x-api-key"/, 'the other methods are still offered');
    const forged = await send('/all/x', { authorization: `Bearer ${await jwt({ sub: 'app' }, { secret: `${JWT_SECRET}-other` })}` });
    assert.match(forged.json().detail, /signature does not verify/);
    assert.equal(await refusal(send('/all/x', { authorization: 'Bearer abc.def.ghi' })), '401 WEIR_CREDENTIAL_INVALID', 'malformed');
    assert.equal(await refusal(send('/all/x', { authorization: `Bearer ${await jwt({ sub: 'wait' })}` })), '403 WEIR_SUBSCRIPTION_PENDING');
    assert.equal(await refusal(send('/all/x', { authorization: `Bearer ${await jwt({ sub: 'nobody' })}` })), '403 WEIR_NOT_SUBSCRIBED');
  });

  it('a JWT accepted once is still refused once it expires, and a token differing only in its signature is checked afresh', async () => {
    const claims = { sub: 'app' };
    // Seconds of validity, so the first requests are in time even on a loaded machine.
    const soon = Math.floor(Date.now() / 1000) + 4;
    const token = await jwt(claims, { exp: soon });
    assert.equal((await send('/all/x', { authorization: `Bearer ${token}` })).status, 200);
    assert.equal((await send('/all/x', { authorization: `Bearer ${token}` })).status, 200, 'the same token again');
    // The same header and claims with a signature by another key: not the verified token.
    const [head, body] = token.split('.');
    const other = (await jwt(claims, { exp: soon, secret: `${JWT_SECRET}-other` })).split('.')[2];
    assert.match((await send('/all/x', { authorization: `Bearer ${head}.${body}.${other}` })).json().detail, /signature does not verify/);
    // Past its exp (this suite allows no clock tolerance): refused, though it was accepted before.
    await new Promise((r) => setTimeout(r, (soon + 1) * 1000 - Date.now()));
    const late = await send('/all/x', { authorization: `Bearer ${token}` });
    assert.equal(late.status, 401, 'a verified token is trusted only until its exp');
  });

  it('verifies HMAC signatures over @path and @query and the body, passing the body on intact', async () => {
    const body = JSON.stringify({ order: 42 });
    const headers = signed('/all/orders?dry=1', { components: ['@method', '@path', '@query', 'content-digest'] }, 'POST', body);
    const res = await send('/all/orders?dry=1', { ...headers, 'content-type': 'application/json' }, 'POST', body);
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.requests.at(-1)!.body.toString(), body);
    assert.equal(seen()['x-consumer-id'], 'app');
  });

  it('refuses forged, tampered, replayed, expired and malformed signatures with precise codes', async () => {
    const now = Math.floor(Date.now() / 1000);
    const body = '{"amount":10}';
    const post = (path: string, headers: Record<string, string>, b = body) => refusal(send(path, headers, 'POST', b));
    const cases: Array<[string, Promise<string>, string]> = [
      ['wrong secret', refusal(send('/all/x', signed('/all/x', { secret: `${HMAC_SECRET}-guess` }))), '401 WEIR_SIGNATURE_INVALID'],
      ['tampered method', refusal(send('/all/x', signed('/all/x'), 'DELETE')), '401 WEIR_SIGNATURE_INVALID'],
      ['tampered path', refusal(send('/all/y', signed('/all/x'))), '401 WEIR_SIGNATURE_INVALID'],
      ['added query', refusal(send('/all/x?admin=1', signed('/all/x', { components: ['@method', '@path', '@query'] }))), '401 WEIR_SIGNATURE_INVALID'],
      ['tampered body', post('/all/x', signed('/all/x', {}, 'POST', body), '{"amount":99}'), '401 WEIR_CONTENT_DIGEST_MISMATCH'],
      ['body without a signed digest', post('/all/x', signed('/all/x', { components: ['@method', '@target-uri'] }, 'POST', body)), '401 WEIR_SIGNATURE_INVALID'],
      ['digest of another algorithm only', post('/all/x', signed('/all/x', { headers: { 'content-digest': 'md5=:AAAA:' }, components: ['@method', '@target-uri', 'content-digest'] }, 'POST', body)), '401 WEIR_CONTENT_DIGEST_MISMATCH'],
      ['method not covered', refusal(send('/all/x', signed('/all/x', { components: ['@target-uri'] }))), '401 WEIR_SIGNATURE_INVALID'],
      ['target not covered', refusal(send('/all/x', signed('/all/x', { components: ['@method', '@path'] }))), '401 WEIR_SIGNATURE_INVALID'],
      ['replayed old created', refusal(send('/all/x', signed('/all/x', { created: now - 600 }))), '401 WEIR_SIGNATURE_EXPIRED'],
      ['created in the future', refusal(send('/all/x', signed('/all/x', { created: now + 600 }))), '401 WEIR_SIGNATURE_EXPIRED'],
      ['past expires', refusal(send('/all/x', signed('/all/x', { expires: now - 5 }))), '401 WEIR_SIGNATURE_EXPIRED'],
      ['no created', refusal(send('/all/x', signed('/all/x', { created: null }))), '401 WEIR_SIGNATURE_INVALID'],
      ['another alg', refusal(send('/all/x', signed('/all/x', { alg: 'hmac-sha512' }))), '401 WEIR_SIGNATURE_INVALID'],
      ['unknown (revoked) key id', refusal(send('/all/x', signed('/all/x', { keyId: 'hk-revoked' }))), '401 WEIR_CREDENTIAL_INVALID'],
      ['expired credential', refusal(send('/all/x', signed('/all/x', { keyId: 'hk-old' }))), '401 WEIR_CREDENTIAL_INVALID'],
      ['pending subscription', refusal(send('/all/x', signed('/all/x', { keyId: 'hk-wait' }))), '403 WEIR_SUBSCRIPTION_PENDING'],
      ['Signature-Input alone', refusal(send('/all/x', { 'signature-input': signed('/all/x')['signature-input']! })), '401 WEIR_SIGNATURE_INVALID'],
      ['malformed Signature', refusal(send('/all/x', { ...signed('/all/x'), signature: 'sig1=not base64' })), '401 WEIR_SIGNATURE_INVALID'],
      ['signature under another label', refusal(send('/all/x', { ...signed('/all/x'), signature: signed('/all/x', { label: 'other' }).signature! })), '401 WEIR_SIGNATURE_INVALID'],
    ];
    for (const [what, outcome, expected] of cases) assert.equal(await outcome, expected, what);
    const two = (first: Record<string, string>, second: Record<string, string>) => ({ 'signature-input': `${first['signature-input']}, ${second['signature-input']}`, signature: `${first['signature']}, ${second['signature']}` });
    const weak = signed('/all/x', { label: 'weak', components: ['@method'] });
    const strongButWrong = signed('/all/x', { label: 'strong', secret: 'not-the-secret-at-all' });
    assert.equal(await refusal(send('/all/x', two(strongButWrong, weak))), '401 WEIR_SIGNATURE_INVALID', 'labels cannot pool what they cover');
    assert.equal(await refusal(send('/all/x', two(weak, signed('/all/x', { label: 'strong' })))), '401 WEIR_SIGNATURE_INVALID', 'the first label naming a known key is the one checked');
    const proxy = signed('/all/x', { label: 'proxy', keyId: 'someone-elses-key' });
    assert.equal(await refusal(send('/all/x', two(proxy, signed('/all/x', { label: 'app' })))), '200', 'a signature by a key Weir does not know is skipped');
    const undigested = await send('/all/x', signed('/all/x', { components: ['@method', '@target-uri'] }, 'POST', body), 'POST', body);
    assert.match(undigested.json().detail, /must cover content-digest/);
    const old = await send('/all/x', signed('/all/x', { created: now - 600 }));
    assert.match(old.json().detail, /more than 60 s ago/);
    assert.equal(old.headers['www-authenticate'], 'ApiKey header="x-api-key", Bearer, Basic realm="orders", charset="UTF-8", Signature realm="orders", alg="hmac-sha256"');
    const count = upstream.requests.length;
    await send('/all/x', signed('/all/x', { secret: 'wrong-secret-of-some-length' }));
    assert.equal(upstream.requests.length, count, 'refused requests never reach the upstream');
  });

  it('accepts a nonce once; a refused request does not use it up', async () => {
    const nonce = `n-${Date.now()}`;
    const forged = await send('/all/x', signed('/all/x', { nonce, secret: 'a-wrong-secret-of-length' }));
    assert.equal(forged.json().code, 'WEIR_SIGNATURE_INVALID');
    const headers = signed('/all/x', { nonce });
    assert.equal((await send('/all/x', headers)).status, 200, 'the first use, after the forged one');
    const replayed = await send('/all/x', headers);
    assert.equal(replayed.json().code, 'WEIR_SIGNATURE_REPLAYED');
    assert.equal(replayed.status, 401);
    assert.equal((await send('/all/x', signed('/all/x', { nonce: `${nonce}-2` }))).status, 200, 'another nonce');
    const plain = signed('/all/x');
    assert.deepEqual([(await send('/all/x', plain)).status, (await send('/all/x', plain)).status], [200, 200], 'without requireNonce, no nonce is fine (within the window)');
  });

  it('refuses a signed body larger than it verifies with 413, and takes a chunked one within the limit', async () => {
    const big = 'x'.repeat(100);
    assert.equal(await refusal(send('/signed/x', signed('/signed/x', {}, 'POST', big), 'POST', big)), '413 WEIR_BODY_TOO_LARGE');
    const small = 'y'.repeat(40);
    const res = await call(`${weir.url}/signed/x`, { method: 'POST', headers: signed('/signed/x', {}, 'POST', small), body: Readable.from([Buffer.from(small.slice(0, 10)), Buffer.from(small.slice(10))]) });
    assert.equal(res.status, 200, res.body);
    assert.equal(upstream.requests.at(-1)!.body.toString(), small);
  });

  it('verifies signed bodies on flow routes too: the flow runs on the bytes that were checked', async () => {
    const body = JSON.stringify({ amount: 7 });
    const json = { 'content-type': 'application/json' };
    const ok = await send('/flow/pay', { ...signed('/flow/pay', {}, 'POST', body), ...json }, 'POST', body);
    assert.equal(ok.status, 200, ok.body);
    assert.deepEqual(ok.json(), { amount: 7, consumer: 'app' });
    assert.equal(upstream.requests.at(-1)!.body.toString(), JSON.stringify({ amount: 7 }));
    const tampered = await send('/flow/pay', { ...signed('/flow/pay', {}, 'POST', body), ...json }, 'POST', JSON.stringify({ amount: 700 }));
    assert.equal(tampered.json().code, 'WEIR_CONTENT_DIGEST_MISMATCH');
    const count = upstream.requests.length;
    assert.equal((await send('/flow/pay', {}, 'POST', body)).json().code, 'WEIR_CREDENTIAL_MISSING');
    assert.equal(upstream.requests.length, count, 'a refused flow calls no step');
  });

  it('removes what each method used unless hideCredentials is false', async () => {
    const body = 'hello';
    const cases: Array<[string, Record<string, string>, string[], string, string?]> = [
      ['key', { 'x-api-key': 'k-live' }, ['x-api-key'], 'GET'],
      ['Bearer key', { authorization: 'Bearer k-live' }, ['authorization'], 'GET'],
      ['Basic', basic('alice', 'alice-password-long'), ['authorization'], 'GET'],
      ['JWT', { authorization: `Bearer ${await jwt({ sub: 'app' })}` }, ['authorization'], 'GET'],
      ['HMAC', {}, ['signature', 'signature-input', 'content-digest'], 'POST', body],
    ];
    for (const [what, headers, used, method, b] of cases) {
      for (const prefix of ['/all', '/shown']) {
        const sent = what === 'HMAC' ? signed(`${prefix}/x`, {}, method, b) : headers;
        assert.equal((await send(`${prefix}/x`, sent, method, b)).status, 200, `${what} ${prefix}`);
        for (const header of used) assert.equal(seen()[header], prefix === '/all' ? undefined : sent[header], `${what}: ${header} at ${prefix}`);
      }
    }
    assert.equal(contentDigest(body), signed('/shown/x', {}, 'POST', body)['content-digest']);
  });

  it('checks its config at load, with the line', () => {
    const none = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: auth, config: { api: a } }]
`);
    assert.ok(none.some((p) => p.startsWith('6: /routes/0/plugins/0/config: accept at least one method')), none.join('\n'));
    const twoKeys = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: auth, config: { api: a, jwt: { issuer: i, jwksUrl: "https://i/jwks", secret: "${JWT_SECRET}", consumers: {} } } }]
`);
    assert.ok(twoKeys.some((p) => p.includes('/config/jwt') && p.includes('exactly one of jwksUrl')), twoKeys.join('\n'));
    const shortSecret = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: auth, config: { api: a, hmac: { clockSkewSeconds: 0, credentials: { k: ${entry('app', 'approved', null, ', secret: short')} } } } }]
`);
    assert.ok(shortSecret.some((p) => p.startsWith('6: /routes/0/plugins/0/config/hmac/clockSkewSeconds')), shortSecret.join('\n'));
    assert.ok(shortSecret.some((p) => p.startsWith('6: /routes/0/plugins/0/config/hmac/credentials/k/secret')), shortSecret.join('\n'));
  });
});
