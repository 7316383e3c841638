/**
 * How fast the analytics API's queries answer over 30 days of rollups at 1,000 req/s, on a real
 * SQLite file (and PostgreSQL when reachable). Not a test: it prints p50/max per query and checks
 * the answers are non-empty and add up to what was generated.
 *
 * The traffic model (deterministic, seeded):
 *  - 20 APIs × 5 routes, owned by 5 teams (4 APIs each); 50 consumers, each using 3 APIs; so 750
 *    consumer × route pairs, weighted Zipf-like (a few busy pairs, a long tail).
 *  - 1,000 req/s on average with a daily cycle (0.5× at night to 1.5× mid-day UTC), i.e. ~60,000
 *    requests a minute; in a minute half the pairs (375, drawn by weight) have calls, each split
 *    into 2xx / 4xx / 5xx (93 / 5 / 2 %) with a latency histogram of its route's shape.
 *  - The last MINUTE_DAYS days (default 1) are written as minute rollups (~900 rows a minute),
 *    so the minute, hourly and daily tables are maintained by the store's own write path; the
 *    older days are written as hourly rollups (every pair active each hour), which the store adds
 *    to the daily table. The minute table's size does not change the hour and day queries (they
 *    never read it); MINUTE_DAYS=30 fills it all (about 39 million rows, and a long load).
 *
 *   npm run bench:analytics                 # DAYS=30 MINUTE_DAYS=1 RUNS=20 POSTGRES=postgres://…
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { SqliteCallStore } from '../src/calls/sqlite-call-store.js';
import { PostgresCallStore } from '../src/calls/postgres-call-store.js';
import { BUCKET_COUNT, type Rollup } from '../src/calls/record.js';
import { PERIOD_MS, addSums, emptySums, type AggregateQuery, type CallStore } from '../src/calls/store.js';
import { statsOf } from '../src/admin/api/analytics.js';

const DAYS = Number(process.env['DAYS'] ?? 30);
const MINUTE_DAYS = Math.min(DAYS, Number(process.env['MINUTE_DAYS'] ?? 1));
const RUNS = Number(process.env['RUNS'] ?? 20);
const RATE = 1_000;
const POSTGRES = process.env['POSTGRES'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const ACTIVE_PER_MINUTE = 375;
const HOUR = PERIOD_MS.hour;
const DAY = PERIOD_MS.day;
const END = Math.floor(Date.now() / HOUR) * HOUR;
const START = END - DAYS * DAY;
const MINUTES_FROM = END - MINUTE_DAYS * DAY;

function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Pair { team: string; api: string; route: string; consumer: string; weight: number; shape: number[] }

/** The 750 consumer × route pairs, with weights and their route's latency shape. */
function pairs(): Pair[] {
  const random = prng(42);
  const shapes = Array.from({ length: 100 }, () => {
    // Most requests in 2–4 buckets around a route's typical latency (5 ms … 500 ms).
    const mode = 2 + Math.floor(random() * 7);
    const shape = new Array<number>(BUCKET_COUNT).fill(0);
    shape[mode - 1] = 0.2;
    shape[mode] = 0.6;
    shape[mode + 1] = 0.15;
    shape[mode + 3] = 0.05;
    return shape;
  });
  const out: Pair[] = [];
  for (let c = 0; c < 50; c++) {
    const apis = new Set<number>();
    while (apis.size < 3) apis.add(Math.floor(random() * 20));
    for (const a of apis) {
      for (let r = 0; r < 5; r++) out.push({ team: `team-${Math.floor(a / 4)}`, api: `api-${a}`, route: `api-${a}:r${r}`, consumer: `consumer-${c}`, weight: 1 / (1 + out.length) ** 0.8, shape: shapes[a * 5 + r]! });
    }
  }
  return out.sort(() => random() - 0.5);
}

/** Requests in the minute starting at `t`: 1,000/s on average, following the time of day. */
function requestsIn(t: number, ms: number): number {
  const hourOfDay = (t % DAY) / HOUR;
  return Math.round((RATE * ms) / 1000 * (1 + 0.5 * Math.sin(((hourOfDay - 6) / 24) * 2 * Math.PI)));
}

/** `count` requests of a pair in one period, as rollups per status class. */
function rollupsOfPair(pair: Pair, start: number, count: number, out: Rollup[]): void {
  const e5 = Math.floor(count * 0.02);
  const e4 = Math.floor(count * 0.05);
  for (const [statusClass, n] of [[2, count - e4 - e5], [4, e4], [5, e5]] as const) {
    if (n === 0) continue;
    const buckets = pair.shape.map((f) => Math.floor(f * n));
    buckets[pair.shape.indexOf(0.6)]! += n - buckets.reduce((a, b) => a + b, 0);
    const latencySumMs = buckets.reduce((sum, k, i) => sum + k * [0.5, 1.5, 3.5, 7.5, 17.5, 37.5, 75, 175, 375, 750, 1750, 3750, 7500, 20000, 45000, 60000][i]!, 0);
    out.push({ minute: start, team: pair.team, api: pair.api, route: pair.route, consumer: pair.consumer, statusClass, count: n, errors: statusClass === 5 ? n : Math.floor(n / 2) * Number(statusClass === 4), bytesIn: n * 120, bytesOut: n * 2400, latencySumMs, buckets });
  }
}

