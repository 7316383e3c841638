import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until, type WeirProcess } from '../support/cli.js';
import { POSTGRES_URL, startTwoNodes, stopNodes } from '../support/postgres.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call } from '../support/weir.js';
import { PostgresCallStore } from '../../src/calls/postgres-call-store.js';
import type { StoredCall } from '../../src/calls/store.js';

describe('call log in PostgreSQL, shared by two nodes', () => {
  let upstream: TestUpstream | undefined;
  const nodes: WeirProcess[] = [];
  after(async () => {
    await stopNodes(nodes);
    await upstream?.close();
  });

  it('holds every request either node served, stamped with its team, with rollups that add up', async () => {
    upstream = await startUpstream();
    const { a, b, schema } = await startTwoNodes(`global:\n  callLog: { flushInterval: 10ms }\nservices: {}\nroutes: []\n`, nodes);
    const admin = await adminClient(`http://127.0.0.1:${a.adminPort}`);
    const ops = (await admin('POST', '/api/v1/teams', { name: 'ops' })).json();
    await admin('POST', '/api/v1/services', { name: 'echo', team: 'ops', spec: { targets: [{ url: upstream.url }] } });
    assert.equal((await admin('POST', '/api/v1/routes', { name: 'hello', team: 'ops', spec: { path: '/hello/*', service: 'echo' } })).status, 201);
    for (const node of [a, b]) {
      await until(async () => ((await call(`http://127.0.0.1:${node.port}/hello/ready`)).status === 200 ? true : undefined), 10_000, 'the route on every node');
    }
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      const node = i % 2 === 0 ? a : b;
      const id = `pg-${i}`;
      assert.equal((await call(`http://127.0.0.1:${node.port}/hello/${i}`, { headers: { 'x-request-id': id } })).status, 200);
      sent.push(id);
    }
    for (const node of [a, b]) node.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);

    const store = await PostgresCallStore.open(POSTGRES_URL, { schema });
    try {
      const records: StoredCall[] = [];
      let next: string | null = null;
      do {
        const page: { items: StoredCall[]; next: string | null } = await store.list({ route: 'hello' }, { limit: 500, after: next });
        records.push(...page.items);
        next = page.next;
      } while (next !== null);
      const ours = records.filter((r) => r.id.startsWith('pg-'));
      assert.deepEqual(ours.map((r) => r.id).sort(), [...sent].sort(), 'exactly one record per request, from both nodes');
      assert.deepEqual([...new Set(ours.map((r) => r.worker))].sort(), [0, 1], 'node A (single process) and node B (worker 1) both wrote');
      assert.ok(ours.every((r) => r.team === ops.id), `stamped with the route's team (${ops.id})`);
      const rollups = await store.rollups(0, Date.now() + 60_000);
      assert.equal(rollups.filter((r) => r.route === 'hello').reduce((n, r) => n + r.count, 0), records.length, 'rollups count every record');
    } finally {
      await store.close();
    }
  });
});
