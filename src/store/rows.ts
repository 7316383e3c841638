/**
 * Rows of the flow-state and control-plane tables as both SQL implementations read them (the
 * same column names, times as millisecond numbers, JSON as text), and what they mean as records.
 */
import { AlreadyExistsError, VersionConflictError, type AccessToken, type AuditEntry, type Membership, type Page, type Resource, type ResourceKind, type ResourceWrite, type User } from './config-store.js';
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

// The control-plane tables (config-store.ts).

export interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  /** 0/1 in SQLite, a boolean in PostgreSQL. */
  system_admin: number | boolean;
  created_at: number;
}

export interface ResourceRow {
  kind: ResourceKind;
  name: string;
  team_id: string;
  version: number;
  body: string;
  created_at: number;
  updated_at: number;
  updated_by: string;
}

export interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export interface AuditRow {
  id: number;
  at: number;
  actor: string;
  team_id: string | null;
  action: AuditEntry['action'];
  kind: string;
  name: string;
  before: string | null;
  after: string | null;
}

export interface MembershipRow {
  team_id: string;
  user_id: string;
  role: Membership['role'];
  writes: string;
}

export const userOf = (row: UserRow): User => ({
  id: row.id,
  username: row.username,
  systemAdmin: row.system_admin === true || row.system_admin === 1,
  createdAt: row.created_at,
});

export const resourceOf = (row: ResourceRow): Resource => ({
  kind: row.kind,
  name: row.name,
  teamId: row.team_id,
  version: row.version,
  body: JSON.parse(row.body) as Record<string, unknown>,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  updatedBy: row.updated_by,
});

export const tokenOf = (row: TokenRow): AccessToken => ({
  id: row.id,
  userId: row.user_id,
  name: row.name,
  prefix: row.prefix,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
});

export const membershipOf = (row: MembershipRow): Membership => ({ teamId: row.team_id, userId: row.user_id, role: row.role, writes: JSON.parse(row.writes) as Membership['writes'] });

/** An audit entry's before/after as stored: JSON text, or NULL for nothing. */
export const jsonOrNull = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const parsedOrNull = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

export const auditEntryOf = (r: AuditRow): AuditEntry => ({
  id: r.id,
  at: r.at,
  actor: r.actor,
  teamId: r.team_id,
  action: r.action,
  kind: r.kind,
  name: r.name,
  before: parsedOrNull(r.before),
  after: parsedOrNull(r.after),
});

/** Keyset pagination: the query fetched one more than asked, to know whether a next page exists. */
export function paged<T>(rows: T[], limit: number, cursorOf: (row: T) => string): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, next: more ? cursorOf(items[items.length - 1]!) : null };
}

/**
 * What a resource write does to the resource's current row (undefined: there is none): the row it
 * leaves (null: deleted) and its audit entry. Throws, as `ConfigStore.writeResource` documents,
 * when the row is not as the write expects.
 */
export function planResourceWrite(
  write: ResourceWrite,
  row: ResourceRow | undefined,
  actor: string,
  now: number,
): { next: ResourceRow | null; audit: Omit<AuditEntry, 'id' | 'at'> } {
  const current = row === undefined ? null : row.version;
  if (write.expectedVersion === null && current !== null) throw new AlreadyExistsError(`${write.kind} "${write.name}" exists`);
  if (typeof write.expectedVersion === 'number' && write.expectedVersion !== current) throw new VersionConflictError(current);
  if (write.body === null && row === undefined) throw new VersionConflictError(null);
  const next: ResourceRow | null =
    write.body === null
      ? null
      : {
          kind: write.kind,
          name: write.name,
          team_id: write.teamId,
          version: (current ?? 0) + 1,
          body: JSON.stringify(write.body),
          created_at: row?.created_at ?? now,
          updated_at: now,
          updated_by: actor,
        };
  return {
    next,
    audit: {
      actor,
      teamId: write.teamId,
      action: write.body === null ? 'delete' : row === undefined ? 'create' : 'update',
      kind: write.kind,
      name: write.name,
      before: row === undefined ? null : (JSON.parse(row.body) as unknown),
      after: write.body,
    },
  };
}
