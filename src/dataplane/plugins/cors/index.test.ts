import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echo, startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

describe('cors plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream((req, res, body) => {
      if (req.url === '/own-cors') res.setHeader('access-control-allow-origin', 'https://upstream.example');
      echo(req, res, body);
    });
    weir = await startWeir(`
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - path: /api/*
    methods: [GET, POST, DELETE]
    service: up
    plugins:
      - name: cors
        config:
          origins: ["https://app.example.com", "https://*.example.dev", "*.example.org"]
          methods: [GET, POST]
          headers: [authorization, content-type]
          exposedHeaders: [x-request-id]
          credentials: true
          maxAge: 300
  - path: /own-cors
    service: up
    plugins:
      - name: cors
        config: { origins: ["*"] }
  - { path: /plain, methods: [GET], service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  const preflight = (path: string, origin: string, method = 'GET', headers?: string) =>
    call(`${weir.url}${path}`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, ...(headers === undefined ? {} : { 'access-control-request-headers': headers }) },
    });

  it('answers an allowed preflight at the gateway with 204, even on a route without OPTIONS', async () => {
    const before = up.requests.length;
    const res = await preflight('/api/orders', 'https://app.example.com', 'POST', 'Authorization, Content-Type');
    assert.equal(res.status, 204);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(res.headers['access-control-allow-methods'], 'GET, POST');
    assert.equal(res.headers['access-control-allow-headers'], 'authorization, content-type');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-max-age'], '300');
    assert.match(String(res.headers.vary), /Origin/);
    assert.equal(up.requests.length, before, 'a preflight never goes upstream');
  });

  it('matches wildcard origins by scheme and subdomain', async () => {
    assert.equal((await preflight('/api/x', 'https://a.b.example.dev')).status, 204);
    assert.equal((await preflight('/api/x', 'http://a.example.dev')).status, 403, 'the wildcard names https');
    assert.equal((await preflight('/api/x', 'https://example.dev')).status, 403, 'the bare domain is not a subdomain');
    assert.equal((await preflight('/api/x', 'http://shop.example.org')).status, 204, 'no scheme: http and https');
    assert.equal((await preflight('/api/x', 'https://evil-example.org')).status, 403);
  });

  it('refuses a disallowed origin, method or header with 403 WEIR_CORS_REJECTED', async () => {
    for (const [origin, method, headers, says] of [
      ['https://evil.example', 'GET', undefined, /origin https:\/\/evil.example/],
      ['https://app.example.com', 'DELETE', undefined, /method DELETE/],
      ['https://app.example.com', 'GET', 'x-secret, content-type', /header x-secret is not allowed/],
    ] as const) {
      const res = await preflight('/api/x', origin, method, headers);
      assert.equal(res.status, 403);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      assert.equal(res.json().code, 'WEIR_CORS_REJECTED');
      assert.match(res.json().detail, says);
      assert.equal(res.headers['access-control-allow-origin'], undefined);
    }
  });

  it('adds CORS headers to actual requests from allowed origins, with Vary: Origin', async () => {
    const res = await call(`${weir.url}/api/orders`, { headers: { origin: 'https://app.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-expose-headers'], 'x-request-id');
    assert.match(String(res.headers.vary), /Origin/);
    assert.equal(up.requests.at(-1)!.method, 'GET');
  });

  it('passes requests from other origins through without CORS headers, and requests without Origin untouched', async () => {
    const other = await call(`${weir.url}/api/orders`, { headers: { origin: 'https://evil.example' } });
    assert.equal(other.status, 200);
    assert.equal(other.headers['access-control-allow-origin'], undefined);
    const none = await call(`${weir.url}/api/orders`);
    assert.equal(none.headers['access-control-allow-origin'], undefined);
    assert.equal(none.headers.vary, undefined);
  });

  it('answers * for any origin without credentials, replacing the upstream\'s own header', async () => {
    const res = await call(`${weir.url}/own-cors`, { headers: { origin: 'https://x.test' } });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers.vary, undefined);
    const pre = await preflight('/own-cors', 'https://x.test', 'PUT', 'x-anything');
    assert.equal(pre.status, 403, 'no headers configured: only safelisted ones');
  });

  it('leaves OPTIONS alone on routes without cors, and a preflight for a method no route serves is a 405', async () => {
    const before = up.requests.length;
    const res = await preflight('/plain', 'https://app.example.com');
    assert.equal(res.status, 405);
    assert.equal(res.json().code, 'WEIR_METHOD_NOT_ALLOWED');
    assert.equal(res.headers['allow'], 'GET, HEAD');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
    const unserved = await preflight('/api/x', 'https://app.example.com', 'PUT');
    assert.equal(unserved.status, 405);
    assert.equal(unserved.headers['allow'], 'GET, HEAD, POST, DELETE');
    const nowhere = await preflight('/nowhere', 'https://app.example.com');
    assert.equal(nowhere.status, 404);
    assert.equal(up.requests.length, before, 'no preflight reached the upstream');
  });

  it('refuses bad configs at load, with their lines', () => {
    const yaml = (config: string) => `services:\n  a: { targets: [{ url: "http://127.0.0.1:1" }] }\nroutes:\n  - path: /x\n    service: a\n    plugins:\n      - name: cors\n        config: ${config}\n`;
    assert.deepEqual(configProblems(yaml('{ origins: ["https://ok.example", "ftp://x", "https://a/b"] }')), [
      '8: /routes/0/plugins/0/config/origins/1: "ftp://x" is not an origin (scheme://host[:port]), a *.domain wildcard or *',
      '8: /routes/0/plugins/0/config/origins/2: "https://a/b" is not an origin (scheme://host[:port]), a *.domain wildcard or *',
    ]);
    assert.equal(configProblems(yaml('{ origins: [] }')).length, 1);
    assert.match(configProblems(yaml('{ origins: ["*"], maxage: 5 }'))[0]!, /unknown property "maxage"/);
  });
});
