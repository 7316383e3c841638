/**
 * The behaviour every CallStore must have, run against SQLite and PostgreSQL. `open` gives a
 * store on fresh state.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKET_COUNT, bucketOf, quantileMs, type CallRecord, type Rollup } from './record.js';
import { PERIOD_MS, coarsen, rollupsOf, rowValues, type AggregateRow, type CallFilter, type CallStore, type GroupBy, type Resolution, type StoredCall } from './store.js';

const valuesOf = (records: readonly CallRecord[]) => records.map(rowValues);

export interface CallStoreFactory {
  open(): Promise<CallStore>;
}

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);

/** A record with every field set; `over` changes some. */
export function sampleCall(over: Partial<CallRecord> = {}): CallRecord {
  return {
    id: 'req-1',
    at: T0,
    node: 'node-a',
    worker: 1,
    team: 'team-a',
    api: 'shop',
    apiVersion: 'v1',
    route: 'shop:list',
    kind: 'proxy',
    consumer: 'acme',
    clientIp: '127.0.0.1',
    method: 'GET',
    path: '/shop/v1/items',
    status: 200,
    errorCode: null,
    bytesIn: 0,
    bytesOut: 120,
    durationMs: 12.5,
    gatewayMs: 2.5,
    upstreamMs: 10,
    targets: ['http://127.0.0.1:1'],
    attempts: 1,
    retries: 0,
    cache: null,
    steps: null,
    traceId: null,
    ...over,
  };
}

/** A varied log: 5 minutes, 3 routes, 2 teams, every status class, latencies 1..~3000 ms. */
function varied(): CallRecord[] {
  const out: CallRecord[] = [];
  for (let i = 0; i < 300; i++) {
    const status = [200, 201, 404, 500, 503, 302][i % 6]!;
    out.push(
      sampleCall({
        id: `r${i}`,
        at: T0 + i * 1000,
        team: i % 3 === 0 ? null : i % 3 === 1 ? 'team-a' : 'team-b',
        api: i % 3 === 0 ? null : 'shop',
        route: ['file-route', 'shop:list', 'shop:get'][i % 3]!,
        consumer: i % 4 === 0 ? null : `c${i % 4}`,
        status,
        errorCode: status >= 500 ? 'WEIR_UPSTREAM_ERROR' : status === 404 ? 'WEIR_NO_ROUTE' : null,
        durationMs: (i * 37) % 3000 + 0.5,
        bytesIn: i,
        bytesOut: i * 2,
        path: `/items/${i}`,
      }),
    );
  }
  return out;
}

async function all(store: CallStore, filter: CallFilter): Promise<StoredCall[]> {
  const out: StoredCall[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { items: StoredCall[]; next: string | null } = await store.list(filter, { limit: 37, after });
    out.push(...page.items);
    if (page.next === null) return out;
    after = page.next;
  }
}

const keyOf = (r: Rollup) => `${r.minute}|${r.team}|${r.api}|${r.route}|${r.consumer}|${r.statusClass}`;
const sortRollups = (rows: Rollup[]) => [...rows].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));

/** Two days and a bit of traffic: 3 APIs, 2 teams and the file's routes, every status class. */
function spread(): CallRecord[] {
  const out: CallRecord[] = [];
  for (let i = 0; i < 600; i++) {
    const status = [200, 204, 404, 500, 200, 302, 503][i % 7]!;
    const api = ['shop', 'pay', 'maps', null][i % 4]!;
    out.push(
      sampleCall({
        id: `s${i}`,
        // Every 5 minutes and 17 seconds: crosses hours and two day boundaries.
        at: T0 + i * 317_000,
        team: api === null ? null : api === 'maps' ? 'team-b' : 'team-a',
        api,
        route: api === null ? 'file-route' : `${api}:${i % 2 === 0 ? 'list' : 'get'}`,
        consumer: i % 5 === 0 ? null : `c${i % 3}`,
        status,
        errorCode: status >= 500 ? 'WEIR_UPSTREAM_ERROR' : null,
        durationMs: (i * 53) % 2000 + 0.25,
        bytesIn: i % 11,
        bytesOut: i * 3,
      }),
    );
  }
  return out;
}

