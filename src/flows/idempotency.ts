/**
 * Idempotency-Key for flows that change things (draft-ietf-httpapi-idempotency-key-header): the
 * first request with a key runs and its response is kept; a repeat gets that response again
 * without any upstream being called; a repeat while the first still runs waits for it, and gets
 * 409 if it does not finish in time; the same key with a different request gets 422.
 *
 * Keys are scoped to the flow and to the caller's credentials (a hash of Authorization), so two
 * clients choosing the same key never see each other's results.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ErrorCode } from '../errors.js';
import type { FlowStateStore, StoredResponse } from '../store/flow-state.js';

/** The draft's key is a structured-field string; a bare token is accepted too. */
const KEY = /^[\x21\x23-\x5b\x5d-\x7e]{1,255}$/;

export type KeyHeader = { kind: 'none' } | { kind: 'key'; key: string } | { kind: 'invalid'; detail: string };

export function keyHeaderOf(req: IncomingMessage): KeyHeader {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return { kind: 'none' };
  if (Array.isArray(raw) || raw.includes(',')) return { kind: 'invalid', detail: 'send one Idempotency-Key header' };
  const key = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (!KEY.test(key)) return { kind: 'invalid', detail: 'an Idempotency-Key is 1 to 255 visible ASCII characters, without quotes or backslashes' };
  return { kind: 'key', key };
}

/** What makes two requests "the same": method, path, query, content type and body bytes. */
export function fingerprintOf(req: IncomingMessage, path: string, query: string, body: Buffer): string {
  return createHash('sha256')
    .update(`${req.method} ${path}?${query}\n${req.headers['content-type'] ?? ''}\n`)
    .update(body)
    .digest('base64url');
}

export function scopeOf(flow: string, req: IncomingMessage): string {
  const credentials = req.headers.authorization ?? '';
  return `${flow}\n${credentials === '' ? '-' : createHash('sha256').update(credentials).digest('base64url')}`;
}

export type Admission =
  | { kind: 'run' }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'refuse'; code: ErrorCode; detail: string; retryAfter?: number };

export interface KeyUse {
  store: FlowStateStore;
  scope: string;
  key: string;
  fingerprint: string;
  owner: string;
  /** How long a claim lasts if its owner dies: past the flow's deadline and its compensations. */
  leaseMs: number;
  /** How long a repeat waits for the first request before it gets 409. */
  waitMs: number;
}

const REUSED = 'this Idempotency-Key was used with a different request (method, path, query or body); use a new key for a new request';

/** Claims the key, or says what to answer instead: the stored response, 409 or 422. */
export async function admit(use: KeyUse, now: () => number = Date.now): Promise<Admission> {
  const until = now() + use.waitMs;
  for (let pause = 10; ; pause = Math.min(pause * 2, 250)) {
    const t = now();
    const claim = await use.store.claimKey(use.scope, use.key, use.fingerprint, use.owner, t + use.leaseMs, t);
    if (claim.kind === 'claimed') return { kind: 'run' };
    if (claim.fingerprint !== use.fingerprint) return { kind: 'refuse', code: 'WEIR_IDEMPOTENCY_KEY_REUSED', detail: REUSED };
    if (claim.kind === 'done') return { kind: 'replay', response: claim.response };
    if (now() + pause > until) {
      return { kind: 'refuse', code: 'WEIR_IDEMPOTENCY_IN_PROGRESS', detail: 'a request with this Idempotency-Key is still running; retry later to get its result', retryAfter: 1 };
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
