import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { startWeirProcess, until } from '../support/cli.js';
import { echo, startUpstream, type TestUpstream } from '../support/upstream.js';
import { call } from '../support/weir.js';
import { SqliteCallStore } from '../../src/calls/sqlite-call-store.js';
import type { StoredCall } from '../../src/calls/store.js';

describe('call log across a graceful shutdown of a multi-worker node', () => {
  let upstream: TestUpstream | undefined;
  after(async () => upstream?.close());

  it('has exactly one record per request served, including those in flight at SIGTERM', async () => {
    let hold = false;
    upstream = await startUpstream(async (req, res, body) => {
      if (hold) await new Promise((r) => setTimeout(r, 300));
      echo(req, res, body);
    });
    const dir = mkdtempSync(join(tmpdir(), 'weir-calllog-'));
    const configPath = join(dir, 'weir.yaml');
    // A long flush interval: nothing is written before shutdown unless shutdown writes it.
    writeFileSync(configPath, `global:\n  callLog: { flushInterval: 1h, batchSize: 10000 }\nservices:\n  backend: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: all, path: /*, service: backend }\n`);
    const data = join(dir, 'data');
    const weir = await startWeirProcess(['--config', configPath, '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--data', data]);
    const url = `http://127.0.0.1:${weir.port}`;
    try {
      // Many connections, so both workers serve.
      const agent = new Agent({ connections: 16 });
      const quick = await Promise.all(Array.from({ length: 60 }, (_, i) => call(`${url}/quick/${i}`, { dispatcher: agent, headers: { 'x-request-id': `quick-${i}` } })));
      assert.ok(quick.every((r) => r.status === 200));
      hold = true;
      const slow = Array.from({ length: 20 }, (_, i) => call(`${url}/slow/${i}`, { dispatcher: agent, headers: { 'x-request-id': `slow-${i}` } }));
      await until(() => (upstream!.requests.filter((r) => r.url.startsWith('/slow/')).length === 20 ? true : undefined), 10_000, 'the slow requests to reach the upstream');
      weir.child.kill('SIGTERM');
      const answered = await Promise.all(slow);
      assert.ok(answered.every((r) => r.status === 200), 'in-flight requests finish during the drain');
      assert.equal(await weir.exited, 0);
      await agent.close();
    } finally {
      if (weir.child.exitCode === null) weir.child.kill('SIGKILL');
    }
    const store = new SqliteCallStore(data);
    const records: StoredCall[] = [];
    let next: string | null = null;
    do {
      const page: { items: StoredCall[]; next: string | null } = await store.list({}, { limit: 500, after: next });
      records.push(...page.items);
      next = page.next;
    } while (next !== null);
    await store.close();
    const ids = records.map((r) => r.id).sort();
    const expected = [...Array.from({ length: 60 }, (_, i) => `quick-${i}`), ...Array.from({ length: 20 }, (_, i) => `slow-${i}`)].sort();
    assert.deepEqual(ids, expected, 'exactly N records, none lost or doubled');
    assert.equal(upstream.requests.length, 80);
    assert.ok(records.every((r) => r.status === 200 && r.route === 'all' && r.targets[0] === upstream!.url));
    assert.deepEqual([...new Set(records.map((r) => r.worker))].sort(), [1, 2], 'both workers served and were recorded');
  });
});
