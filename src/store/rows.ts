/**
 * Rows of the flow-state tables as both SQL implementations read them (the same column names,
 * times as millisecond numbers, JSON as text), and what they mean as records.
 */
import type { CompensationFailureRecord, JobRecord, KeyClaim, StoredResponse } from './flow-state.js';

export interface KeyRow {
  fingerprint: string;
  state: string;
  lease_until: number | null;
  response: string | null;
  expires_at: number;
}

/** What a repeat of a key sees while its record lives (done, or running under a lease); undefined when it may be claimed. */
export function liveClaimOf(row: KeyRow | undefined, now: number): Exclude<KeyClaim, { kind: 'claimed' }> | undefined {
  if (row === undefined || row.expires_at < now) return undefined;
  if (row.state === 'done') return { kind: 'done', fingerprint: row.fingerprint, response: JSON.parse(row.response!) as StoredResponse };
  return (row.lease_until ?? 0) >= now ? { kind: 'running', fingerprint: row.fingerprint } : undefined;
}

export interface JobRow {
  id: string;
  flow: string;
  state: JobRecord['state'];
  request: string;
  request_id: string;
  callback_url: string | null;
  runs: number;
  response: string | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
  callback_state: JobRecord['callback']['state'];
  callback_attempts: number;
  callback_error: string | null;
}

export function jobOf(row: JobRow): JobRecord {
  return {
    id: row.id,
    flow: row.flow,
    state: row.state,
    request: JSON.parse(row.request) as unknown,
    requestId: row.request_id,
    callbackUrl: row.callback_url,
    runs: row.runs,
    response: row.response === null ? null : (JSON.parse(row.response) as StoredResponse),
    error: row.error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    callback: { state: row.callback_state, attempts: row.callback_attempts, error: row.callback_error },
  };
}

export interface CompensationFailureRow {
  id: number;
  at: number;
  flow: string;
  request_id: string;
  step: string;
  call: string | null;
  error: string | null;
}

/** The values to store for a failed compensation: `call` and `error` as JSON text. */
export function compensationFailureValues(failure: Omit<CompensationFailureRecord, 'id'>) {
  return { ...failure, call: JSON.stringify(failure.call ?? null), error: JSON.stringify(failure.error ?? null) };
}

export function compensationFailureOf(row: CompensationFailureRow): CompensationFailureRecord {
  return {
    id: row.id,
    at: row.at,
    flow: row.flow,
    requestId: row.request_id,
    step: row.step,
    call: row.call === null ? null : (JSON.parse(row.call) as unknown),
    error: row.error === null ? null : (JSON.parse(row.error) as unknown),
  };
}
