/**
 * The call log in PostgreSQL (`--store postgres://…`), shared by every node: a batch is one
 * multi-row INSERT plus one multi-row rollup upsert, in one transaction. Its tables have their
 * own migration numbers (from 1001) in the schema's `schema_migrations`, so they never collide
 * with the control plane's list and exist only where the call log is used.
 */
import type pg from 'pg';
import { closePostgres, inTransaction, openPostgres, type Migration } from '../store/postgres.js';
import { BUCKET_COUNT, type Rollup } from './record.js';
import { API_ROLLUPS_SQL, CALL_TABLES_SQL, COARSE_ROLLUPS_SQL, ROLLUP_WIDTH, TRACE_ID_SQL, rollupUpsertSql } from './sqlite-call-store.js';
import {
  CALL_COLUMNS, ROLLUP_KEY, ROLLUP_TABLE, aggregateOfRow, aggregateSql, callOfRow, decodeCursor, encodeCursor, rollupCutoffs, rollupDeltas,
  rollupOfRow, rollupValues, rollupsOf, whereOf,
  type AggregateQuery, type CallValues, type AggregateRow, type CallFilter, type CallRow, type CallStore, type Page, type Resolution, type RetentionPolicy, type RollupRow, type StoredCall,
} from './store.js';

export const CALL_MIGRATIONS: readonly Migration[] = [
  { version: 1001, name: 'calls and per-minute rollups', sql: CALL_TABLES_SQL({ seq: 'bigserial PRIMARY KEY', int: 'bigint', json: 'jsonb' }) },
  { version: 1002, name: 'trace id of a call', sql: TRACE_ID_SQL },
  { version: 1003, name: 'hourly and daily rollups', sql: COARSE_ROLLUPS_SQL('bigint') },
  { version: 1004, name: 'per-API rollups', sql: API_ROLLUPS_SQL('bigint') },
];

/** PostgreSQL takes at most 65535 parameters per statement. */
const MAX_PARAMS = 60_000;

export class PostgresCallStore implements CallStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresCallStore> {
    return new PostgresCallStore(await openPostgres(url, { schema: options.schema, migrations: CALL_MIGRATIONS, max: 4 }));
  }

  async insert(rows: readonly CallValues[]): Promise<void> {
    if (rows.length === 0) return;
    await inTransaction(this.pool, async (client) => {
      for (const part of chunks(rows, Math.floor(MAX_PARAMS / CALL_COLUMNS.length))) {
        const values: unknown[] = [];
        const tuples = part.map((row) => `(${row.map((v) => (values.push(v), `$${values.length}`)).join(', ')})`);
        await client.query(`INSERT INTO calls (${CALL_COLUMNS.join(', ')}) VALUES ${tuples.join(', ')}`, values);
      }
      await upsertRollups(client, rollupsOf(rows), 'minute');
    });
  }

  async addRollups(rollups: readonly Rollup[], resolution: Resolution = 'minute'): Promise<void> {
    if (rollups.length > 0) await inTransaction(this.pool, (client) => upsertRollups(client, rollups, resolution));
  }

  async aggregate(query: AggregateQuery): Promise<AggregateRow[]> {
    const values: unknown[] = [];
    const sql = aggregateSql(query, BUCKET_COUNT, (v) => (values.push(v), `$${values.length}`));
    const { rows } = await this.pool.query<RollupRow & { period: number; grp: string }>(sql, values);
    return rows.map((row) => aggregateOfRow(row, BUCKET_COUNT));
  }

  async list(filter: CallFilter, page: Page): Promise<{ items: StoredCall[]; next: string | null }> {
    const after = decodeCursor(page.after);
    const values: unknown[] = [];
    const where = whereOf(filter, Number.isNaN(after) ? null : after, (v) => (values.push(v), `$${values.length}`));
    values.push(page.limit + 1);
    const { rows } = await this.pool.query<CallRow>(`SELECT * FROM calls ${where} ORDER BY seq DESC LIMIT $${values.length}`, values);
    const items = rows.slice(0, page.limit).map(callOfRow);
    return { items, next: rows.length > page.limit ? encodeCursor(items[items.length - 1]!.seq) : null };
  }

  async get(id: string, teams: readonly string[] | null): Promise<StoredCall | undefined> {
    return (await this.list({ requestId: id, teams }, { limit: 1, after: null })).items[0];
  }

  async prune(policy: RetentionPolicy): Promise<{ calls: number; rollups: number }> {
    let calls = await this.chunked('DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE at < $1 ORDER BY seq LIMIT $2)', policy.callsBefore, policy.chunk);
    const { rows } = await this.pool.query<{ seq: number }>('SELECT seq FROM calls ORDER BY seq DESC LIMIT 1 OFFSET $1', [policy.maxRows]);
    if (rows[0] !== undefined) calls += await this.chunked('DELETE FROM calls WHERE seq IN (SELECT seq FROM calls WHERE seq <= $1 ORDER BY seq LIMIT $2)', rows[0].seq, policy.chunk);
    let rollups = 0;
    for (const [table, before] of rollupCutoffs(policy)) {
      rollups += await this.chunked(`DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE minute < $1 LIMIT $2)`, before, policy.chunk);
    }
    return { calls, rollups };
  }

  private async chunked(sql: string, bound: number, chunk: number): Promise<number> {
    let total = 0;
    for (;;) {
      const { rowCount } = await this.pool.query(sql, [bound, chunk]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < chunk) return total;
    }
  }

  async rollups(from: number, to: number, resolution: Resolution = 'minute'): Promise<Rollup[]> {
    const { rows } = await this.pool.query<RollupRow>(`SELECT * FROM ${ROLLUP_TABLE[resolution]} WHERE minute >= $1 AND minute < $2 ORDER BY minute, ${ROLLUP_KEY.slice(1).join(', ')}`, [from, to]);
    return rows.map((row) => rollupOfRow(row, BUCKET_COUNT));
  }

  async close(): Promise<void> {
    await closePostgres(this.pool);
  }
}

/** Adds rollup deltas to their table and the coarser ones, in multi-row upserts. */
async function upsertRollups(client: pg.PoolClient, rollups: readonly Rollup[], resolution: Resolution): Promise<void> {
  for (const [table, rows] of rollupDeltas(rollups, resolution)) {
    // Sorted, so concurrent writers lock rollup rows in the same order and never deadlock.
    for (const part of chunks(rows.sort(compareRollupKeys), Math.floor(MAX_PARAMS / ROLLUP_WIDTH))) {
      const values: unknown[] = [];
      const tuples = part.map((r) => `(${rollupValues(r).map((v) => (values.push(v), `$${values.length}`)).join(', ')})`);
      await client.query(rollupUpsertSql(['__'], table).replace('(__)', tuples.join(', ')), values);
    }
  }
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function compareRollupKeys(a: Rollup, b: Rollup): number {
  return a.minute - b.minute || cmp(a.team, b.team) || cmp(a.api, b.api) || cmp(a.route, b.route) || cmp(a.consumer, b.consumer) || a.statusClass - b.statusClass;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
