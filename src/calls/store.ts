/**
 * Where call records and their rollups are kept: `<data>/calls.db` (SQLite, its own file so call
 * writes never contend with config writes) or PostgreSQL (`--store postgres://`). Both pass the
 * same conformance suite (call-store.conformance.ts). The SQL of a query is built here once for
 * both, only the placeholders differ.
 */
import type { CallRecord, Rollup } from './record.js';

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
  /** Rows deleted per statement, so no lock is held for long. */
  chunk: number;
}

export interface CallStore {
  /** Stores the records and adds them to their minutes' rollups, atomically. */
  insert(records: readonly CallRecord[]): Promise<void>;
  /** Newest first; `next` is a cursor stable under inserts (null on the last page). */
  list(filter: CallFilter, page: Page): Promise<{ items: StoredCall[]; next: string | null }>;
  /** The newest record with this request id the teams may see. */
  get(id: string, teams: readonly string[] | null): Promise<StoredCall | undefined>;
  /** Deletes what retention says in chunks; how many records and rollups went. */
  prune(policy: RetentionPolicy): Promise<{ calls: number; rollups: number }>;
  /** Rollups of minutes in [from, to), oldest first. */
  rollups(from: number, to: number): Promise<Rollup[]>;
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

/** A record as the values of CALL_COLUMNS. */
export function rowValues(r: CallRecord): unknown[] {
  return [
    r.id, r.at, r.node, r.worker, r.team, r.api, r.apiVersion, r.route, r.kind, r.consumer, r.clientIp, r.method, r.path, r.status, r.errorCode,
    r.bytesIn, r.bytesOut, r.durationMs, r.gatewayMs, r.upstreamMs, JSON.stringify(r.targets), r.attempts, r.retries, r.cache, r.steps === null ? null : JSON.stringify(r.steps), r.traceId,
  ];
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
    count: Number(row.count),
    errors: Number(row.errors),
    bytesIn: Number(row.bytes_in),
    bytesOut: Number(row.bytes_out),
    latencySumMs: Number(row.latency_sum_ms),
    buckets: Array.from({ length: bucketCount }, (_, i) => Number(row[`b${i}`])),
  };
}
