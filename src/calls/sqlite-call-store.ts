/**
 * The call log in `<data>/calls.db`: its own SQLite file (WAL), apart from `weir.db`, so the
 * node's call writes never wait on, or hold up, config and flow-state writes. One writer per
 * node (the primary, or the single process) inserts a batch per transaction with one prepared
 * statement; rollups are added to in the same transaction.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import { openDatabase, type SqliteDatabase, type Migration } from '../store/sqlite.js';
import type { WriterReply, WriterRequest } from './sqlite-writer-thread.js';
import { BUCKET_COUNT, type Rollup } from './record.js';
import {
  ALL_ROLLUP_TABLES, API_ROLLUP_TABLE, CALL_COLUMNS, PERIOD_MS, RESOLUTIONS, ROLLUP_KEY, ROLLUP_TABLE, aggregateOfRow, aggregateSql, callOfRow, decodeCursor, encodeCursor, rollupCutoffs, rollupDeltas,
  rollupOfRow, rollupValues, rollupsOf, whereOf,
  type AggregateQuery, type CallValues, type AggregateRow, type CallFilter, type CallRow, type CallStore, type Page, type Resolution, type RetentionPolicy, type RollupRow, type StoredCall,
} from './store.js';

const BUCKETS = Array.from({ length: BUCKET_COUNT }, (_, i) => `b${i}`);

/**
 * Two indexes only: by request id (a lookup) and by time (ranges, retention). Every index costs
 * each write (measured: about 10 µs a record without any, 8 µs more per index), and the writer must
 * keep up with the proxy's peak; other filters walk the log newest first (by seq) until a page
 * is full, which is quick for the recent calls people look at.
 */
export const CALL_TABLES_SQL = (types: { seq: string; int: string; json: string }) => `
CREATE TABLE calls (
  seq ${types.seq},
  id TEXT NOT NULL, at ${types.int} NOT NULL, node TEXT NOT NULL, worker INTEGER NOT NULL,
  team TEXT, api TEXT, api_version TEXT, route TEXT NOT NULL, kind TEXT NOT NULL, consumer TEXT,
  client_ip TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL, error_code TEXT,
  bytes_in ${types.int} NOT NULL, bytes_out ${types.int} NOT NULL,
  duration_ms REAL NOT NULL, gateway_ms REAL NOT NULL, upstream_ms REAL NOT NULL,
  targets ${types.json} NOT NULL, attempts INTEGER NOT NULL, retries INTEGER NOT NULL, cache TEXT, steps ${types.json}
);
CREATE INDEX calls_id ON calls (id);
CREATE INDEX calls_at ON calls (at);
${rollupTableSql('call_rollups', types.int)}
`;

/** The trace id column (migration 2 in calls.db, 1002 in PostgreSQL): null for older rows. */
export const TRACE_ID_SQL = 'ALTER TABLE calls ADD COLUMN trace_id TEXT;';

/** A rollup table; its `minute` is the start of its period (a minute, an hour, a day). */
function rollupTableSql(table: string, int: string): string {
  return `CREATE TABLE ${table} (
  minute ${int} NOT NULL, team TEXT NOT NULL, api TEXT NOT NULL, route TEXT NOT NULL, consumer TEXT NOT NULL, status_class INTEGER NOT NULL,
  count ${int} NOT NULL, errors ${int} NOT NULL, bytes_in ${int} NOT NULL, bytes_out ${int} NOT NULL, latency_sum_ms REAL NOT NULL,
  ${BUCKETS.map((b) => `${b} ${int} NOT NULL`).join(', ')},
  PRIMARY KEY (${ROLLUP_KEY.join(', ')})
);`;
}

const ROLLUP_VALUES = ['count', 'errors', 'bytes_in', 'bytes_out', 'latency_sum_ms', ...BUCKETS];

/**
 * The hourly and daily rollups (migration 2): created, and filled from the minute rollups
 * already there. Token and cost sums (the AI gateway's) will be more value columns of all three.
 */
export const COARSE_ROLLUPS_SQL = (int: string) =>
  (['hour', 'day'] as const)
    .map((resolution) => `${rollupTableSql(ROLLUP_TABLE[resolution], int)}
INSERT INTO ${ROLLUP_TABLE[resolution]} (${[...ROLLUP_KEY, ...ROLLUP_VALUES].join(', ')})
  SELECT minute - (minute % ${PERIOD_MS[resolution]}), ${ROLLUP_KEY.slice(1).join(', ')}, ${ROLLUP_VALUES.map((v) => `SUM(${v})`).join(', ')}
  FROM call_rollups GROUP BY 1, 2, 3, 4, 5, 6;`)
    .join('\n');

