import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { echo, startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

describe('proxy semantics', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  let firstChunkSeen = false;

  before(async () => {
    up = await startUpstream((req, res, body) => {
      if (req.url === '/gzip') {
        const zipped = gzipSync('hello '.repeat(100));
        res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain', 'content-length': zipped.length });
        return void res.end(zipped);
      }
      if (req.url === '/hop') {
        res.writeHead(200, { connection: 'x-internal', 'x-internal': 'secret', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic', 'x-kept': 'yes' });
        return void res.end('ok');
      }
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('a'.repeat(1000));
        setTimeout(() => res.end('b'.repeat(1000)), 10);
        return;
      }
      if (req.url === '/big') {
        const chunk = Buffer.alloc(64 * 1024, 120);
        res.writeHead(200, { 'content-length': chunk.length * 64 });
        let sent = 0;
        const pump = (): void => {
          while (sent < 64) {
            sent++;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      echo(req, res, body);
    });
    up.server.prependListener('request', (req) => {
      if (req.url === '/upload') req.once('data', () => (firstChunkSeen = true));
    });
    weir = await startWeir(`
services:
  up:
    targets: [{ url: ${up.url} }]
  based:
    targets: [{ url: ${up.url}/base }]
  host-preserved:
    targets: [{ url: ${up.url} }]
    preserveHost: true
routes:
  - { path: /api/*, service: up, stripPrefix: /api }
  - { path: /based/*, service: based, stripPrefix: /based }
  - { path: /ph/*, service: host-preserved }
  - { path: /*, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('strips hop-by-hop request headers, including those named in Connection', async () => {
    await fetchRaw(
      weir.port,
      'GET /x HTTP/1.1\r\nHost: x\r\nConnection: close, X-Secret\r\nX-Secret: 1\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9v\r\nX-Normal: yes\r\n\r\n',
    );
    const seen = up.requests.at(-1)!.headers;
    assert.equal(seen['x-secret'], undefined);
    assert.equal(seen['te'], undefined);
    assert.equal(seen['proxy-authorization'], undefined);
    assert.equal(seen['x-normal'], 'yes');
  });

  it('strips hop-by-hop response headers, including those named in Connection', async () => {
    const res = await call(`${weir.url}/hop`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['x-internal'], undefined);
    assert.equal(res.headers['proxy-authenticate'], undefined);
    assert.equal(res.headers['x-kept'], 'yes');
    assert.equal(res.headers['via'], '1.1 weir');
  });

  it('appends X-Forwarded-For and sets X-Forwarded-Proto/Host and Via', async () => {
    await call(`${weir.url}/x`, { headers: { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', via: '1.0 edge', host: 'shop.example.com' } });
    const seen = up.requests.at(-1)!.headers;
    assert.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http', 'a client cannot claim https');
    assert.equal(seen['x-forwarded-host'], 'shop.example.com');
    assert.equal(seen['via'], '1.0 edge, 1.1 weir');
  });

  it('generates a request id, echoes it, and passes it upstream', async () => {
    const res = await call(`${weir.url}/x`);
    const id = res.headers['x-request-id'] as string;
    assert.match(id, /^[0-9a-f-]{36}$/);
    assert.equal(up.requests.at(-1)!.headers['x-request-id'], id);
  });

  it('propagates a sane client request id and replaces an unsafe one', async () => {
    const kept = await call(`${weir.url}/x`, { headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(kept.headers['x-request-id'], 'trace-abc.123');
    assert.equal(up.requests.at(-1)!.headers['x-request-id'], 'trace-abc.123');
    const replaced = await call(`${weir.url}/x`, { headers: { 'x-request-id': 'x'.repeat(300) } });
    assert.match(replaced.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });

  it('sends the target host by default and the client host when preserveHost is set', async () => {
    await call(`${weir.url}/x`, { headers: { host: 'public.example.com' } });
    assert.equal(up.requests.at(-1)!.headers.host, `127.0.0.1:${up.port}`);
    await call(`${weir.url}/ph/x`, { headers: { host: 'public.example.com' } });
    assert.equal(up.requests.at(-1)!.headers.host, 'public.example.com');
  });

  it('strips the route prefix, prepends the target base path and keeps the query verbatim', async () => {
    await call(`${weir.url}/api/orders/7?expand=items&x=%20y`);
    assert.equal(up.requests.at(-1)!.url, '/orders/7?expand=items&x=%20y');
    await call(`${weir.url}/based/orders?a=1`);
    assert.equal(up.requests.at(-1)!.url, '/base/orders?a=1');
  });

  it('streams a chunked request body upstream as it arrives', async () => {
    const sock = connect(weir.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (d) => received.push(d));
    sock.write('POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\npart1-\r\n');
    // The upstream must see the first chunk while the client still holds the rest.
    await waitFor(() => firstChunkSeen);
    sock.write('6\r\npart2-\r\n5\r\npart3\r\n0\r\n\r\n');
    await new Promise((r) => sock.on('close', r));
    assert.match(Buffer.concat(received).toString(), /^HTTP\/1.1 200/);
    const seen = up.requests.at(-1)!;
    assert.equal(seen.body.toString(), 'part1-part2-part3');
    assert.equal(seen.headers['transfer-encoding'], 'chunked');
  });

  it('streams a chunked response and a large response with backpressure', async () => {
    const chunked = await call(`${weir.url}/chunked`);
    assert.equal(chunked.body, 'a'.repeat(1000) + 'b'.repeat(1000));
    const big = await call(`${weir.url}/big`);
    assert.equal(big.body.length, 64 * 64 * 1024);
    assert.equal(big.headers['content-length'], String(64 * 64 * 1024));
  });

  it('passes compressed bodies through untouched', async () => {
    const res = await fetchRaw(weir.port, 'GET /gzip HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n');
    const split = res.indexOf('\r\n\r\n');
    const head = res.subarray(0, split).toString();
    assert.match(head, /content-encoding: gzip/i);
    assert.deepEqual(res.subarray(split + 4), gzipSync('hello '.repeat(100)));
  });

  it('answers HEAD with the headers and no body', async () => {
    const res = await fetchRaw(weir.port, 'HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const text = res.toString();
    assert.match(text, /^HTTP\/1.1 200/);
    assert.match(text, /content-length: \d+/i);
    assert.ok(text.endsWith('\r\n\r\n'), 'no body after the headers');
    assert.equal(up.requests.at(-1)!.method, 'HEAD');
  });

  it('answers 100-continue, then streams the body upstream', async () => {
    const sock = connect(weir.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (d) => received.push(d));
    sock.write('POST /continue HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    await waitFor(() => Buffer.concat(received).toString().includes('100 Continue'));
    assert.equal(up.requests.filter((r) => r.url === '/continue').length, 0, 'nothing proxied before the body');
    sock.write('hello');
    await new Promise((r) => sock.on('close', r));
    const text = Buffer.concat(received).toString();
    assert.match(text, /HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200/);
    const seen = up.requests.find((r) => r.url === '/continue')!;
    assert.equal(seen.body.toString(), 'hello');
    assert.equal(seen.headers.expect, undefined, 'Expect is handled by the gateway, not forwarded');
  });

  it('rejects an oversized upload announced with Expect before the body is sent', async () => {
    const res = await fetchRaw(weir.port, 'POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\nExpect: 100-continue\r\n\r\n');
    const text = res.toString();
    assert.match(text, /^HTTP\/1.1 413/);
    assert.doesNotMatch(text, /100 Continue/);
    assert.match(text, /WEIR_BODY_TOO_LARGE/);
  });

  it('proxies a WebSocket upgrade and relays frames both ways', async () => {
    up.server.on('upgrade', (req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nx-saw-path: ' + req.url + '\r\n\r\n');
      socket.on('data', (d: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), d])));
    });
    const sock = connect(weir.port, '127.0.0.1');
    const received: Buffer[] = [];
    sock.on('data', (d) => received.push(d));
    sock.write('GET /api/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await waitFor(() => Buffer.concat(received).toString().includes('\r\n\r\n'));
    const head = Buffer.concat(received).toString();
    assert.match(head, /^HTTP\/1.1 101/);
    assert.match(head, /x-saw-path: \/ws/);
    received.length = 0;
    sock.write('ping');
    await waitFor(() => Buffer.concat(received).toString() === 'echo:ping');
    sock.destroy();
  });

  it('answers an unknown route with problem+json 404 and WEIR_NO_ROUTE', async () => {
    const noRoute = await startWeir(`services:\n  up:\n    targets: [{ url: ${up.url} }]\nroutes:\n  - { path: /only, service: up }\n`);
    try {
      const res = await call(`${noRoute.url}/else`);
      assert.equal(res.status, 404);
      assert.equal(res.headers['content-type'], 'application/problem+json');
      const problem = res.json();
      assert.equal(problem.code, 'WEIR_NO_ROUTE');
      assert.equal(problem.status, 404);
      assert.equal(problem.requestId, res.headers['x-request-id']);
    } finally {
      await noRoute.close();
    }
  });
});

function fetchRaw(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    sock.on('data', (d) => chunks.push(d));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
    sock.write(request);
  });
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
