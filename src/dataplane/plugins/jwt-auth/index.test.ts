import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

const ISSUER = 'https://id.example.test';
const SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

/** A real JWKS endpoint whose keys the test can rotate; counts fetches. */
async function jwksServer(): Promise<{ url: string; keys: JWK[]; fetches: number; close(): Promise<void> }> {
  const state = { keys: [] as JWK[], fetches: 0 };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    const body = JSON.stringify({ keys: state.keys });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

async function rsaKey(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

const token = (claims: Record<string, unknown>, key: CryptoKey | Uint8Array, options: { alg?: string; kid?: string; exp?: string | number; iss?: string; aud?: string } = {}) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'RS256', ...(options.kid === undefined ? {} : { kid: options.kid }) })
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? 'orders')
    .setIssuedAt()
    .setExpirationTime(options.exp ?? '5m')
    .sign(key);

describe('jwt-auth plugin', () => {
  let upstream: TestUpstream;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let weir: TestWeir;
  let first: Awaited<ReturnType<typeof rsaKey>>;

  before(async () => {
    upstream = await startUpstream();
    jwks = await jwksServer();
    first = await rsaKey('k1');
    jwks.keys = [first.jwk];
    const consumers = '{ mobile: { team: t1, subscription: approved }, waiting: { team: t1, subscription: pending } }';
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - { path: /rs/*, service: s, plugins: [{ name: jwt-auth, config: { api: orders, issuer: "${ISSUER}", audience: orders, jwksUrl: "${jwks.url}", jwksCooldownSeconds: 0, algorithms: [RS256], consumers: ${consumers} } }] }
  - { path: /hs/*, service: s, plugins: [{ name: jwt-auth, config: { api: orders, issuer: "${ISSUER}", secret: "${SECRET}", algorithms: [HS256], consumers: ${consumers} } }] }
`);
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    await jwks.close();
  });

  const get = (path: string, jwt?: string) => call(`${weir.url}${path}`, { headers: jwt === undefined ? {} : { authorization: `Bearer ${jwt}` } });

  it('lets a valid token of a subscribed consumer through, identity set and token hidden', async () => {
    const res = await get('/rs/1', await token({ sub: 'mobile', jti: 'abc' }, first.privateKey, { kid: 'k1' }));
    assert.equal(res.status, 200, res.body);
    const seen = upstream.requests.at(-1)!.headers;
    assert.deepEqual([seen['x-consumer-id'], seen['x-consumer-team'], seen['x-credential-id'], seen['authorization']], ['mobile', 't1', 'jwt:abc', undefined]);
    assert.equal((await get('/hs/1', await token({ sub: 'mobile' }, new TextEncoder().encode(SECRET), { alg: 'HS256' }))).status, 200);
  });

  it('refuses expired, wrong-issuer, wrong-audience, forged, wrong-algorithm and malformed tokens with 401', async () => {
    const other = await rsaKey('k1');
    const cases: Array<[string, Promise<string> | string, RegExp]> = [
      ['expired', token({ sub: 'mobile' }, first.privateKey, { kid: 'k1', exp: Math.floor(Date.now() / 1000) - 3600 }), /expired/],
      ['issuer', token({ sub: 'mobile' }, first.privateKey, { kid: 'k1', iss: 'https://evil.test' }), /claim "iss"/],
      ['audience', token({ sub: 'mobile' }, first.privateKey, { kid: 'k1', aud: 'billing' }), /claim "aud"/],
      ['forged', token({ sub: 'mobile' }, other.privateKey, { kid: 'k1' }), /signature does not verify/],
      ['algorithm', token({ sub: 'mobile' }, new TextEncoder().encode(SECRET), { alg: 'HS256', kid: 'k1' }), /algorithm is not allowed/],
      ['malformed', 'abc.def.ghi', /malformed|could not be verified/],
    ];
    for (const [what, jwt, detail] of cases) {
      const res = await get('/rs/1', await jwt);
      assert.equal(res.status, 401, `${what}: ${res.body}`);
      assert.equal(res.json().code, 'WEIR_CREDENTIAL_INVALID', what);
      assert.match(res.json().detail, detail, what);
      assert.match(String(res.headers['www-authenticate']), /^Bearer error="invalid_token"$/);
    }
    assert.equal((await get('/rs/1')).json().code, 'WEIR_CREDENTIAL_MISSING');
  });

  it('wants an approved subscription for the consumer the token names', async () => {
    assert.equal((await get('/rs/1', await token({ sub: 'waiting' }, first.privateKey, { kid: 'k1' }))).json().code, 'WEIR_SUBSCRIPTION_PENDING');
    assert.equal((await get('/rs/1', await token({ sub: 'stranger' }, first.privateKey, { kid: 'k1' }))).json().code, 'WEIR_NOT_SUBSCRIBED');
  });

  it('follows the issuer\'s key rotation: a new kid is fetched, the JWKS is otherwise cached', async () => {
    const before = jwks.fetches;
    for (let i = 0; i < 3; i++) await get('/rs/1', await token({ sub: 'mobile' }, first.privateKey, { kid: 'k1' }));
    assert.equal(jwks.fetches, before, 'cached');
    const second = await rsaKey('k2');
    jwks.keys = [first.jwk, second.jwk];
    assert.equal((await get('/rs/1', await token({ sub: 'mobile' }, second.privateKey, { kid: 'k2' }))).status, 200);
    assert.equal(jwks.fetches, before + 1, 'fetched once for the new key');
  });

  it('checks its config at load, with the line', () => {
    const problems = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: jwt-auth, config: { api: a, issuer: i, algorithms: [none], consumers: {} } }]
`);
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/plugins/0/config/algorithms/0')), problems.join('\n'));
    const noKey = configProblems(`services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins: [{ name: jwt-auth, config: { api: a, issuer: i, consumers: {} } }]
`);
    assert.ok(noKey.some((p) => /give exactly one of jwksUrl, secret or publicKey/.test(p)), noKey.join('\n'));
  });
});