/** What an aggregate of `records` must be, computed from the raw records. */
function expectedAggregate(records: readonly CallRecord[], resolution: Resolution, groupBy: GroupBy | null, overall = false): AggregateRow[] {
  const period = PERIOD_MS[resolution];
  const groupOf = (r: CallRecord): string =>
    groupBy === null ? '' : groupBy === 'status' ? String(Math.floor(r.status / 100)) : groupBy === 'route' ? r.route : (r[groupBy] ?? '');
  const rows = new Map<string, AggregateRow>();
  for (const r of records) {
    const start = overall ? 0 : r.at - (r.at % period);
    const key = `${start}|${groupOf(r)}`;
    let row = rows.get(key);
    if (row === undefined) rows.set(key, (row = { period: start, group: groupOf(r), count: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencySumMs: 0, buckets: new Array<number>(BUCKET_COUNT).fill(0) }));
    row.count++;
    if (r.status >= 500 || r.errorCode !== null) row.errors++;
    row.bytesIn += r.bytesIn;
    row.bytesOut += r.bytesOut;
    row.latencySumMs += r.durationMs;
    row.buckets[bucketOf(r.durationMs)]!++;
  }
  return [...rows.values()].sort((a, b) => a.period - b.period || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
}

/** Latency sums are floating point: compared rounded. */
const rounded = (rows: AggregateRow[]) => rows.map((r) => ({ ...r, latencySumMs: Math.round(r.latencySumMs * 1000) / 1000 }));

export function callStoreConformance(name: string, factory: CallStoreFactory): void {
  describe(`${name}: call store`, () => {
    it('stores every field of a record and gives it back by request id, steps included', async () => {
      const store = await factory.open();
      const steps = [
        { name: 'user', startMs: 0, durationMs: 20.125, status: 'ok', attempts: 1, httpStatus: 200 },
        { name: 'orders', startMs: 20.5, durationMs: 30, status: 'ok', attempts: 3, httpStatus: 200, coalesced: 1, cache: 'miss' },
      ];
      const record = sampleCall({ kind: 'flow', steps, targets: [], cache: 'hit', errorCode: 'WEIR_STEP_FAILED', status: 502, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
      await store.insert(valuesOf([record]));
      const got = await store.get('req-1', null);
      assert.ok(got !== undefined);
      const { seq, ...rest } = got;
      assert.ok(seq > 0);
      assert.deepEqual(rest, record);
      assert.equal(await store.get('nope', null), undefined);
      assert.equal(await store.get('req-1', ['team-b']), undefined, 'another team does not see it');
      assert.ok(await store.get('req-1', ['team-a']));
      await store.close();
    });

    it('filters by each field, and by several at once', async () => {
      const store = await factory.open();
      const records = varied();
      await store.insert(valuesOf(records));
      const check = async (filter: CallFilter, expected: (r: CallRecord) => boolean, what: string) => {
        const got = (await all(store, filter)).map((r) => r.id).sort();
        const want = records.filter(expected).map((r) => r.id).sort();
        assert.ok(want.length > 0 || what.includes('none'), `${what}: the sample has matches`);
        assert.deepEqual(got, want, what);
      };
      await check({ from: T0 + 100_000, to: T0 + 200_000 }, (r) => r.at >= T0 + 100_000 && r.at < T0 + 200_000, 'time range');
      await check({ teams: ['team-a'] }, (r) => r.team === 'team-a', 'team');
      await check({ teams: ['team-a', 'team-b'] }, (r) => r.team !== null, 'teams');
      await check({ teams: [] }, () => false, 'no teams: none');
      await check({ api: 'shop' }, (r) => r.api === 'shop', 'api');
      await check({ route: 'shop:get' }, (r) => r.route === 'shop:get', 'route');
      await check({ consumer: 'c1' }, (r) => r.consumer === 'c1', 'consumer');
      await check({ status: 404 }, (r) => r.status === 404, 'status');
      await check({ statusClass: 5 }, (r) => r.status >= 500, 'status class');
      await check({ minLatencyMs: 1000, maxLatencyMs: 2000 }, (r) => r.durationMs >= 1000 && r.durationMs <= 2000, 'latency range');
      await check({ errorCode: 'WEIR_UPSTREAM_ERROR' }, (r) => r.errorCode === 'WEIR_UPSTREAM_ERROR', 'error code');
      await check({ pathContains: '/12' }, (r) => r.path.includes('/12'), 'path text');
      await check({ pathContains: '%' }, () => false, 'path text is literal: none');
      await check({ requestId: 'r42' }, (r) => r.id === 'r42', 'request id');
      await check({ teams: ['team-b'], statusClass: 4, route: 'shop:get' }, (r) => r.team === 'team-b' && r.status >= 400 && r.status < 500 && r.route === 'shop:get', 'combined');
      await store.close();
    });

    it('pages newest first with a cursor that records written meanwhile do not disturb', async () => {
      const store = await factory.open();
      await store.insert(valuesOf(varied().slice(0, 100)));
      const first = await store.list({}, { limit: 30, after: null });
      assert.deepEqual(first.items.map((r) => r.id), Array.from({ length: 30 }, (_, i) => `r${99 - i}`));
      await store.insert(valuesOf([sampleCall({ id: 'late-1' }), sampleCall({ id: 'late-2' })]));
      const seen = [...first.items];
      let after = first.next;
      while (after !== null) {
        const page = await store.list({}, { limit: 30, after });
        seen.push(...page.items);
        after = page.next;
      }
      assert.deepEqual(seen.map((r) => r.id), Array.from({ length: 100 }, (_, i) => `r${99 - i}`), 'every record once, in order, none of the new ones');
      assert.equal((await store.list({}, { limit: 1, after: null })).items[0]!.id, 'late-2');
      await store.close();
    });

    it('keeps per-minute rollups that match the raw records exactly, across batches', async () => {
      const store = await factory.open();
      const records = varied();
      // Several batches, so rollup rows are added to, not only created.
      for (let i = 0; i < records.length; i += 64) await store.insert(valuesOf(records.slice(i, i + 64)));
      const stored = await store.rollups(T0 - 60_000, T0 + 3600_000);
      assert.deepEqual(sortRollups(stored), sortRollups(rollupsOf(valuesOf(records))));
      // And against the raw rows read back: counts, errors, bytes, histogram per minute and route.
      const raw = await all(store, {});
      for (const rollup of stored) {
        const mine = raw.filter((r) => r.at - (r.at % 60_000) === rollup.minute && r.route === rollup.route && (r.team ?? '') === rollup.team && (r.consumer ?? '') === rollup.consumer && Math.floor(r.status / 100) === rollup.statusClass);
        assert.equal(rollup.count, mine.length);
        assert.equal(rollup.errors, mine.filter((r) => r.status >= 500 || r.errorCode !== null).length);
        assert.equal(rollup.bytesOut, mine.reduce((n, r) => n + r.bytesOut, 0));
        const buckets = new Array<number>(BUCKET_COUNT).fill(0);
        for (const r of mine) buckets[bucketOf(r.durationMs)]!++;
        assert.deepEqual(rollup.buckets, buckets);
      }
      assert.equal(stored.reduce((n, r) => n + r.count, 0), records.length);
      await store.close();
    });

    it('retention deletes old and surplus records in chunks and keeps the rollups for longer', async () => {
      const store = await factory.open();
      const records = varied();
      await store.insert(valuesOf(records));
      const cutoff = T0 + 120_000;
      const pruned = await store.prune({ callsBefore: cutoff, maxRows: 1_000_000, rollupsBefore: T0 - 1, chunk: 7 });
      assert.equal(pruned.calls, records.filter((r) => r.at < cutoff).length);
      assert.equal(pruned.rollups, 0);
      const left = await all(store, {});
      assert.deepEqual(left.map((r) => r.id).sort(), records.filter((r) => r.at >= cutoff).map((r) => r.id).sort());
      assert.equal((await store.rollups(T0, T0 + 3600_000)).reduce((n, r) => n + r.count, 0), records.length, 'rollups still count the deleted records');

      const bySize = await store.prune({ callsBefore: 0, maxRows: 50, rollupsBefore: T0 - 1, chunk: 7 });
      assert.equal(bySize.calls, left.length - 50);
      assert.deepEqual((await all(store, {})).map((r) => r.id), left.slice(0, 50).map((r) => r.id), 'the newest 50 stay');

      const rollupsGone = await store.prune({ callsBefore: 0, maxRows: 1_000_000, rollupsBefore: T0 + 120_000, chunk: 3 });
      assert.ok(rollupsGone.rollups > 0);
      const minutes = new Set((await store.rollups(0, T0 + 3600_000)).map((r) => r.minute));
      assert.deepEqual([...minutes].sort(), [T0 + 120_000, T0 + 180_000, T0 + 240_000]);
      await store.close();
    });

    it('answers percentiles from a rollup histogram within one bucket of the raw ones', async () => {
      const store = await factory.open();
      const latencies = Array.from({ length: 200 }, (_, i) => (i * 7.3) % 900 + 1);
      await store.insert(valuesOf(latencies.map((ms, i) => sampleCall({ id: `p${i}`, durationMs: ms, at: T0 + i }))));
      const [rollup] = await store.rollups(T0, T0 + 60_000);
      const sorted = [...latencies].sort((a, b) => a - b);
      for (const q of [0.5, 0.95, 0.99]) {
        const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
        const estimate = quantileMs(rollup!.buckets, q)!;
        assert.equal(bucketOf(estimate), bucketOf(exact), `p${q * 100}: ${estimate} vs ${exact}`);
      }
      await store.close();
    });

    it('keeps hourly and daily rollups equal to the minute rollups summed, as records are written', async () => {
      const store = await factory.open();
      const records = spread();
      for (let i = 0; i < records.length; i += 50) await store.insert(valuesOf(records.slice(i, i + 50)));
      const end = T0 + 4 * 86_400_000;
      const minutes = await store.rollups(0, end);
      assert.equal(minutes.reduce((n, r) => n + r.count, 0), records.length);
      for (const resolution of ['hour', 'day'] as const) {
        const stored = await store.rollups(0, end, resolution);
        assert.ok(stored.every((r) => r.minute % PERIOD_MS[resolution] === 0), `${resolution}: periods start on the ${resolution}`);
        assert.deepEqual(sortRollups(stored).map((r) => ({ ...r, latencySumMs: Math.round(r.latencySumMs * 1000) })), sortRollups(coarsen(rollupsOf(valuesOf(records)), resolution)).map((r) => ({ ...r, latencySumMs: Math.round(r.latencySumMs * 1000) })), resolution);
      }
      assert.equal(new Set((await store.rollups(0, end, 'day')).map((r) => r.minute)).size, 3, 'three days');
      await store.close();
    });

    it('aggregates per period and group at each resolution exactly as the raw records say, with filters and teams', async () => {
      const store = await factory.open();
      const records = spread();
      await store.insert(valuesOf(records));
      const from = T0 - (T0 % 86_400_000);
      const to = from + 4 * 86_400_000;
      for (const resolution of ['minute', 'hour', 'day'] as const) {
        for (const groupBy of [null, 'api', 'route', 'consumer', 'team', 'status'] as const) {
          const got = await store.aggregate({ resolution, from, to, groupBy });
          assert.deepEqual(rounded(got), rounded(expectedAggregate(records, resolution, groupBy)), `${resolution} by ${groupBy}`);
        }
      }
      // A range inside the data: only its periods.
      const hourFrom = T0 + 3 * 3_600_000;
      const inRange = records.filter((r) => r.at >= hourFrom && r.at < hourFrom + 5 * 3_600_000);
      assert.deepEqual(rounded(await store.aggregate({ resolution: 'hour', from: hourFrom, to: hourFrom + 5 * 3_600_000 })), rounded(expectedAggregate(inRange, 'hour', null)));
      // Filters, and teams ('' is the file's own routes).
      const only = (keep: (r: CallRecord) => boolean) => records.filter(keep);
      const cases: Array<[Parameters<CallStore['aggregate']>[0], CallRecord[]]> = [
        [{ resolution: 'day', from, to, api: 'shop', groupBy: 'route' }, only((r) => r.api === 'shop')],
        [{ resolution: 'hour', from, to, route: 'pay:get', groupBy: 'status' }, only((r) => r.route === 'pay:get')],
        [{ resolution: 'day', from, to, consumer: 'c1', groupBy: 'api' }, only((r) => r.consumer === 'c1')],
        [{ resolution: 'day', from, to, teams: ['team-b'], groupBy: 'api' }, only((r) => r.team === 'team-b')],
        [{ resolution: 'day', from, to, teams: ['team-a', ''], groupBy: 'team' }, only((r) => r.team !== 'team-b')],
        [{ resolution: 'day', from, to, teams: [] }, []],
      ];
      for (const [query, want] of cases) {
        assert.deepEqual(rounded(await store.aggregate(query)), rounded(expectedAggregate(want, query.resolution, query.groupBy ?? null)), JSON.stringify(query));
      }
      // One row per group over the whole range (top-N lists).
      assert.deepEqual(rounded(await store.aggregate({ resolution: 'day', from, to, groupBy: 'consumer', overall: true })), rounded(expectedAggregate(records, 'day', 'consumer', true)));
      await store.close();
    });

    it('adds loaded rollups to their resolution and the coarser ones only, and prunes each table by its own retention', async () => {
      const store = await factory.open();
      const hourly = coarsen(rollupsOf(valuesOf(spread())), 'hour');
      await store.addRollups(hourly, 'hour');
      const end = T0 + 4 * 86_400_000;
      assert.deepEqual(await store.rollups(0, end), [], 'no minute rollups');
      const total = hourly.reduce((n, r) => n + r.count, 0);
      assert.equal((await store.rollups(0, end, 'hour')).reduce((n, r) => n + r.count, 0), total);
      assert.equal((await store.rollups(0, end, 'day')).reduce((n, r) => n + r.count, 0), total);
      await store.insert(valuesOf(spread().slice(0, 10)));
      const dayOne = T0 - (T0 % 86_400_000) + 86_400_000;
      const pruned = await store.prune({ callsBefore: 0, maxRows: 1_000_000, rollupsBefore: 0, hourlyRollupsBefore: dayOne, dailyRollupsBefore: dayOne, chunk: 5 });
      assert.ok(pruned.rollups > 0);
      assert.ok((await store.rollups(0, end, 'hour')).every((r) => r.minute >= dayOne));
      assert.deepEqual([...new Set((await store.rollups(0, end, 'day')).map((r) => r.minute))], [dayOne, dayOne + 86_400_000]);
      assert.equal((await store.rollups(0, end)).reduce((n, r) => n + r.count, 0), 10, 'minute rollups kept: their cutoff is 0');
      // The per-API tables (totals, per API/team/status) were pruned alike: they agree with the full ones.
      for (const resolution of ['minute', 'hour', 'day'] as const) {
        const perApi = await store.aggregate({ resolution, from: 0, to: end, groupBy: 'api' });
        const full = await store.aggregate({ resolution, from: 0, to: end, groupBy: 'route' });
        assert.equal(perApi.reduce((n, r) => n + r.count, 0), full.reduce((n, r) => n + r.count, 0), resolution);
      }
      await store.close();
    });
  });
}

/** Minute rollups a store of the first schema version held, to write before upgrading. */
export function oldMinuteRollups(): Rollup[] {
  return rollupsOf(valuesOf(spread()));
}

/** After an upgrade: the hourly, daily and per-API rollups were filled from the minute ones. */
export async function assertBackfilled(store: CallStore): Promise<void> {
  const minutes = oldMinuteRollups();
  const end = T0 + 4 * 86_400_000;
  const norm = (rows: Rollup[]) => sortRollups(rows).map((r) => ({ ...r, latencySumMs: Math.round(r.latencySumMs * 1000) }));
  for (const resolution of ['hour', 'day'] as const) assert.deepEqual(norm(await store.rollups(0, end, resolution)), norm(coarsen(minutes, resolution)), resolution);
  const total = minutes.reduce((n, r) => n + r.count, 0);
  for (const resolution of ['minute', 'hour', 'day'] as const) {
    const perApi = await store.aggregate({ resolution, from: 0, to: end, groupBy: 'api' });
    assert.equal(perApi.reduce((n, r) => n + r.count, 0), total, `${resolution} per API`);
  }
}
