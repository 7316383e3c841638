/**
 * Where call records and their rollups are kept: `<data>/calls.db` (SQLite, its own file so call
 * writes never contend with config writes) or PostgreSQL (`--store postgres://`). Both pass the
 * same conformance suite (call-store.conformance.ts). The SQL of a query is built here once for
 * both, only the placeholders differ.
 */
import { BUCKET_COUNT, bucketOf, type CallRecord, type Rollup } from './record.js';

/** Filters of the query API; every one optional, all of them ANDed. */
export interface CallFilter {
  /** epoch ms, inclusive. */
  from?: number;
  /** epoch ms, exclusive. */
  to?: number;
  /** Only these teams' calls (null or absent: any, file routes included). */
  teams?: readonly string[] | null;
  api?: string;
  route?: string;
  consumer?: string;
  status?: number;
  /** 2 for 2xx … 5 for 5xx. */
  statusClass?: number;
  minLatencyMs?: number;
  maxLatencyMs?: number;
  errorCode?: string;
  /** Substring of the path. */
  pathContains?: string;
  requestId?: string;
}

export interface Page {
  limit: number;
  /** The `next` of the previous page. */
  after: string | null;
}

export interface StoredCall extends CallRecord {
  /** Position in the log (increases with every record written): the cursor. */
  seq: number;
}

export interface RetentionPolicy {
  /** Raw records that arrived before this (epoch ms) go. */
  callsBefore: number;
  /** At most this many raw records are kept, the newest. */
  maxRows: number;
  /** Rollups of minutes before this go. */
  rollupsBefore: number;
  /** Hourly and daily rollups of periods that started before these go (absent: kept). */
  hourlyRollupsBefore?: number;
  dailyRollupsBefore?: number;
  /** Rows deleted per statement, so no lock is held for long. */
  chunk: number;
}

export interface CallStore {
  /** Stores the records (as `rowValues` gives them) and adds them to their minutes' rollups, atomically. */
  insert(rows: readonly CallValues[]): Promise<void>;
  /** Newest first; `next` is a cursor stable under inserts (null on the last page). */
  list(filter: CallFilter, page: Page): Promise<{ items: StoredCall[]; next: string | null }>;
  /** The newest record with this request id the teams may see. */
  get(id: string, teams: readonly string[] | null): Promise<StoredCall | undefined>;
  /** Deletes what retention says in chunks; how many records and rollups went. */
  prune(policy: RetentionPolicy): Promise<{ calls: number; rollups: number }>;
  /** Rollups of minutes in [from, to), oldest first (or of hours or days: `resolution`). */
  rollups(from: number, to: number, resolution?: Resolution): Promise<Rollup[]>;
  /**
   * Adds rollup deltas of one resolution (their `minute` is the start of their period) to that
   * table and to the coarser ones. `insert` does this for its records; this is for loading
   * generated or imported rollups (the analytics benchmark).
   */
  addRollups(rollups: readonly Rollup[], resolution?: Resolution): Promise<void>;
  /** Sums of the rollups a query selects, per period and group (see aggregateSql). */
  aggregate(query: AggregateQuery): Promise<AggregateRow[]>;
  close(): Promise<void>;
}

