/**
 * FlowStateStore in PostgreSQL, shared by every process of every node. Each claim is one
 * statement that decides and writes under a row lock, so two processes can never both win:
 * a key is an `INSERT … ON CONFLICT DO UPDATE … WHERE` (the row is taken only when the existing
 * record is absent, expired, or its lease ran out); an abandoned job or a due callback is an
 * `UPDATE` of the row a `FOR UPDATE SKIP LOCKED` subquery picked (a row another process is taking
 * is skipped, and one it has just taken no longer matches once re-read under the lock).
 */
import type pg from 'pg';
import type { CompensationFailureRecord, FlowStateStore, JobRecord, KeyClaim, NewJob, StoredResponse, JobResult } from './flow-state.js';
import { closePostgres, openPostgres, POSTGRES_MIGRATIONS } from './postgres.js';
import { compensationFailureOf, compensationFailureValues, jobOf, liveClaimOf, type CompensationFailureRow, type JobRow, type KeyRow } from './rows.js';

export interface PostgresFlowStateOptions {
  /** The schema (default `weir`); created and migrated on open. */
  schema?: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

/** How often a claim re-tries when the record it lost to vanished before it could be read. */
const CLAIM_TRIES = 5;

export class PostgresFlowState implements FlowStateStore {
  private constructor(private readonly pool: pg.Pool) {}

  /** Opens a pool on `url` and migrates the schema before the store is used. */
  static async open(url: string, options: PostgresFlowStateOptions = {}): Promise<PostgresFlowState> {
    return new PostgresFlowState(await openPostgres(url, { ...options, migrations: POSTGRES_MIGRATIONS }));
  }

  async claimKey(scope: string, key: string, fingerprint: string, owner: string, leaseUntil: number, now: number): Promise<KeyClaim> {
    for (let i = 0; i < CLAIM_TRIES; i++) {
      // The conflict path locks the existing row and tests it as it is now (even when another
      // transaction wrote it after this statement began): only an absent, expired or lapsed
      // record is replaced.
      const taken = await this.pool.query(
        `INSERT INTO idempotency_keys AS k (scope, key, fingerprint, state, owner, lease_until, response, expires_at)
         VALUES ($1, $2, $3, 'running', $4, $5, NULL, $5)
         ON CONFLICT (scope, key) DO UPDATE
           SET fingerprint = EXCLUDED.fingerprint, state = 'running', owner = EXCLUDED.owner,
               lease_until = EXCLUDED.lease_until, response = NULL, expires_at = EXCLUDED.expires_at
           WHERE k.expires_at < $6 OR (k.state = 'running' AND coalesce(k.lease_until, 0) < $6)`,
        [scope, key, fingerprint, owner, leaseUntil, now],
      );
      if (taken.rowCount === 1) return { kind: 'claimed' };
      const { rows } = await this.pool.query<KeyRow>('SELECT fingerprint, state, lease_until, response, expires_at FROM idempotency_keys WHERE scope = $1 AND key = $2', [scope, key]);
      const live = liveClaimOf(rows[0], now);
      if (live !== undefined) return live;
      // Released or replaced between the two statements: claim again.
    }
    throw new Error(`idempotency key claim did not settle after ${CLAIM_TRIES} tries`);
  }

