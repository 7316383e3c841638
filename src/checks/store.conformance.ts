/**
 * The behaviour every CheckResultStore must have, run against SQLite and PostgreSQL. `open` gives
 * a store on fresh state; `openAgain` a second handle on the same state, as another node would have.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkSeries, type CheckResultStore, type CheckRun } from './store.js';

export interface CheckStoreFactory {
  open(): Promise<{ store: CheckResultStore; openAgain: () => Promise<CheckResultStore> }>;
}

const T = 1_700_000_040_000; // a whole minute

export function sampleRun(over: Partial<CheckRun> = {}): CheckRun {
  return { check: 'c', team: 'team-1', at: T, ok: true, reason: null, detail: null, status: 200, latencyMs: 12.5, steps: null, node: 'n1', ...over };
}

export function checkStoreConformance(name: string, factory: CheckStoreFactory): void {
  describe(`${name}: check result store`, () => {
    it('keeps runs as written and answers a time range newest first, per check', async () => {
      const { store } = await factory.open();
      const steps = [{ name: 'user', durationMs: 3.5, desc: 'ok 200' }, { name: 'orders', durationMs: 7, desc: 'failed 503' }];
      const failed = sampleRun({ at: T + 2000, ok: false, reason: 'latency', detail: 'took 900 ms, more than 500 ms', latencyMs: 900.25, steps });
      await store.insert(sampleRun({ at: T }));
      await store.insert(sampleRun({ at: T + 1000, ok: false, reason: 'timeout', status: null, detail: 'no answer in 2000 ms' }));
      await store.insert(failed);
      await store.insert(sampleRun({ check: 'other', at: T + 1500 }));
      const runs = await store.runs('c', T, T + 10_000, 100);
      assert.deepEqual(runs.map((r) => r.at), [T + 2000, T + 1000, T]);
      assert.deepEqual(runs[0], failed);
      assert.equal(runs[1]!.status, null);
      assert.deepEqual((await store.runs('c', T + 500, T + 2000, 100)).map((r) => r.at), [T + 1000], 'from inclusive, to exclusive');
      assert.equal((await store.runs('c', T, T + 10_000, 2)).length, 2);
      await store.close();
    });

    it('gives the newest run of each check asked for', async () => {
      const { store } = await factory.open();
      await store.insert(sampleRun({ check: 'a', at: T }));
      await store.insert(sampleRun({ check: 'a', at: T + 5, ok: false, reason: 'status', status: 503 }));
      await store.insert(sampleRun({ check: 'b', at: T + 1 }));
      const latest = await store.latest(['a', 'b', 'none']);
      assert.deepEqual([...latest.keys()].sort(), ['a', 'b']);
      assert.equal(latest.get('a')!.status, 503);
      assert.equal((await store.latest([])).size, 0);
      await store.close();
    });

    it('prunes runs older than the retention, and forgets a deleted check', async () => {
      const { store } = await factory.open();
      for (let i = 0; i < 5; i++) await store.insert(sampleRun({ at: T + i * 1000 }));
      await store.insert(sampleRun({ check: 'gone', at: T + 9000 }));
      assert.equal(await store.prune(T + 2000), 2);
      assert.deepEqual((await store.runs('c', 0, T * 2, 100)).map((r) => r.at), [T + 4000, T + 3000, T + 2000]);
      await store.claim('gone', 'n1', T + 100_000, T);
      await store.forget('gone');
      assert.deepEqual(await store.runs('gone', 0, T * 2, 100), []);
      assert.equal(await store.claim('gone', 'n2', T + 100_000, T), true, 'its lease went with it');
      await store.close();
    });

    it('leases a check to one holder until it runs out; the holder renews it', async () => {
      const { store, openAgain } = await factory.open();
      const other = await openAgain();
      assert.equal(await store.claim('c', 'n1', T + 100, T), true);
      assert.equal(await other.claim('c', 'n2', T + 150, T + 50), false, 'held by n1');
      assert.equal(await store.claim('c', 'n1', T + 200, T + 90), true, 'n1 renews');
      assert.equal(await other.claim('c', 'n2', T + 250, T + 150), false, 'the renewal holds');
      assert.equal(await other.claim('c', 'n2', T + 400, T + 201), true, 'a lapsed lease is taken over');
      assert.equal(await store.claim('c', 'n1', T + 500, T + 250), false, 'the old holder lost it');
      const contested = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? store : other).claim('race', `h${i}`, T + 100, T)));
      assert.equal(contested.filter(Boolean).length, 1);
      await other.close();
      await store.close();
    });

    it('makes a series of success ratio and latency percentiles per minute and per hour', async () => {
      const { store } = await factory.open();
      // Minute 0: 4 runs, 3 ok, latencies 10, 20, 30, 400. Minute 2: 1 failed run.
      const latencies = [10, 20, 30, 400];
      for (const [i, ms] of latencies.entries()) await store.insert(sampleRun({ at: T + i * 10_000, latencyMs: ms, ok: ms < 100, reason: ms < 100 ? null : 'latency' }));
      await store.insert(sampleRun({ at: T + 120_000, latencyMs: 5, ok: false, reason: 'status', status: 500 }));
      const minutes = await checkSeries(store, 'c', { from: T, to: T + 180_000, resolution: 'minute' });
      assert.deepEqual(minutes, [
        { start: T, runs: 4, successes: 3, successRatio: 0.75, latencyP50Ms: 20, latencyP95Ms: 400 },
        { start: T + 120_000, runs: 1, successes: 0, successRatio: 0, latencyP50Ms: 5, latencyP95Ms: 5 },
      ]);
      const hours = await checkSeries(store, 'c', { from: T, to: T + 180_000, resolution: 'hour' });
      assert.equal(hours.length, 1);
      assert.equal(hours[0]!.runs, 5);
      assert.equal(hours[0]!.successRatio, 0.6);
      assert.equal(hours[0]!.start, Math.floor(T / 3_600_000) * 3_600_000);
      await store.close();
    });
  });
}
