import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../support/weir.js';
import { rawRequest } from '../support/raw-http.js';

const raw = (port: number, request: string) => rawRequest(port, request);

function statusOf(response: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
}

function codeOf(response: string): string {
  return (JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)) as { code: string }).code;
}

describe('per-route methods: 405 with Allow', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream();
    weir = await startWeir(`
services:
  up: { targets: [{ url: ${up.url} }] }
routes:
  - { name: read, methods: [GET], path: /orders/:id, service: up }
  - { name: change, methods: [PUT, DELETE], path: /orders/:id, service: up }
  - { name: create, methods: [POST], path: /orders, service: up }
  - { name: tenant, methods: [POST], path: /tenant, headers: { x-tenant: acme }, service: up }
  - name: open
    methods: [GET]
    path: /open
    service: up
    plugins: [{ name: cors, config: { origins: ["https://app.example"] } }]
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('answers 405 with the methods of every route on the path, HEAD included with GET, and forwards nothing', async () => {
    const before = up.requests.length;
    const res = await call(`${weir.url}/orders/7`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'GET, HEAD, PUT, DELETE');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_METHOD_NOT_ALLOWED');
    assert.equal(problem.status, 405);
    assert.match(problem.detail, /accepts GET, HEAD, PUT, DELETE/);
    assert.equal(up.requests.length, before, 'the upstream saw nothing');
  });

  it('lets HEAD through to a GET route and answers GET on a POST-only path with 405', async () => {
    const head = await call(`${weir.url}/orders/7`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(up.requests.at(-1)!.method, 'HEAD');
    const get = await call(`${weir.url}/orders`);
    assert.equal(get.status, 405);
    assert.equal(get.headers['allow'], 'POST');
    const headOfPost = await call(`${weir.url}/orders`, { method: 'HEAD' });
    assert.equal(headOfPost.status, 405);
    assert.equal(headOfPost.headers['allow'], 'POST');
    assert.equal(headOfPost.body, '', 'a HEAD answer has no body');
  });

  it('still answers 404 for unknown paths, and for paths whose routes reject the headers', async () => {
    const unknown = await call(`${weir.url}/nothing/here`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().code, 'WEIR_NO_ROUTE');
    assert.equal(unknown.headers['allow'], undefined);
    const wrongTenant = await call(`${weir.url}/tenant`, { method: 'GET', headers: { 'x-tenant': 'other' } });
    assert.equal(wrongTenant.status, 404);
    const rightTenant = await call(`${weir.url}/tenant`, { method: 'GET', headers: { 'x-tenant': 'acme' } });
    assert.equal(rightTenant.status, 405);
    assert.equal(rightTenant.headers['allow'], 'POST');
  });

  it('leaves CORS preflights to the cors plugin, and answers a plain OPTIONS with 405', async () => {
    const before = up.requests.length;
    const preflight = await call(`${weir.url}/open`, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://app.example');
    const plain = await call(`${weir.url}/open`, { method: 'OPTIONS' });
    assert.equal(plain.status, 405);
    assert.equal(plain.headers['allow'], 'GET, HEAD');
    assert.equal(up.requests.length, before);
  });
});

describe('per-route size limits', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream();
    weir = await startWeir(`
global:
  limits: { maxBodySize: 2kb, maxHeaderSize: 8kb }
services:
  up: { targets: [{ url: ${up.url} }] }
routes:
  - { name: small, path: /small, service: up, limits: { maxBodySize: 100, maxHeaderSize: 1kb, maxUrlLength: 64 } }
  - { name: upload, path: /upload, service: up, limits: { maxBodySize: 8kb } }
  - { name: plain, path: /plain, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  const sent = (up: TestUpstream, path: string) => up.requests.filter((r) => r.url.startsWith(path));

  it('refuses a declared body over the route limit with 413 before reading it, and accepts one at the limit', async () => {
    const over = await raw(weir.port, 'POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n');
    assert.equal(statusOf(over), 413, over);
    assert.equal(codeOf(over), 'WEIR_BODY_TOO_LARGE');
    assert.equal(sent(up, '/small').length, 0);
    const at = await call(`${weir.url}/small`, { method: 'POST', body: 'x'.repeat(100) });
    assert.equal(at.status, 200);
    assert.equal(sent(up, '/small').at(-1)!.body.length, 100);
  });

  it('cuts off a chunked body once it passes the route limit', async () => {
    const chunk = 'a'.repeat(60);
    const response = await raw(weir.port, `POST /small HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n${chunk}\r\n3c\r\n${chunk}\r\n0\r\n\r\n`);
    assert.equal(statusOf(response), 413, response);
    assert.equal(codeOf(response), 'WEIR_BODY_TOO_LARGE');
    assert.ok(!sent(up, '/small').some((r) => r.body.length > 100), 'no body over the limit was delivered');
  });

  it('lets a route accept more than the global limit, declared and chunked', async () => {
    const body = 'u'.repeat(6000);
    const declared = await call(`${weir.url}/upload`, { method: 'POST', body });
    assert.equal(declared.status, 200);
    assert.equal(sent(up, '/upload').at(-1)!.body.length, 6000);
    const chunk = 'c'.repeat(3000);
    const chunked = await raw(weir.port, `POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nbb8\r\n${chunk}\r\nbb8\r\n${chunk}\r\n0\r\n\r\n`);
    assert.equal(statusOf(chunked), 200, chunked);
    assert.equal(sent(up, '/upload').at(-1)!.body.length, 6000);
    const tooBig = await raw(weir.port, 'POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 9000\r\n\r\n');
    assert.equal(statusOf(tooBig), 413);
    // Routes without limits keep the global one.
    const plain = await raw(weir.port, 'POST /plain HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n');
    assert.equal(statusOf(plain), 413);
    assert.equal(sent(up, '/plain').length, 0);
  });

  it('answers 431 to headers over the route limit that the global limit allows', async () => {
    const big = await call(`${weir.url}/small`, { headers: { 'x-big': 'b'.repeat(1200) } });
    assert.equal(big.status, 431);
    assert.equal(big.json().code, 'WEIR_HEADERS_TOO_LARGE');
    assert.equal(sent(up, '/small').filter((r) => r.headers['x-big'] !== undefined).length, 0);
    const elsewhere = await call(`${weir.url}/plain`, { headers: { 'x-big': 'b'.repeat(1200) } });
    assert.equal(elsewhere.status, 200);
  });

  it('answers 414 to a request target over the route limit', async () => {
    const long = await call(`${weir.url}/small?q=${'q'.repeat(80)}`);
    assert.equal(long.status, 414);
    assert.equal(long.json().code, 'WEIR_URI_TOO_LONG');
    assert.equal(sent(up, '/small?').length, 0);
    const short = await call(`${weir.url}/small?q=1`);
    assert.equal(short.status, 200);
  });

  it('rejects bad route limits at load with their line', () => {
    const problems = configProblems(`services:
  up: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /a
    service: up
    limits: { maxBodySize: 10 parsecs, maxUrlLength: 0, maxHeaders: 3 }
`);
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/limits/maxBodySize')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/limits/maxUrlLength')), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('6: /routes/0/limits') && p.includes('maxHeaders')), problems.join('\n'));
    assert.deepEqual(
      configProblems(`global:\n  limits: { maxHeaderSize: 8kb }\nservices:\n  up: { targets: [{ url: http://127.0.0.1:1 }] }\nroutes:\n  - { path: /a, service: up, limits: { maxHeaderSize: 8kb } }\n  - { path: /b, service: up, limits: { maxHeaderSize: 9kb } }\n`),
      ['7: /routes/1/limits/maxHeaderSize: 9216 bytes is more than global.limits.maxHeaderSize (8192), which the server enforces before routing; a route can only lower it'],
    );
  });
});
