import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, startWeir } from '../support/weir.js';
import { startWeirProcess, until, type WeirProcess } from '../support/cli.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function yaml(upstream: TestUpstream, global: string): string {
  return `
global:
${global}
services:
  api: { targets: [{ url: ${upstream.url} }], retries: { attempts: 0 } }
routes:
  - name: users
    path: /users/:email
    service: api
flows:
  - name: both
    path: /both
    steps:
      a: { service: api, path: /a }
      b: { service: api, path: /b }
    response: { a: "{{ steps.a.body }}", b: "{{ steps.b.body }}" }
`;
}

describe('access log (global.accessLog)', () => {
  let upstream: TestUpstream;
  let weir: WeirProcess;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      const text = JSON.stringify({ ok: true });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
    const dir = mkdtempSync(join(tmpdir(), 'weir-access-'));
    writeFileSync(join(dir, 'weir.yaml'), yaml(upstream, '  accessLog: true\n  masking:\n    rules:\n      - { detector: email, style: partial }'));
    weir = await startWeirProcess(['--config', join(dir, 'weir.yaml'), '--data', join(dir, 'data'), '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
  });

  after(async () => {
    if (weir.child.exitCode === null) {
      weir.child.kill('SIGTERM');
      await weir.exited;
    }
    await upstream.close();
  });

  const accessLine = (requestId: string) => until(() => weir.logs.find((l) => l['log'] === 'access' && l['requestId'] === requestId), 10_000, `the access line of ${requestId}`);

  it('writes one masked JSON line per proxied request, from a worker, to stdout', async () => {
    const res = await call(`http://127.0.0.1:${weir.port}/users/ada@example.com?x=1`, { headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, 'content-length': '2' }, method: 'PUT', body: '{}' });
    assert.equal(res.status, 200);
    const requestId = String(res.headers['x-request-id']);
    const line = await accessLine(requestId);
    assert.equal(line['msg'], 'request');
    assert.equal(line['level'], 30);
    assert.equal(typeof line['worker'], 'number', 'written by the worker that served it');
    assert.equal(line['method'], 'PUT');
    assert.equal(line['kind'], 'proxy');
    assert.equal(line['status'], 200);
    assert.equal(line['route'], 'users');
    assert.equal(line['target'], upstream.url);
    assert.equal(line['attempts'], 1);
    assert.equal(line['consumer'], null);
    assert.equal(line['traceId'], TRACE, "tracing is off: the client's trace id");
    assert.equal(line['bytesIn'], 2);
    assert.equal(line['bytesOut'], Buffer.byteLength(JSON.stringify({ ok: true })));
    assert.equal(line['errorCode'], null);
    assert.equal(typeof line['durationMs'], 'number');
    assert.equal(line['path'], '/users/a***@example.com', 'global.masking applies to the path');
    assert.equal(JSON.stringify(weir.logs).includes('ada@example.com'), false, 'the address is in no log line');
    assert.equal(weir.logs.filter((l) => l['requestId'] === requestId && l['log'] === 'access').length, 1, 'exactly one line');
  });

  it('logs flow requests and refused requests too', async () => {
    const flow = await call(`http://127.0.0.1:${weir.port}/both`);
    assert.equal(flow.status, 200);
    const flowLine = await accessLine(String(flow.headers['x-request-id']));
    assert.equal(flowLine['kind'], 'flow');
    assert.equal(flowLine['route'], 'both');
    assert.equal(flowLine['attempts'], 2);
    assert.equal(flowLine['status'], 200);
    assert.equal(flowLine['traceId'], null);

    const missing = await call(`http://127.0.0.1:${weir.port}/nope`);
    assert.equal(missing.status, 404);
    const refused = await accessLine(String(missing.headers['x-request-id']));
    assert.equal(refused['kind'], 'refused');
    assert.equal(refused['errorCode'], 'WEIR_NO_ROUTE');
    assert.equal(refused['route'], '');
  });

  it('is off by default', async () => {
    const local = await startWeir(yaml(upstream, '  proxy: { via: true }'));
    try {
      const res = await call(`${local.url}/users/x`);
      assert.equal(res.status, 200);
      assert.equal(local.logs.some((l) => l['log'] === 'access'), false);
    } finally {
      await local.close();
    }
  });
});