/** Splits `total` among pairs by weight (the remainder to the first). */
function spreadOver(chosen: Pair[], total: number, start: number, out: Rollup[]): void {
  const weights = chosen.reduce((s, p) => s + p.weight, 0);
  const counts = chosen.map((p) => Math.floor((total * p.weight) / weights));
  counts[0]! += total - counts.reduce((a, b) => a + b, 0);
  chosen.forEach((p, i) => counts[i]! > 0 && rollupsOfPair(p, start, counts[i]!, out));
}

interface Generated { total: number; byDay: Map<number, number>; minuteTotal: (from: number) => number; hourTotal: (from: number) => number }

async function load(store: CallStore): Promise<Generated> {
  const all = pairs();
  const random = prng(7);
  const byMinute = new Map<number, number>();
  const byHour = new Map<number, number>();
  const byDay = new Map<number, number>();
  let total = 0;
  const count = (start: number, n: number) => {
    total += n;
    const hour = start - (start % HOUR);
    byHour.set(hour, (byHour.get(hour) ?? 0) + n);
    byDay.set(start - (start % DAY), (byDay.get(start - (start % DAY)) ?? 0) + n);
  };
  let batch: Rollup[] = [];
  // Older days: hourly rollups, every pair active.
  for (let hour = START; hour < MINUTES_FROM; hour += HOUR) {
    const n = requestsIn(hour, HOUR);
    spreadOver(all, n, hour, batch);
    count(hour, n);
    if (batch.length >= 5_000) await store.addRollups(batch.splice(0), 'hour');
  }
  await store.addRollups(batch.splice(0), 'hour');
  // The last days: minute rollups, ACTIVE_PER_MINUTE pairs drawn by weight each minute.
  const weightSum = all.reduce((s, p) => s + p.weight, 0);
  for (let minute = MINUTES_FROM; minute < END; minute += 60_000) {
    const chosen = new Set<Pair>();
    while (chosen.size < ACTIVE_PER_MINUTE) {
      let x = random() * weightSum;
      for (const p of all) if ((x -= p.weight) <= 0) (chosen.add(p), (x = Infinity));
    }
    const n = requestsIn(minute, 60_000);
    spreadOver([...chosen], n, minute, batch);
    count(minute, n);
    byMinute.set(minute, n);
    if (batch.length >= 5_000) await store.addRollups(batch.splice(0), 'minute');
  }
  await store.addRollups(batch.splice(0), 'minute');
  const sumFrom = (map: Map<number, number>) => (from: number) => [...map].filter(([t]) => t >= from).reduce((s, [, n]) => s + n, 0);
  return { total, byDay, minuteTotal: sumFrom(byMinute), hourTotal: sumFrom(byHour) };
}

/** What the API handler does with the rows: one series per group, each point's stats. */
async function seriesOf(store: CallStore, query: AggregateQuery) {
  const rows = await store.aggregate(query);
  const groups = new Map<string, { total: ReturnType<typeof emptySums>; points: unknown[] }>();
  for (const row of rows) {
    let g = groups.get(row.group);
    if (g === undefined) groups.set(row.group, (g = { total: emptySums(), points: [] }));
    addSums(g.total, row);
    g.points.push(statsOf(row));
  }
  return { groups, requests: rows.reduce((n, r) => n + r.count, 0), rows: rows.length };
}

async function topOf(store: CallStore, query: AggregateQuery, metric: 'requests' | 'p95') {
  const rows = await store.aggregate({ ...query, overall: true });
  return rows
    .map((row) => ({ group: row.group, ...statsOf(row) }))
    .sort((a, b) => (metric === 'requests' ? b.requests - a.requests : (b.p95Ms ?? 0) - (a.p95Ms ?? 0)))
    .slice(0, 10);
}

async function time(label: string, run: () => Promise<string>): Promise<void> {
  const ms: number[] = [];
  let summary = '';
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    summary = await run();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  console.log(`  ${label.padEnd(44)} p50 ${ms[Math.floor(ms.length / 2)]!.toFixed(1).padStart(6)} ms   max ${ms[ms.length - 1]!.toFixed(1).padStart(6)} ms   ${summary}`);
}

function check(ok: boolean, what: string): void {
  if (!ok) {
    console.error(`  INCONSISTENT: ${what}`);
    process.exitCode = 1;
  }
}

