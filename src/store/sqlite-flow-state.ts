/**
 * FlowStateStore in the node's SQLite file. Claims are read-then-write inside IMMEDIATE
 * transactions, which take SQLite's write lock first: two processes claiming the same key or the
 * same abandoned job cannot both win.
 */
import type { SqliteDatabase } from './sqlite.js';
import { openDatabase } from './sqlite.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import type { CompensationFailureRecord, FlowStateStore, JobRecord, KeyClaim, NewJob, StoredResponse, JobResult } from './flow-state.js';
import { compensationFailureOf, compensationFailureValues, jobOf, liveClaimOf, type CompensationFailureRow, type JobRow, type KeyRow } from './rows.js';

export class SqliteFlowState implements FlowStateStore {
  private readonly db: SqliteDatabase;
  private readonly statements;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, SQLITE_MIGRATIONS);
    const db = this.db;
    this.statements = {
      getKey: db.prepare<[string, string], KeyRow>(
        'SELECT fingerprint, state, lease_until, response, expires_at FROM idempotency_keys WHERE scope = ? AND key = ?',
      ),
      putKey: db.prepare(
        `INSERT OR REPLACE INTO idempotency_keys (scope, key, fingerprint, state, owner, lease_until, response, expires_at)
         VALUES (@scope, @key, @fingerprint, 'running', @owner, @leaseUntil, NULL, @leaseUntil)`,
      ),
      completeKey: db.prepare(
        `UPDATE idempotency_keys SET state = 'done', response = @response, expires_at = @expiresAt, owner = NULL, lease_until = NULL
         WHERE scope = @scope AND key = @key AND owner = @owner`,
      ),
      releaseKey: db.prepare('DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND owner = ? AND state = \'running\''),
      createJob: db.prepare(
        `INSERT INTO jobs (id, flow, state, request, request_id, callback_url, owner, lease_until, created_at)
         VALUES (@id, @flow, 'running', @request, @requestId, @callbackUrl, @owner, @leaseUntil, @now)`,
      ),
      getJob: db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      renewJob: db.prepare('UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND state = \'running\''),
      finishJob: db.prepare(
        `UPDATE jobs SET state = @state, response = @response, error = @error, finished_at = @now, expires_at = @expiresAt,
           owner = NULL, lease_until = NULL,
           callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END,
           callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE @now END
         WHERE id = @id AND owner = @owner AND state = 'running'`,
      ),
      abandonedJob: db.prepare<[number], JobRow>("SELECT * FROM jobs WHERE state = 'running' AND lease_until < ? ORDER BY created_at LIMIT 1"),
      takeJob: db.prepare('UPDATE jobs SET owner = ?, lease_until = ?, runs = runs + 1 WHERE id = ?'),
      dueCallback: db.prepare<[number, number], JobRow>(
        "SELECT * FROM jobs WHERE callback_state = 'pending' AND callback_next_at <= ? AND (callback_lease_until IS NULL OR callback_lease_until < ?) ORDER BY callback_next_at LIMIT 1",
      ),
      takeCallback: db.prepare('UPDATE jobs SET callback_lease_until = ?, callback_attempts = callback_attempts + 1 WHERE id = ?'),
      recordCallback: db.prepare('UPDATE jobs SET callback_state = @state, callback_next_at = @nextAt, callback_error = @error, callback_lease_until = NULL WHERE id = @id'),
      addFailure: db.prepare('INSERT INTO compensation_failures (at, flow, request_id, step, call, error) VALUES (@at, @flow, @requestId, @step, @call, @error)'),
      listFailures: db.prepare<[number], CompensationFailureRow>(
        'SELECT * FROM compensation_failures ORDER BY id DESC LIMIT ?',
      ),
      purgeKeys: db.prepare('DELETE FROM idempotency_keys WHERE expires_at < ?'),
      purgeJobs: db.prepare("DELETE FROM jobs WHERE state <> 'running' AND expires_at < ? AND callback_state <> 'pending'"),
    };
  }

  async claimKey(scope: string, key: string, fingerprint: string, owner: string, leaseUntil: number, now: number): Promise<KeyClaim> {
    const s = this.statements;
    return this.db
      .transaction((): KeyClaim => {
        const live = liveClaimOf(s.getKey.get(scope, key), now);
        if (live !== undefined) return live;
        s.putKey.run({ scope, key, fingerprint, owner, leaseUntil });
        return { kind: 'claimed' };
      })
      .immediate();
  }

  async completeKey(scope: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<void> {
    this.statements.completeKey.run({ scope, key, owner, response: JSON.stringify(response), expiresAt });
  }

  async releaseKey(scope: string, key: string, owner: string): Promise<void> {
    this.statements.releaseKey.run(scope, key, owner);
  }

  async createJob(job: NewJob, owner: string, leaseUntil: number, now: number): Promise<void> {
    this.statements.createJob.run({ ...job, request: JSON.stringify(job.request), owner, leaseUntil, now });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = this.statements.getJob.get(id);
    return row === undefined ? undefined : jobOf(row);
  }

  async renewJob(id: string, owner: string, leaseUntil: number): Promise<boolean> {
    return this.statements.renewJob.run(leaseUntil, id, owner).changes === 1;
  }

  async finishJob(
    id: string,
    owner: string,
    result: JobResult,
    now: number,
    expiresAt: number,
  ): Promise<void> {
    const response = result.response === null ? null : JSON.stringify(result.response);
    this.statements.finishJob.run({ id, owner, state: result.state, response, error: result.error, now, expiresAt });
  }

  async claimAbandonedJob(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined> {
    const s = this.statements;
    return this.db
      .transaction(() => {
        const row = s.abandonedJob.get(now);
        if (row === undefined) return undefined;
        s.takeJob.run(owner, leaseUntil, row.id);
        return jobOf({ ...row, runs: row.runs + 1 });
      })
      .immediate();
  }

  async claimDueCallback(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined> {
    const s = this.statements;
    void owner; // the lease alone keeps two processes from delivering the same callback at once
    return this.db
      .transaction(() => {
        const row = s.dueCallback.get(now, now);
        if (row === undefined) return undefined;
        s.takeCallback.run(leaseUntil, row.id);
        return jobOf({ ...row, callback_attempts: row.callback_attempts + 1 });
      })
      .immediate();
  }

  async recordCallback(id: string, outcome: { state: 'delivered' | 'pending' | 'failed'; nextAt: number; error: string | null }): Promise<void> {
    this.statements.recordCallback.run({ id, ...outcome });
  }

  async addCompensationFailure(failure: Omit<CompensationFailureRecord, 'id'>): Promise<void> {
    this.statements.addFailure.run(compensationFailureValues(failure));
  }

  async listCompensationFailures(limit: number): Promise<CompensationFailureRecord[]> {
    return this.statements.listFailures.all(limit).map(compensationFailureOf);
  }

  async purgeExpired(now: number): Promise<number> {
    return this.statements.purgeKeys.run(now).changes + this.statements.purgeJobs.run(now).changes;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
