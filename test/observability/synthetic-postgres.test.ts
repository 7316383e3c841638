import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until, type WeirProcess } from '../support/cli.js';
import { startTwoNodes, stopNodes } from '../support/postgres.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient } from '../support/weir.js';

describe('synthetic checks with PostgreSQL, shared by two nodes', () => {
  let upstream: TestUpstream | undefined;
  const nodes: WeirProcess[] = [];
  after(async () => {
    await stopNodes(nodes);
    await upstream?.close();
  });

  it('runs each check on one node only, and another node takes over when that one stops', async () => {
    upstream = await startUpstream();
    // One node in a single process, the other a cluster primary with a worker: both run schedulers.
    const { a, b } = await startTwoNodes(`global:\n  synthetic: { minInterval: 50ms }\nservices:\n  backend: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: probe, path: /probe, service: backend }\n`, nodes);
    const onA = await adminClient(`http://127.0.0.1:${a.adminPort}`);
    const onB = await adminClient(`http://127.0.0.1:${b.adminPort}`);
    assert.equal((await onA('POST', '/api/v1/teams', { name: 'ops' })).status, 201);
    const created = await onA('POST', '/api/v1/checks', { name: 'probe', team: 'ops', spec: { interval: '500ms', timeout: '500ms', request: { path: '/probe' } } });
    assert.equal(created.status, 201, created.body);

    type Run = { at: string; ok: boolean; node: string };
    const runs = async (via: typeof onA): Promise<Run[]> => (await via('GET', '/api/v1/checks/probe/results?from=0&limit=10000')).json().items;
    const first = await until(async () => {
      const all = await runs(onB);
      return all.length >= 5 ? all : undefined;
    }, 30_000, 'five runs');
    assert.ok(first.some((r) => r.ok));
    const holders = new Set(first.map((r) => r.node));
    assert.equal(holders.size, 1, `one node ran the check: ${[...holders].join(', ')}`);
    const [holder] = holders;
    const ports = { a: `:${a.port}`, b: `:${b.port}` };
    assert.ok(holder!.endsWith(ports.a) || holder!.endsWith(ports.b), holder);
    const checked = upstream.requests.filter((r) => r.headers['x-weir-check'] === 'probe');
    assert.ok(checked.length >= first.length, 'every run went through a gateway to the upstream');

    const [stopped, survivor, via] = holder!.endsWith(ports.a) ? [a, b, onB] : [b, a, onA];
    stopped.child.kill('SIGTERM');
    assert.equal(await stopped.exited, 0);
    const taken = await until(async () => (await runs(via)).find((r) => r.node.endsWith(`:${survivor.port}`)), 30_000, 'the other node to take the check over');
  });
});
