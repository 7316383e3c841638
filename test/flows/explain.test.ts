import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sendJson, startUpstream } from '../support/upstream.js';
import { startWeirProcess, until } from '../support/cli.js';
import { adminClient, call, startWeir } from '../support/weir.js';

/** Upstream answering after the delay named in the path: /wait/40 → 40 ms. */
function delayedUpstream() {
  return startUpstream((req, res) => {
    const ms = Number(/\/wait\/(\d+)/.exec(req.url!)?.[1] ?? 0);
    setTimeout(() => sendJson(res, req.url!.includes('/fail') ? 500 : 200, { id: 1 }), ms);
  });
}

function yaml(url: string): string {
  return `
services:
  slow: { targets: [{ url: ${url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: page
    path: /page
    steps:
      fast: { service: slow, path: /wait/5 }
      slow: { service: slow, path: /wait/60 }
      after_fast: { service: slow, path: /wait/10, query: { x: "{{ steps.fast.body.id }}" } }
    response: 1
  - name: undo
    method: POST
    path: /undo
    idempotency: false
    steps:
      hold: { service: slow, method: POST, path: /wait/0, compensate: { method: DELETE, path: /wait/0/fail, retry: { attempts: 0 } } }
      pay: { service: slow, method: POST, path: /wait/0/fail, after: [hold] }
    response: 1
`;
}

describe('explain on the admin port', () => {
  it('shows the DAG and the critical path from the latencies it observed', async () => {
    const upstream = await delayedUpstream();
    const weir = await startWeir(yaml(upstream.url));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await call(`${weir.url}/page`)).status, 200);
      const admin = await adminClient(weir.adminUrl);
      const list = (await admin('GET', '/api/v1/runtime/flows')).json();
      assert.deepEqual(list.items.map((f: { name: string }) => f.name), ['page', 'undo']);
      const explained = (await admin('GET', '/api/v1/runtime/flows/page/explain')).json();
      assert.deepEqual(explained.levels.map((l: Array<{ name: string }>) => l.map((s) => s.name)), [['fast', 'slow'], ['after_fast']]);
      assert.deepEqual(explained.levels[1][0].waitsFor, ['fast']);
      assert.equal(explained.observed.slow.count, 3);
      assert.ok(explained.observed.slow.p50Ms >= 60, 'the slow step took at least its upstream\'s delay');
      assert.deepEqual(explained.criticalPath.steps, ['slow'], 'slow (60 ms) outweighs fast → after_fast (5 + 10 ms)');

      const assumed = (await admin('GET', '/api/v1/runtime/flows/page/explain?latency=fast:100')).json();
      assert.deepEqual(assumed.criticalPath.steps, ['fast', 'after_fast'], 'given latencies override observed ones');

      const bad = await admin('GET', '/api/v1/runtime/flows/page/explain?latency=fast');
      assert.equal(bad.status, 422);
      assert.equal(bad.json().code, 'WEIR_VALIDATION_FAILED');
      const unknown = await admin('GET', '/api/v1/runtime/flows/nope/explain');
      assert.equal(unknown.status, 404);
      assert.match(unknown.json().detail, /no flow "nope" \(flows: page, undo\)/);
    } finally {
      await weir.close();
      await upstream.close();
    }
  });

  it('lists compensations that failed, for an operator', async () => {
    const upstream = await delayedUpstream();
    const weir = await startWeir(yaml(upstream.url));
    try {
      const res = await call(`${weir.url}/undo`, { method: 'POST' });
      assert.equal(res.json().code, 'WEIR_COMPENSATION_FAILED');
      const failures = (await (await adminClient(weir.adminUrl))('GET', '/api/v1/runtime/compensation-failures')).json().items;
      assert.equal(failures.length, 1);
      assert.equal(failures[0].flow, 'undo');
      assert.equal(failures[0].step, 'hold');
      assert.equal(failures[0].requestId, res.headers['x-request-id']);
      assert.deepEqual(failures[0].call, { service: 'slow', method: 'DELETE', path: '/wait/0/fail' });
    } finally {
      await weir.close();
      await upstream.close();
    }
  });

  it('merges what every worker observed in a cluster', async () => {
    const upstream = await delayedUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'weir-explain-'));
    writeFileSync(join(dir, 'weir.yaml'), yaml(upstream.url));
    const weir = await startWeirProcess(['--config', join(dir, 'weir.yaml'), '--data', join(dir, 'data'), '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    try {
      // New connections each time, so both workers get some.
      for (let i = 0; i < 8; i++) await call(`http://127.0.0.1:${weir.port}/page`, { reset: true } as never);
      const admin = await adminClient(`http://127.0.0.1:${weir.adminPort}`);
      const explained = await until(async () => {
        const body = (await admin('GET', '/api/v1/runtime/flows/page/explain')).json();
        return body.observed.slow?.count === 8 ? body : undefined;
      }, 30_000, 'the workers to report 8 runs');
      assert.deepEqual(explained.criticalPath.steps, ['slow']);
    } finally {
      weir.child.kill('SIGTERM');
      await weir.exited;
      await upstream.close();
    }
  });
});
