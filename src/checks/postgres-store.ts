/**
 * Check runs in PostgreSQL (`--store postgres://…`), shared by every node. Each check is run by
 * one node at a time: the node holding its row in `check_leases`, taken with one atomic upsert
 * and renewed at every run; when that node stops, another takes the lease once it has run out.
 * The tables have their own migration numbers (from 2001) in the schema's `schema_migrations`.
 */
import type pg from 'pg';
import { closePostgres, inTransaction, openPostgres, type Migration } from '../store/postgres.js';
import { checkSql, checkTablesSql, runOfRow, runValues, type CheckResultStore, type CheckRun, type RunRow } from './store.js';

export const CHECK_MIGRATIONS: readonly Migration[] = [
  { version: 2001, name: 'check runs and leases', sql: checkTablesSql({ seq: 'bigserial PRIMARY KEY', int: 'bigint', real: 'double precision' }) },
];

const SQL = checkSql((n) => `$${n}`);

export class PostgresCheckStore implements CheckResultStore {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string, options: { schema?: string } = {}): Promise<PostgresCheckStore> {
    return new PostgresCheckStore(await openPostgres(url, { schema: options.schema, migrations: CHECK_MIGRATIONS, max: 2 }));
  }

  async insert(run: CheckRun): Promise<void> {
    await this.pool.query(SQL.insert, runValues(run));
  }

  async runs(check: string, from: number, to: number, limit: number): Promise<CheckRun[]> {
    return (await this.pool.query<RunRow>(SQL.runs, [check, from, to, limit])).rows.map(runOfRow);
  }

  async latest(checks: readonly string[]): Promise<Map<string, CheckRun>> {
    const out = new Map<string, CheckRun>();
    if (checks.length === 0) return out;
    const { rows } = await this.pool.query<RunRow>('SELECT DISTINCT ON (check_name) * FROM check_runs WHERE check_name = ANY($1) ORDER BY check_name, at DESC, seq DESC', [checks]);
    for (const row of rows) out.set(row.check_name, runOfRow(row));
    return out;
  }

  async prune(before: number): Promise<number> {
    return (await this.pool.query(SQL.prune, [before])).rowCount ?? 0;
  }

  async forget(check: string): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(SQL.forgetRuns, [check]);
      await client.query(SQL.forgetLease, [check]);
    });
  }

  async claim(check: string, holder: string, until: number, now: number): Promise<boolean> {
    return ((await this.pool.query(SQL.claim, [check, holder, until, now])).rowCount ?? 0) === 1;
  }

  async close(): Promise<void> {
    await closePostgres(this.pool);
  }
}
