// HMAC credentials on a real `weir start` with two workers: the secret, sealed in the store, is
// opened by the control plane and reaches the workers inside the composed config (never in a log
// line), and a nonce is accepted once across the workers — counted at the upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { startWeirProcess, until, type WeirProcess } from '../support/cli.js';
import { signRequest } from '../support/signature.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call } from '../support/weir.js';

describe('HMAC signatures across the workers of a node', () => {
  let upstream: TestUpstream;
  let weir: WeirProcess;
  let credential: { keyId: string; secret: string };
  const url = (path: string) => `http://127.0.0.1:${weir.port}${path}`;

  before(async () => {
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'weir-hmac-'));
    writeFileSync(join(dir, 'weir.yaml'), `services:\n  backend: { targets: [{ url: ${upstream.url} }] }\nroutes: []\n`);
    weir = await startWeirProcess(['--config', join(dir, 'weir.yaml'), '--data', join(dir, 'data'), '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    const admin = await adminClient(`http://127.0.0.1:${weir.adminPort}`);
    await admin('POST', '/api/v1/teams', { name: 'shop' });
    const spec = { basePath: '/pay', version: 'v1', access: { hmac: { requireNonce: true } }, routes: [{ name: 'all', path: '/*', service: 'backend' }] };
    const created = await admin('POST', '/api/v1/apis', { name: 'pay-v1', team: 'shop', spec });
    assert.equal(created.status, 201, created.body);
    await admin('POST', '/api/v1/apis/pay-v1/releases', {});
    await admin('POST', '/api/v1/apis/pay-v1/publish', { release: 1 });
    await admin('POST', '/api/v1/consumers', { name: 'shopfront', team: 'shop' });
    await admin('POST', '/api/v1/consumers/shopfront/subscriptions', { api: 'pay-v1' });
    credential = (await admin('POST', '/api/v1/consumers/shopfront/hmac-credentials', {})).json();
  });

  after(async () => {
    weir?.child.kill('SIGTERM');
    await weir?.exited;
    await upstream?.close();
  });

  const signed = (path: string, nonce: string, body: string) => signRequest({ method: 'POST', url: url(path), body, nonce, ...credential });

  it('verifies with the opened secret on every worker, and never logs it', async () => {
    let n = 0;
    await until(async () => ((await call(url('/pay/v1/charge'), { method: 'POST', headers: signed('/pay/v1/charge', `warm-${n++}`, '{}'), body: '{}' })).status === 200 ? true : undefined), 10_000, 'the signed API to serve');
    // A connection each: the primary hands connections to the workers in turn.
    for (let i = 0; i < 20; i++) {
      const agent = new Agent({ connections: 1 });
      const res = await request(url('/pay/v1/charge'), { method: 'POST', headers: signed('/pay/v1/charge', `each-${i}`, '{"n":1}'), body: '{"n":1}', dispatcher: agent });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      await agent.close();
    }
    const logged = JSON.stringify(weir.logs);
    assert.ok(!logged.includes(credential.secret), 'the secret is in no log line');
  });

  it('accepts a nonce once, however many workers the replays reach', async () => {
    const body = '{"amount":100}';
    const headers = signed('/pay/v1/charge', 'once-only-nonce', body);
    const before = upstream.requests.length;
    const statuses = await Promise.all(Array.from({ length: 24 }, async () => {
      const agent = new Agent({ connections: 1 });
      try {
        const res = await request(url('/pay/v1/charge'), { method: 'POST', headers, body, dispatcher: agent });
        const text = await res.body.text();
        return res.statusCode === 200 ? '200' : `${res.statusCode} ${JSON.parse(text).code}`;
      } finally {
        await agent.close();
      }
    }));
    assert.equal(upstream.requests.length - before, 1, 'exactly one reached the upstream');
    assert.deepEqual([...new Set(statuses)].sort(), ['200', '401 WEIR_SIGNATURE_REPLAYED']);
    const unsigned = await call(url('/pay/v1/charge'), { method: 'POST', headers: signRequest({ method: 'POST', url: url('/pay/v1/charge'), body, ...credential }), body });
    assert.equal(unsigned.json().code, 'WEIR_SIGNATURE_INVALID', 'requireNonce: a signature without a nonce');
  });
});