/** A cursor is the last seq seen, opaque to clients. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string | null): number | null {
  if (cursor === null) return null;
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^s\d{1,16}$/.test(text) ? Number(text.slice(1)) : Number.NaN;
}

/** WHERE of a filter, with `$n` or `?` placeholders as `param` numbers them. */
export function whereOf(filter: CallFilter, after: number | null, param: (value: unknown) => string): string {
  const parts: string[] = [];
  const add = (sql: string, value: unknown) => parts.push(sql.replace('#', param(value)));
  if (after !== null) add('seq < #', after);
  if (filter.from !== undefined) add('at >= #', filter.from);
  if (filter.to !== undefined) add('at < #', filter.to);
  if (filter.teams != null) {
    if (filter.teams.length === 0) parts.push('1 = 0');
    else parts.push(`team IN (${filter.teams.map((t) => param(t)).join(', ')})`);
  }
  if (filter.api !== undefined) add('api = #', filter.api);
  if (filter.route !== undefined) add('route = #', filter.route);
  if (filter.consumer !== undefined) add('consumer = #', filter.consumer);
  if (filter.status !== undefined) add('status = #', filter.status);
  if (filter.statusClass !== undefined) {
    add('status >= #', filter.statusClass * 100);
    add('status < #', filter.statusClass * 100 + 100);
  }
  if (filter.minLatencyMs !== undefined) add('duration_ms >= #', filter.minLatencyMs);
  if (filter.maxLatencyMs !== undefined) add('duration_ms <= #', filter.maxLatencyMs);
  if (filter.errorCode !== undefined) add('error_code = #', filter.errorCode);
  if (filter.pathContains !== undefined) add("path LIKE # ESCAPE '\\'", `%${filter.pathContains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (filter.requestId !== undefined) add('id = #', filter.requestId);
  return parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`;
}

/** The columns of the calls table, in insert order. */
export const CALL_COLUMNS = [
  'id', 'at', 'node', 'worker', 'team', 'api', 'api_version', 'route', 'kind', 'consumer', 'client_ip', 'method', 'path', 'status', 'error_code',
  'bytes_in', 'bytes_out', 'duration_ms', 'gateway_ms', 'upstream_ms', 'targets', 'attempts', 'retries', 'cache', 'steps', 'trace_id',
] as const;

/**
 * A record as the values of CALL_COLUMNS: how records travel from a worker to the writer (IPC,
 * then the writer thread) and into the store. An array of values is about half the JSON of the
 * object and a third of the cost to copy to a thread (no keys to write and read back; measured in
 * bench/call-log.ts) — and it is the insert statement's parameters as they are.
 */
export type CallValues = unknown[];

/** The position of each column in CallValues. */
export const COLUMN = Object.fromEntries(CALL_COLUMNS.map((name, i) => [name, i])) as { readonly [K in (typeof CALL_COLUMNS)[number]]: number };

/** A record as the values of CALL_COLUMNS. */
export function rowValues(r: CallRecord): CallValues {
  return [
    r.id, r.at, r.node, r.worker, r.team, r.api, r.apiVersion, r.route, r.kind, r.consumer, r.clientIp, r.method, r.path, r.status, r.errorCode,
    r.bytesIn, r.bytesOut, r.durationMs, r.gatewayMs, r.upstreamMs, JSON.stringify(r.targets), r.attempts, r.retries, r.cache, r.steps === null ? null : JSON.stringify(r.steps), r.traceId,
  ];
}

/** A batch summed into rollup deltas, one per minute and key. */
export function rollupsOf(rows: readonly CallValues[]): Rollup[] {
  const byKey = new Map<string, Rollup>();
  const { at: AT, team: TEAM, api: API, route: ROUTE, consumer: CONSUMER, status: STATUS, error_code: ERROR_CODE, bytes_in: BYTES_IN, bytes_out: BYTES_OUT, duration_ms: DURATION } = COLUMN;
  for (const row of rows) {
    const at = row[AT] as number;
    const status = row[STATUS] as number;
    const durationMs = row[DURATION] as number;
    const minute = at - (at % 60_000);
    const statusClass = Math.floor(status / 100);
    const team = (row[TEAM] as string | null) ?? '';
    const api = (row[API] as string | null) ?? '';
    const route = row[ROUTE] as string;
    const consumer = (row[CONSUMER] as string | null) ?? '';
    const key = `${minute}\u0000${team}\u0000${api}\u0000${route}\u0000${consumer}\u0000${statusClass}`;
    let rollup = byKey.get(key);
    if (rollup === undefined) {
      rollup = { minute, team, api, route, consumer, statusClass, count: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencySumMs: 0, buckets: new Array<number>(BUCKET_COUNT).fill(0) };
      byKey.set(key, rollup);
    }
    rollup.count++;
    // An error: a 5xx, or refused with an error code (Rollup.errors).
    if (status >= 500 || row[ERROR_CODE] !== null) rollup.errors++;
    rollup.bytesIn += row[BYTES_IN] as number;
    rollup.bytesOut += row[BYTES_OUT] as number;
    rollup.latencySumMs += durationMs;
    rollup.buckets[bucketOf(durationMs)]!++;
  }
  return [...byKey.values()];
}

export interface CallRow {
  seq: number;
  id: string;
  at: number;
  node: string;
  worker: number;
  team: string | null;
  api: string | null;
  api_version: string | null;
  route: string;
  kind: string;
  consumer: string | null;
  client_ip: string;
  method: string;
  path: string;
  status: number;
  error_code: string | null;
  bytes_in: number;
  bytes_out: number;
  duration_ms: number;
  gateway_ms: number;
  upstream_ms: number;
  targets: string | string[];
  attempts: number;
  retries: number;
  cache: string | null;
  steps: string | null | CallRecord['steps'];
  trace_id: string | null;
}

export function callOfRow(row: CallRow): StoredCall {
  return {
    seq: Number(row.seq),
    id: row.id,
    at: Number(row.at),
    node: row.node,
    worker: row.worker,
    team: row.team,
    api: row.api,
    apiVersion: row.api_version,
    route: row.route,
    kind: row.kind as CallRecord['kind'],
    consumer: row.consumer,
    clientIp: row.client_ip,
    method: row.method,
    path: row.path,
    status: row.status,
    errorCode: row.error_code,
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    durationMs: row.duration_ms,
    gatewayMs: row.gateway_ms,
    upstreamMs: row.upstream_ms,
    targets: typeof row.targets === 'string' ? (JSON.parse(row.targets) as string[]) : row.targets,
    attempts: row.attempts,
    retries: row.retries,
    cache: row.cache,
    steps: typeof row.steps === 'string' ? (JSON.parse(row.steps) as CallRecord['steps']) : row.steps,
    traceId: row.trace_id ?? null,
  };
}

/** The rollup table's key and value columns; `b0`…`b15` are the latency buckets. */
export const ROLLUP_KEY = ['minute', 'team', 'api', 'route', 'consumer', 'status_class'] as const;

export function rollupValues(r: Rollup): unknown[] {
  return [r.minute, r.team, r.api, r.route, r.consumer, r.statusClass, r.count, r.errors, r.bytesIn, r.bytesOut, r.latencySumMs, ...r.buckets];
}

export interface RollupRow {
  minute: number;
  team: string;
  api: string;
  route: string;
  consumer: string;
  status_class: number;
  count: number;
  errors: number;
  bytes_in: number;
  bytes_out: number;
  latency_sum_ms: number;
  [bucket: `b${number}`]: number;
}

export function rollupOfRow(row: RollupRow, bucketCount: number): Rollup {
  return {
    minute: Number(row.minute),
    team: row.team,
    api: row.api,
    route: row.route,
    consumer: row.consumer,
    statusClass: row.status_class,
    ...sumsOfRow(row, bucketCount),
  };
}

/** The rollup tables: per minute (written with the records), per hour and per day (UTC) maintained alongside. */
export type Resolution = 'minute' | 'hour' | 'day';
export const RESOLUTIONS: readonly Resolution[] = ['minute', 'hour', 'day'];
export const PERIOD_MS: Record<Resolution, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
export const ROLLUP_TABLE: Record<Resolution, string> = { minute: 'call_rollups', hour: 'call_rollups_hour', day: 'call_rollups_day' };
/**
 * The same per API only (route and consumer ''): 20–50 times fewer rows, so what is not asked
 * per route or consumer (totals, per API, team or status) sums a small table.
 */
export const API_ROLLUP_TABLE: Record<Resolution, string> = { minute: 'call_rollups_by_api', hour: 'call_rollups_hour_by_api', day: 'call_rollups_day_by_api' };
export const ALL_ROLLUP_TABLES = [...Object.values(ROLLUP_TABLE), ...Object.values(API_ROLLUP_TABLE)];

/** What analytics may group by, and the rollup column each reads. */
export type GroupBy = 'api' | 'route' | 'consumer' | 'team' | 'status';
const GROUP_COLUMN: Record<GroupBy, string> = { api: 'api', route: 'route', consumer: 'consumer', team: 'team', status: 'status_class' };

export interface AggregateQuery {
  /** The table read; `from` and `to` must be multiples of its period. */
  resolution: Resolution;
  from: number;
  to: number;
  /** Only these teams' rollups (null or absent: any; '' is the file's own routes). */
  teams?: readonly string[] | null;
  api?: string;
  route?: string;
  consumer?: string;
  groupBy?: GroupBy | null;
  /** One row per group over the whole range (period 0) instead of one per period. */
  overall?: boolean;
}

/** What a rollup sums: counts, bytes, latency and its histogram. */
export type RollupSums = Pick<Rollup, 'count' | 'errors' | 'bytesIn' | 'bytesOut' | 'latencySumMs' | 'buckets'>;

export interface AggregateRow extends RollupSums {
  /** Start of the period (0 when `overall`). */
  period: number;
  /** The group's value ('' without a group, or where the call had none; '2'…'5' for status). */
  group: string;
}

/**
 * One GROUP BY over the table of the query's resolution: the rows it reads are that table's
 * index range [from, to), so a month by day reads about 30 × (keys active a day) rows.
 */
export function aggregateSql(query: AggregateQuery, bucketCount: number, param: (value: unknown) => string): string {
  const parts = [`minute >= ${param(query.from)}`, `minute < ${param(query.to)}`];
  if (query.teams != null) parts.push(query.teams.length === 0 ? '1 = 0' : `team IN (${query.teams.map((t) => param(t)).join(', ')})`);
  for (const column of ['api', 'route', 'consumer'] as const) if (query[column] !== undefined) parts.push(`${column} = ${param(query[column])}`);
  const group = query.groupBy == null ? "''" : GROUP_COLUMN[query.groupBy];
  const perApi = query.route === undefined && query.consumer === undefined && query.groupBy !== 'route' && query.groupBy !== 'consumer';
  const sums = ['count', 'errors', 'bytes_in', 'bytes_out', 'latency_sum_ms', ...Array.from({ length: bucketCount }, (_, i) => `b${i}`)].map((c) => `SUM(${c}) AS ${c}`);
  return `SELECT ${query.overall === true ? '0' : 'minute'} AS period, ${group} AS grp, ${sums.join(', ')} FROM ${(perApi ? API_ROLLUP_TABLE : ROLLUP_TABLE)[query.resolution]}
    WHERE ${parts.join(' AND ')} GROUP BY 1, 2 ORDER BY 1, 2`;
}

export function aggregateOfRow(row: RollupRow & { period: number; grp: string | number }, bucketCount: number): AggregateRow {
  return { period: Number(row.period), group: String(row.grp), ...sumsOfRow(row, bucketCount) };
}

function sumsOfRow(row: RollupRow, bucketCount: number): RollupSums {
  return {
    count: Number(row.count),
    errors: Number(row.errors),
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    latencySumMs: Number(row.latency_sum_ms),
    buckets: Array.from({ length: bucketCount }, (_, i) => Number(row[`b${i}`])),
  };
}

/**
 * Rollups summed into the periods of a coarser resolution (their `minute` becomes the period's
 * start); `perApi`: with route and consumer dropped too.
 */
export function coarsen(rollups: readonly Rollup[], resolution: Resolution, perApi = false): Rollup[] {
  const period = PERIOD_MS[resolution];
  const byKey = new Map<string, Rollup>();
  for (const r of rollups) {
    const start = r.minute - (r.minute % period);
    const route = perApi ? '' : r.route;
    const consumer = perApi ? '' : r.consumer;
    const key = `${start}\u0000${r.team}\u0000${r.api}\u0000${route}\u0000${consumer}\u0000${r.statusClass}`;
    const sum = byKey.get(key);
    if (sum === undefined) byKey.set(key, { ...r, minute: start, route, consumer, buckets: [...r.buckets] });
    else addSums(sum, r);
  }
  return [...byKey.values()];
}

/** Every rollup table a delta of `resolution` is added to (its own and the coarser ones, full and per API), with its rows. */
export function rollupDeltas(rollups: readonly Rollup[], resolution: Resolution): Array<[table: string, rows: Rollup[]]> {
  const out: Array<[string, Rollup[]]> = [];
  const perApi = coarsen(rollups, resolution, true);
  for (const to of RESOLUTIONS.slice(RESOLUTIONS.indexOf(resolution))) {
    out.push([ROLLUP_TABLE[to], to === resolution ? [...rollups] : coarsen(rollups, to)]);
    out.push([API_ROLLUP_TABLE[to], to === resolution ? perApi : coarsen(perApi, to, true)]);
  }
  return out;
}

/** Each rollup table and the start before which retention deletes its rows. */
export function rollupCutoffs(policy: RetentionPolicy): Array<[table: string, before: number]> {
  const out: Array<[Resolution, number]> = [['minute', policy.rollupsBefore]];
  if (policy.hourlyRollupsBefore !== undefined) out.push(['hour', policy.hourlyRollupsBefore]);
  if (policy.dailyRollupsBefore !== undefined) out.push(['day', policy.dailyRollupsBefore]);
  return out.flatMap(([resolution, before]) => [[ROLLUP_TABLE[resolution], before], [API_ROLLUP_TABLE[resolution], before]] as Array<[string, number]>);
}

export function emptySums(): RollupSums {
  return { count: 0, errors: 0, bytesIn: 0, bytesOut: 0, latencySumMs: 0, buckets: new Array<number>(BUCKET_COUNT).fill(0) };
}

export function addSums(into: RollupSums, add: RollupSums): void {
  into.count += add.count;
  into.errors += add.errors;
  into.bytesIn += add.bytesIn;
  into.bytesOut += add.bytesOut;
  into.latencySumMs += add.latencySumMs;
  for (let i = 0; i < into.buckets.length; i++) into.buckets[i]! += add.buckets[i]!;
}
