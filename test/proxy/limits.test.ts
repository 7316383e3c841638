import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { startWeir, type TestWeir } from '../support/weir.js';
import { rawRequest } from '../support/raw-http.js';

const raw = rawRequest;

function problemOf(response: string): { status: number; code: string; contentType: string | undefined } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1]);
  const contentType = /\r\ncontent-type: ([^\r]+)/i.exec(response)?.[1];
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return { status, code: (JSON.parse(body) as { code: string }).code, contentType };
}

describe('request limits and malformed requests', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream();
    weir = await startWeir(`
global:
  limits: { maxHeaderSize: 2kb, maxBodySize: 1kb, requestTimeout: 400ms }
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - { path: /*, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  const smuggling: Array<[string, string]> = [
    ['Content-Length and Transfer-Encoding together', 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two different Content-Length headers', 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde'],
    ['two identical Content-Length headers', 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd'],
    ['a Content-Length list', 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 4\r\n\r\nabcd'],
    ['a non-numeric Content-Length', 'POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 4a\r\n\r\nabcd'],
    ['Transfer-Encoding that does not end in chunked', 'POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n'],
    ['an obfuscated Transfer-Encoding', 'POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n'],
    ['a bad chunk size', 'POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['an obs-fold header line', 'GET /s HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n'],
    ['a bare LF line ending', 'GET /s HTTP/1.1\nHost: x\n\n'],
    ['no Host header', 'GET /s HTTP/1.1\r\n\r\n'],
    ['a CONNECT tunnel request', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
  ];
  for (const [name, request] of smuggling) {
    it(`rejects ${name} with 400 and forwards nothing`, async () => {
      const before = up.requests.length;
      const response = await raw(weir.port, request);
      const problem = problemOf(response);
      assert.equal(problem.status, 400, response);
      assert.equal(problem.code, 'WEIR_BAD_REQUEST');
      assert.equal(problem.contentType, 'application/problem+json');
      assert.match(response, /\r\nconnection: close\r\n/i);
      assert.equal(up.requests.length, before, 'the upstream saw nothing');
    });
  }

  it('rejects dot segments in the path, also percent-encoded', async () => {
    for (const path of ['/a/../b', '/a/%2e%2e/b', '/a/.%2E/b', '/a/..%5cb']) {
      const response = await raw(weir.port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.equal(problemOf(response).status, 400, path);
    }
  });

  it('answers 431 to headers over maxHeaderSize', async () => {
    const response = await raw(weir.port, `GET /h HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`);
    const problem = problemOf(response);
    assert.equal(problem.status, 431);
    assert.equal(problem.code, 'WEIR_HEADERS_TOO_LARGE');
  });

  it('answers 413 to a declared body over maxBodySize without reading it', async () => {
    const before = up.requests.length;
    const response = await raw(weir.port, `POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`);
    const problem = problemOf(response);
    assert.equal(problem.status, 413);
    assert.equal(problem.code, 'WEIR_BODY_TOO_LARGE');
    assert.equal(up.requests.length, before);
  });

  it('answers 413 to a chunked body that grows over maxBodySize', async () => {
    const chunk = 'a'.repeat(600);
    const response = await raw(
      weir.port,
      `POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n${chunk}\r\n258\r\n${chunk}\r\n0\r\n\r\n`,
    );
    const problem = problemOf(response);
    assert.equal(problem.status, 413);
    assert.equal(problem.code, 'WEIR_BODY_TOO_LARGE');
    assert.ok(!up.requests.some((r) => r.url === '/b' && r.body.length > 1024), 'no oversized body was delivered');
  });

  it('accepts a body exactly at the limit', async () => {
    const body = 'x'.repeat(1024);
    const response = await raw(weir.port, `POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\nConnection: close\r\n\r\n${body}`);
    assert.match(response, /^HTTP\/1\.1 200/);
    assert.equal(up.requests.at(-1)!.body.length, 1024);
  });

  it('answers 408 when the client does not finish its request in time', async () => {
    const response = await raw(weir.port, 'GET /slow HTTP/1.1\r\nHost: x\r\n', 1);
    const problem = problemOf(response);
    assert.equal(problem.status, 408);
    assert.equal(problem.code, 'WEIR_REQUEST_TIMEOUT');
  });
});