/** The per-API rollups (migration 3), filled from the rollups already there. */
export const API_ROLLUPS_SQL = (int: string) =>
  RESOLUTIONS.map((resolution) => `${rollupTableSql(API_ROLLUP_TABLE[resolution], int)}
INSERT INTO ${API_ROLLUP_TABLE[resolution]} (${[...ROLLUP_KEY, ...ROLLUP_VALUES].join(', ')})
  SELECT minute, team, api, '', '', status_class, ${ROLLUP_VALUES.map((v) => `SUM(${v})`).join(', ')}
  FROM ${ROLLUP_TABLE[resolution]} GROUP BY minute, team, api, status_class;`).join('\n');

/** The rollup upsert: counts add up, so any number of writers may add to the same period. */
export function rollupUpsertSql(placeholders: string[], table = 'call_rollups'): string {
  return `INSERT INTO ${table} (${[...ROLLUP_KEY, ...ROLLUP_VALUES].join(', ')}) VALUES (${placeholders.join(', ')})
    ON CONFLICT (${ROLLUP_KEY.join(', ')}) DO UPDATE SET ${ROLLUP_VALUES.map((v) => `${v} = ${table}.${v} + excluded.${v}`).join(', ')}`;
}

export const ROLLUP_WIDTH = ROLLUP_KEY.length + 5 + BUCKET_COUNT;