  async completeKey(scope: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<void> {
    await this.pool.query(
      `UPDATE idempotency_keys SET state = 'done', response = $4, expires_at = $5, owner = NULL, lease_until = NULL
       WHERE scope = $1 AND key = $2 AND owner = $3`,
      [scope, key, owner, JSON.stringify(response), expiresAt],
    );
  }

  async releaseKey(scope: string, key: string, owner: string): Promise<void> {
    await this.pool.query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'running'", [scope, key, owner]);
  }

  async createJob(job: NewJob, owner: string, leaseUntil: number, now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO jobs (id, flow, state, request, request_id, callback_url, owner, lease_until, created_at)
       VALUES ($1, $2, 'running', $3, $4, $5, $6, $7, $8)`,
      [job.id, job.flow, JSON.stringify(job.request), job.requestId, job.callbackUrl, owner, leaseUntil, now],
    );
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const { rows } = await this.pool.query<JobRow>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] === undefined ? undefined : jobOf(rows[0]);
  }

  async renewJob(id: string, owner: string, leaseUntil: number): Promise<boolean> {
    const result = await this.pool.query("UPDATE jobs SET lease_until = $3 WHERE id = $1 AND owner = $2 AND state = 'running'", [id, owner, leaseUntil]);
    return result.rowCount === 1;
  }

  async finishJob(
    id: string,
    owner: string,
    result: JobResult,
    now: number,
    expiresAt: number,
  ): Promise<void> {
    await this.pool.query(
      `UPDATE jobs SET state = $3, response = $4, error = $5, finished_at = $6, expires_at = $7,
         owner = NULL, lease_until = NULL,
         callback_state = CASE WHEN callback_url IS NULL THEN 'none' ELSE 'pending' END,
         callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE $6::bigint END
       WHERE id = $1 AND owner = $2 AND state = 'running'`,
      [id, owner, result.state, result.response === null ? null : JSON.stringify(result.response), result.error, now, expiresAt],
    );
  }

  async claimAbandonedJob(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined> {
    const { rows } = await this.pool.query<JobRow>(
      `UPDATE jobs SET owner = $1, lease_until = $2, runs = runs + 1
       WHERE id = (
         SELECT id FROM jobs WHERE state = 'running' AND lease_until < $3
         ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED
       )
       RETURNING *`,
      [owner, leaseUntil, now],
    );
    return rows[0] === undefined ? undefined : jobOf(rows[0]);
  }

  async claimDueCallback(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined> {
    void owner; // the lease alone keeps two processes from delivering the same callback at once
    const { rows } = await this.pool.query<JobRow>(
      `UPDATE jobs SET callback_lease_until = $1, callback_attempts = callback_attempts + 1
       WHERE id = (
         SELECT id FROM jobs
         WHERE callback_state = 'pending' AND callback_next_at <= $2 AND (callback_lease_until IS NULL OR callback_lease_until < $2)
         ORDER BY callback_next_at LIMIT 1 FOR UPDATE SKIP LOCKED
       )
       RETURNING *`,
      [leaseUntil, now],
    );
    return rows[0] === undefined ? undefined : jobOf(rows[0]);
  }

  async recordCallback(id: string, outcome: { state: 'delivered' | 'pending' | 'failed'; nextAt: number; error: string | null }): Promise<void> {
    await this.pool.query(
      'UPDATE jobs SET callback_state = $2, callback_next_at = $3, callback_error = $4, callback_lease_until = NULL WHERE id = $1',
      [id, outcome.state, outcome.nextAt, outcome.error],
    );
  }

  async addCompensationFailure(failure: Omit<CompensationFailureRecord, 'id'>): Promise<void> {
    const row = compensationFailureValues(failure);
    await this.pool.query('INSERT INTO compensation_failures (at, flow, request_id, step, call, error) VALUES ($1, $2, $3, $4, $5, $6)', [
      row.at,
      row.flow,
      row.requestId,
      row.step,
      row.call,
      row.error,
    ]);
  }

  async listCompensationFailures(limit: number): Promise<CompensationFailureRecord[]> {
    const { rows } = await this.pool.query<CompensationFailureRow>('SELECT * FROM compensation_failures ORDER BY id DESC LIMIT $1', [limit]);
    return rows.map(compensationFailureOf);
  }

  async purgeExpired(now: number): Promise<number> {
    const keys = await this.pool.query('DELETE FROM idempotency_keys WHERE expires_at < $1', [now]);
    const jobs = await this.pool.query("DELETE FROM jobs WHERE state <> 'running' AND expires_at < $1 AND callback_state <> 'pending'", [now]);
    return (keys.rowCount ?? 0) + (jobs.rowCount ?? 0);
  }

  async close(): Promise<void> {
    await closePostgres(this.pool);
  }
}
