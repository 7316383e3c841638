import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../observability/logger.js';
import { DEFAULTS } from '../config/normalize.js';
import { sampleCall } from './call-store.conformance.js';
import { SqliteCallStore } from './sqlite-call-store.js';
import { CallLogWriter } from './writer.js';
import type { CallRecord } from './record.js';
import { rowValues, type CallStore } from './store.js';
import type { CallLogSettings } from '../config/types.js';

function capturedLog(): { log: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { log: createLogger({ destination }), lines };
}

/** A real SQLite store whose writes wait until `release()` is called. */
function stalledStore(): { store: CallStore; release: () => void; batches: number[] } {
  const real = new SqliteCallStore(mkdtempSync(join(tmpdir(), 'weir-calls-')));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const batches: number[] = [];
  const store: CallStore = {
    insert: async (records) => {
      batches.push(records.length);
      await gate;
      await real.insert(records);
    },
    list: (f, p) => real.list(f, p),
    get: (id, teams) => real.get(id, teams),
    prune: (p) => real.prune(p),
    rollups: (from, to, resolution) => real.rollups(from, to, resolution),
    addRollups: (rollups, resolution) => real.addRollups(rollups, resolution),
    aggregate: (query) => real.aggregate(query),
    close: () => real.close(),
  };
  return { store, release, batches };
}

const settings = (over: Partial<CallLogSettings> = {}): CallLogSettings => ({ ...DEFAULTS.callLog, ...over });
const records = (n: number, prefix = 'r'): CallRecord[] => Array.from({ length: n }, (_, i) => sampleCall({ id: `${prefix}${i}`, at: Date.now() }));

describe('call log writer', () => {
  it('with a stalled store and a tiny queue, drops and counts exactly what did not fit, and warns once per episode', async () => {
    const { log, lines } = capturedLog();
    const { store, release, batches } = stalledStore();
    const writer = new CallLogWriter(store, 'sqlite', settings({ queueSize: 10, batchSize: 4, flushIntervalMs: 5 }), log);
    for (const r of records(4)) writer.record(r);
    // The first full batch is taken by the (stalled) store; the queue is then empty again.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(batches, [4]);
    for (const r of records(50, 'more')) writer.record(r);
    const stalled = writer.stats();
    assert.equal(stalled.queued, 10);
    assert.equal(stalled.dropped, 40);
    release();
    await writer.flush();
    const done = writer.stats();
    const stored = await store.list({}, { limit: 500, after: null });
    assert.equal(stored.items.length, 14);
    assert.equal(done.written, 14);
    assert.equal(done.dropped, 54 - stored.items.length, 'dropped is exactly the shortfall');
    assert.equal(lines.filter((l) => String(l.msg).startsWith('call log queue is full')).length, 1, 'one warning for the episode');
    // A second episode warns again.
    for (const r of records(30, 'again')) writer.record(r);
    assert.equal(lines.filter((l) => String(l.msg).startsWith('call log queue is full')).length, 2);
    await writer.close();
    assert.equal(writer.stats().dropped, 54 - 14 + 20);
  });

  it('counts what workers dropped, stamps owners, and flushes everything on close', async () => {
    const { log } = capturedLog();
    const dir = mkdtempSync(join(tmpdir(), 'weir-calls-'));
    const writer = new CallLogWriter(new SqliteCallStore(dir), 'sqlite', settings({ batchSize: 7, flushIntervalMs: 10_000 }), log);
    writer.setOwners((route) => (route === 'shop:list' ? { team: 't1', api: 'shop', apiVersion: 'v2' } : undefined));
    writer.accept(records(25).map((r, i) => rowValues({ ...r, route: i % 2 === 0 ? 'shop:list' : 'file', team: null, api: null, apiVersion: null })), 3);
    await writer.close();
    assert.deepEqual(writer.stats().dropped, 3);
    const again = new SqliteCallStore(dir);
    const all = await again.list({}, { limit: 100, after: null });
    assert.equal(all.items.length, 25, 'a long flush interval does not hold records back at close');
    assert.ok(all.items.filter((r) => r.route === 'shop:list').every((r) => r.team === 't1' && r.api === 'shop' && r.apiVersion === 'v2'));
    assert.ok(all.items.filter((r) => r.route === 'file').every((r) => r.team === null && r.api === null));
    await again.close();
  });

  it('applies retention by age and by rows, keeping the rollups of what it deleted', async () => {
    const { log } = capturedLog();
    const now = Date.UTC(2026, 5, 1, 12, 0, 0);
    const hour = 3600_000;
    const writer = new CallLogWriter(new SqliteCallStore(mkdtempSync(join(tmpdir(), 'weir-calls-'))), 'sqlite', settings({ maxAgeMs: 24 * hour, maxRows: 1000, rollupRetentionMs: 30 * 24 * hour }), log);
    const old = Array.from({ length: 30 }, (_, i) => sampleCall({ id: `old-${i}`, at: now - 48 * hour + i }));
    const fresh = Array.from({ length: 1500 }, (_, i) => sampleCall({ id: `new-${i}`, at: now - hour + i }));
    for (const r of [...old, ...fresh]) writer.record(r);
    await writer.flush();
    await writer.prune(now);
    const left = await writer.store.list({}, { limit: 500, after: null });
    assert.equal(left.items[0]!.id, 'new-1499');
    let count = 0;
    let after: string | null = null;
    do {
      const page: Awaited<ReturnType<CallStore['list']>> = await writer.store.list({}, { limit: 500, after });
      count += page.items.length;
      assert.ok(page.items.every((r) => r.id.startsWith('new-')), 'old records went first');
      after = page.next;
    } while (after !== null);
    assert.equal(count, 1000, 'then the oldest beyond maxRows');
    assert.equal(writer.stats().pruned, 530);
    const rollups = await writer.store.rollups(now - 72 * hour, now + hour);
    assert.equal(rollups.reduce((n, r) => n + r.count, 0), 1530, 'the rollups still count every record');
    await writer.prune(now + 40 * 24 * hour);
    assert.deepEqual(await writer.store.rollups(0, now + hour), [], 'rollups go after their own retention');
    await writer.close();
  });
});