const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: 'calls and per-minute rollups', sql: CALL_TABLES_SQL({ seq: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER', json: 'TEXT' }) },
  { version: 2, name: 'trace id of a call', sql: TRACE_ID_SQL },
  { version: 3, name: 'hourly and daily rollups', sql: COARSE_ROLLUPS_SQL('INTEGER') },
  { version: 4, name: 'per-API rollups', sql: API_ROLLUPS_SQL('INTEGER') },
];

export class SqliteCallStore implements CallStore {
  private readonly db: SqliteDatabase;
  private readonly insertCall: Database.Statement;
  private readonly upserts: Map<string, Database.Statement>;
  private readonly writeBatch: (rows: readonly CallValues[], rollups: readonly Rollup[], resolution: Resolution) => void;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, MIGRATIONS, 'calls.db');
    this.insertCall = this.db.prepare(`INSERT INTO calls (${CALL_COLUMNS.join(', ')}) VALUES (${CALL_COLUMNS.map(() => '?').join(', ')})`);
    const placeholders = Array.from({ length: ROLLUP_WIDTH }, () => '?');
    this.upserts = new Map(ALL_ROLLUP_TABLES.map((table) => [table, this.db.prepare(rollupUpsertSql(placeholders, table))]));
    this.writeBatch = this.db.transaction((rows: readonly CallValues[], rollups: readonly Rollup[], resolution: Resolution) => {
      for (const row of rows) this.insertCall.run(row);
      for (const [table, deltas] of rollupDeltas(rollups, resolution)) for (const r of deltas) this.upserts.get(table)!.run(rollupValues(r));
    });
  }

  async insert(rows: readonly CallValues[]): Promise<void> {
    if (rows.length > 0) this.writeBatch(rows, rollupsOf(rows), 'minute');
  }

  async addRollups(rollups: readonly Rollup[], resolution: Resolution = 'minute'): Promise<void> {
    if (rollups.length > 0) this.writeBatch([], rollups, resolution);
  }

  async aggregate(query: AggregateQuery): Promise<AggregateRow[]> {
    const values: unknown[] = [];
    const sql = aggregateSql(query, BUCKET_COUNT, (v) => (values.push(v), '?'));
    return this.db.prepare<unknown[], RollupRow & { period: number; grp: string }>(sql).all(...values).map((row) => aggregateOfRow(row, BUCKET_COUNT));
  }

  async list(filter: CallFilter, page: Page): Promise<{ items: StoredCall[]; next: string | null }> {
    const after = decodeCursor(page.after);
    const values: unknown[] = [];
    const where = whereOf(filter, Number.isNaN(after) ? null : after, (v) => (values.push(v), '?'));
    const rows = this.db.prepare<unknown[], CallRow>(`SELECT * FROM calls ${where} ORDER BY seq DESC LIMIT ?`).all(...values, page.limit + 1);
    const items = rows.slice(0, page.limit).map(callOfRow);
    return { items, next: rows.length > page.limit ? encodeCursor(items[items.length - 1]!.seq) : null };
  }

  async get(id: string, teams: readonly string[] | null): Promise<StoredCall | undefined> {
    return (await this.list({ requestId: id, teams }, { limit: 1, after: null })).items[0];
  }

  async prune(policy: RetentionPolicy): Promise<{ calls: number; rollups: number }> {
    let calls = await this.chunked(`DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE at < ? ORDER BY seq LIMIT ?)`, policy.callsBefore, policy.chunk);
    const cutoff = this.db.prepare<[number], { seq: number }>('SELECT seq FROM calls ORDER BY seq DESC LIMIT 1 OFFSET ?').get(policy.maxRows);
    if (cutoff !== undefined) calls += await this.chunked('DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE seq <= ? ORDER BY seq LIMIT ?)', cutoff.seq, policy.chunk);
    let rollups = 0;
    for (const [table, before] of rollupCutoffs(policy)) {
      rollups += await this.chunked(`DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE minute < ? LIMIT ?)`, before, policy.chunk);
    }
    return { calls, rollups };
  }

  /** Runs a bounded DELETE until it deletes fewer than `chunk`, letting other work in between. */
  private async chunked(sql: string, bound: number, chunk: number): Promise<number> {
    const statement = this.db.prepare(sql);
    let total = 0;
    for (;;) {
      const { changes } = statement.run(bound, chunk);
      total += changes;
      if (changes < chunk) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async rollups(from: number, to: number, resolution: Resolution = 'minute'): Promise<Rollup[]> {
    const rows = this.db.prepare<[number, number], RollupRow>(`SELECT * FROM ${ROLLUP_TABLE[resolution]} WHERE minute >= ? AND minute < ? ORDER BY minute, ${ROLLUP_KEY.slice(1).join(', ')}`).all(from, to);
    return rows.map((row) => rollupOfRow(row, BUCKET_COUNT));
  }

  async close(): Promise<void> {
    if (this.db.open) this.db.close();
  }
}

/**
 * `calls.db` with its writes on a worker thread (`sqlite-writer-thread.ts`): inserts and
 * retention's deletes are posted there (a structured clone of the batch), reads run here on a
 * connection of their own (WAL: readers never wait for the writer).
 */
export class ThreadedSqliteCallStore implements CallStore {
  private readonly thread: Worker;
  private readonly reader: SqliteCallStore;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private closed: Promise<void> | null = null;
  /** Set when the thread is gone: every write fails at once instead of waiting forever. */
  private dead: Error | null = null;

  constructor(dataDir: string) {
    // Opened first, so the schema exists before the thread opens the file.
    this.reader = new SqliteCallStore(dataDir);
    const entry = fileURLToPath(import.meta.url).replace(/sqlite-call-store\.(ts|js)$/, 'sqlite-writer-thread.$1');
    // Run from the TypeScript sources (tests, development), the thread needs tsx like its parent,
    // and its loader is in place only for what the thread imports after starting.
    this.thread = entry.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(pathToFileURL(entry).href)}, ${JSON.stringify(import.meta.url)}))`, { eval: true, workerData: { dataDir } })
      : new Worker(entry, { workerData: { dataDir } });
    this.thread.on('message', (reply: WriterReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.thread.unref();
      if (reply.ok) waiting?.resolve(reply.result);
      else waiting?.reject(new Error(reply.error));
    });
    this.thread.on('error', (err) => this.failAll(err));
    this.thread.on('exit', (code) => this.failAll(new Error(`the call log writer thread exited (${code})`)));
    // An idle thread does not keep the process alive (close() ends it); one with work pending does.
    this.thread.unref();
  }

  private call(request: DistributiveOmit<WriterRequest, 'id'>): Promise<unknown> {
    if (this.dead !== null) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.thread.ref();
      this.pending.set(id, { resolve, reject });
      this.thread.postMessage({ ...request, id });
    });
  }

  private failAll(err: Error): void {
    this.dead ??= err;
    for (const waiting of this.pending.values()) waiting.reject(err);
    this.pending.clear();
  }

  async insert(rows: readonly CallValues[]): Promise<void> {
    if (rows.length > 0) await this.call({ op: 'insert', rows: rows as CallValues[] });
  }

  list(filter: CallFilter, page: Page): Promise<{ items: StoredCall[]; next: string | null }> {
    return this.reader.list(filter, page);
  }

  get(id: string, teams: readonly string[] | null): Promise<StoredCall | undefined> {
    return this.reader.get(id, teams);
  }

  async prune(policy: RetentionPolicy): Promise<{ calls: number; rollups: number }> {
    return (await this.call({ op: 'prune', policy })) as { calls: number; rollups: number };
  }

  rollups(from: number, to: number, resolution?: Resolution): Promise<Rollup[]> {
    return this.reader.rollups(from, to, resolution);
  }

  async addRollups(rollups: readonly Rollup[], resolution: Resolution = 'minute'): Promise<void> {
    if (rollups.length > 0) await this.call({ op: 'rollups', rollups: rollups as Rollup[], resolution });
  }

  aggregate(query: AggregateQuery): Promise<AggregateRow[]> {
    return this.reader.aggregate(query);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.call({ op: 'close' }).catch(() => {});
      await this.thread.terminate();
      await this.reader.close();
    })();
    return this.closed;
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