async function bench(name: string, store: CallStore, size: () => string): Promise<void> {
  console.log(`\n${name}: loading ${DAYS} days at ${RATE} req/s (${MINUTE_DAYS} days as minute rollups) …`);
  const started = performance.now();
  const generated = await load(store);
  const minuteRows = (await store.aggregate({ resolution: 'minute', from: START, to: END, groupBy: 'consumer' })).length;
  console.log(`  loaded ${generated.total.toLocaleString('en')} requests in ${((performance.now() - started) / 1000).toFixed(1)} s; ${size()}; ${(await store.rollups(START, END, 'hour')).length.toLocaleString('en')} hourly rows, ${(await store.rollups(START - DAY, END, 'day')).length.toLocaleString('en')} daily rows, ~${minuteRows.toLocaleString('en')} minute × consumer groups`);

  const day = (t: number) => t - (t % DAY);
  const month: AggregateQuery = { resolution: 'day', from: day(START), to: END };
  const week: AggregateQuery = { resolution: 'hour', from: END - 7 * DAY, to: END };
  const today: AggregateQuery = { resolution: 'minute', from: END - DAY, to: END };

  await time('30 days by day', async () => {
    const s = await seriesOf(store, month);
    check(s.requests === generated.total, `30 days by day: ${s.requests} ≠ generated ${generated.total}`);
    check(s.rows >= DAYS, '30 days by day: a point a day');
    return `${s.rows} points, ${s.requests.toLocaleString('en')} requests (= generated)`;
  });
  await time('30 days by day, per API (20 series)', async () => {
    const s = await seriesOf(store, { ...month, groupBy: 'api' });
    check(s.groups.size === 20 && s.requests === generated.total, '30 days by day per API');
    return `${s.groups.size} series, ${s.rows} points`;
  });
  await time('30 days by day, one team, per route', async () => {
    const s = await seriesOf(store, { ...month, teams: ['team-2'], groupBy: 'route' });
    check(s.groups.size > 0 && s.requests > 0 && s.requests < generated.total, '30 days of one team');
    return `${s.groups.size} series, ${s.requests.toLocaleString('en')} requests`;
  });
  await time('7 days by hour', async () => {
    const s = await seriesOf(store, week);
    check(s.requests === generated.hourTotal(END - 7 * DAY), '7 days by hour total');
    return `${s.rows} points, ${s.requests.toLocaleString('en')} requests (= generated)`;
  });
  await time('7 days by hour, per API (20 series)', async () => {
    const s = await seriesOf(store, { ...week, groupBy: 'api' });
    check(s.groups.size === 20, '7 days per API');
    return `${s.groups.size} series, ${s.rows} points`;
  });
  await time('24 h by minute', async () => {
    const s = await seriesOf(store, today);
    check(s.requests === generated.minuteTotal(END - DAY) && s.rows === 1440, '24 h by minute total');
    return `${s.rows} points, ${s.requests.toLocaleString('en')} requests (= generated)`;
  });
  await time('24 h by minute, one API, per status class', async () => {
    const s = await seriesOf(store, { ...today, api: 'api-3', groupBy: 'status' });
    check(s.requests > 0, '24 h of one API');
    return `${s.groups.size} series, ${s.rows} points`;
  });
  await time('24 h by minute, one route (full table)', async () => {
    const s = await seriesOf(store, { ...today, route: 'api-3:r1' });
    return `${s.rows} points, ${s.requests.toLocaleString('en')} requests`;
  });
  await time('top-10 routes by requests over 30 days', async () => {
    const top = await topOf(store, { ...month, groupBy: 'route' }, 'requests');
    check(top.length === 10 && top.every((t, i) => i === 0 || top[i - 1]!.requests >= t.requests), 'top-10 by requests');
    return `first ${top[0]!.group} (${top[0]!.requests.toLocaleString('en')})`;
  });
  await time('top-10 consumers by p95 over 30 days', async () => {
    const top = await topOf(store, { ...month, groupBy: 'consumer' }, 'p95');
    check(top.length === 10, 'top-10 by p95');
    return `first ${top[0]!.group} (p95 ${top[0]!.p95Ms} ms)`;
  });
  await store.close();
}

const dir = mkdtempSync(join(tmpdir(), 'weir-bench-analytics-'));
try {
  await bench('SQLite (calls.db)', new SqliteCallStore(dir), () => `calls.db ${(statSync(join(dir, 'calls.db')).size / 2 ** 20).toFixed(0)} MiB`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const admin = new pg.Client({ connectionString: POSTGRES, connectionTimeoutMillis: 3_000 });
const reachable = await admin.connect().then(() => true, (err: Error) => (console.log(`\nPostgreSQL at ${POSTGRES} not reachable (${err.message}): skipped`), false));
if (reachable) {
  const schema = `weir_bench_analytics_${process.pid}`;
  try {
    const store = await PostgresCallStore.open(POSTGRES, { schema });
    await bench('PostgreSQL', store, () => `schema ${schema}`);
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  }
}
await admin.end().catch(() => {});
