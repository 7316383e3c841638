/**
 * Check runs in `<data>/checks.db`, written by the node's primary (the one process that runs
 * checks on a node). A run is one small insert, so it is written synchronously.
 */
import { openDatabase, type Migration, type SqliteDatabase } from '../store/sqlite.js';
import { checkSql, checkTablesSql, runOfRow, runValues, type CheckResultStore, type CheckRun, type RunRow } from './store.js';

const MIGRATIONS: readonly Migration[] = [{ version: 1, name: 'check runs and leases', sql: checkTablesSql({ seq: 'INTEGER PRIMARY KEY', int: 'INTEGER', real: 'REAL' }) }];

export class SqliteCheckStore implements CheckResultStore {
  private readonly db: SqliteDatabase;
  private readonly statements;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, MIGRATIONS, 'checks.db');
    const sql = checkSql(() => '?');
    this.statements = {
      insert: this.db.prepare(sql.insert),
      runs: this.db.prepare<[string, number, number, number], RunRow>(sql.runs),
      latest: this.db.prepare<[string], RunRow>(sql.latest),
      prune: this.db.prepare(sql.prune),
      forgetRuns: this.db.prepare(sql.forgetRuns),
      forgetLease: this.db.prepare(sql.forgetLease),
      claim: this.db.prepare<[string, string, number, number], { holder: string }>(sql.claim),
    };
  }

  async insert(run: CheckRun): Promise<void> {
    this.statements.insert.run(...runValues(run));
  }

  async runs(check: string, from: number, to: number, limit: number): Promise<CheckRun[]> {
    return this.statements.runs.all(check, from, to, limit).map(runOfRow);
  }

  async latest(checks: readonly string[]): Promise<Map<string, CheckRun>> {
    const out = new Map<string, CheckRun>();
    for (const check of checks) {
      const row = this.statements.latest.get(check);
      if (row !== undefined) out.set(check, runOfRow(row));
    }
    return out;
  }

  async prune(before: number): Promise<number> {
    return this.statements.prune.run(before).changes;
  }

  async forget(check: string): Promise<void> {
    this.db.transaction(() => {
      this.statements.forgetRuns.run(check);
      this.statements.forgetLease.run(check);
    })();
  }

  async claim(check: string, holder: string, until: number, now: number): Promise<boolean> {
    return this.statements.claim.get(check, holder, until, now) !== undefined;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
