/**
 * What flows keep beyond one request: Idempotency-Key records, async jobs with their callbacks,
 * and compensations that failed. One interface, so the SQLite file (one node) and PostgreSQL
 * (many nodes, with the control-plane store) can both hold it. Every method is async for that
 * reason, even where SQLite answers at once.
 */

/** A response as it was sent, kept for replay (Idempotency-Key) or as a job's result. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type KeyClaim =
  /** This request owns the key now: run, then `completeKey` (or `releaseKey`). */
  | { kind: 'claimed' }
  /** A request with this key finished: replay its response if the fingerprints match. */
  | { kind: 'done'; fingerprint: string; response: StoredResponse }
  /** A request with this key is running (its owner's lease has not run out). */
  | { kind: 'running'; fingerprint: string };

export type JobState = 'running' | 'succeeded' | 'failed';

export interface JobRecord {
  id: string;
  flow: string;
  state: JobState;
  /** The request the flow runs on: what its templates see as `request`. */
  request: unknown;
  requestId: string;
  callbackUrl: string | null;
  /** Runs started (a job taken over after a crash runs again). */
  runs: number;
  response: StoredResponse | null;
  /** Why a job failed without a response (it could not be resumed …). */
  error: string | null;
  createdAt: number;
  finishedAt: number | null;
  callback: { state: 'none' | 'pending' | 'delivered' | 'failed'; attempts: number; error: string | null };
}

/** How a job ended: its response, or an error when it has none. */
export interface JobResult {
  state: 'succeeded' | 'failed';
  response: StoredResponse | null;
  error: string | null;
}

export interface NewJob {
  id: string;
  flow: string;
  request: unknown;
  requestId: string;
  callbackUrl: string | null;
}

export interface CompensationFailureRecord {
  id: number;
  at: number;
  flow: string;
  requestId: string;
  step: string;
  call: unknown;
  error: unknown;
}

export interface FlowStateStore {
  /**
   * Claims `key` in `scope` for `owner` until `leaseUntil` (a crashed owner's claim runs out), unless
   * a live claim or a finished record exists. Expired records are treated as absent.
   */
  claimKey(scope: string, key: string, fingerprint: string, owner: string, leaseUntil: number, now: number): Promise<KeyClaim>;
  /** Stores the response of a claimed key until `expiresAt`. */
  completeKey(scope: string, key: string, owner: string, response: StoredResponse, expiresAt: number): Promise<void>;
  /** Gives a claimed key up (the request never ran, so a retry may run it). */
  releaseKey(scope: string, key: string, owner: string): Promise<void>;

  /** Records a job as running, owned by `owner` until `leaseUntil`. */
  createJob(job: NewJob, owner: string, leaseUntil: number, now: number): Promise<void>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Extends the owner's lease; false when the job is no longer this owner's. */
  renewJob(id: string, owner: string, leaseUntil: number): Promise<boolean>;
  /** Ends a job with its response (or an error) and, with a callback URL, makes the callback due now. */
  finishJob(id: string, owner: string, result: JobResult, now: number, expiresAt: number): Promise<void>;
  /** Takes over one running job whose owner stopped renewing its lease, counting a new run. */
  claimAbandonedJob(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined>;

  /** Takes one callback that is due, for `owner` until `leaseUntil`. */
  claimDueCallback(owner: string, leaseUntil: number, now: number): Promise<JobRecord | undefined>;
  /** After a delivery try: delivered, try again at `nextAt`, or given up. */
  recordCallback(id: string, outcome: { state: 'delivered' | 'pending' | 'failed'; nextAt: number; error: string | null }): Promise<void>;

  addCompensationFailure(failure: Omit<CompensationFailureRecord, 'id'>): Promise<void>;
  listCompensationFailures(limit: number): Promise<CompensationFailureRecord[]>;

  /** Deletes idempotency records and finished jobs past their expiry; returns how many. */
  purgeExpired(now: number): Promise<number>;
  close(): Promise<void>;
}
