/**
 * The three counting rules, as pure functions over a three-number state, so that the memory
 * counters (here) and the Redis script (`redis.ts`, the same arithmetic in Lua) agree exactly.
 * All arithmetic is on integers (counts scaled by the window length), so no rounding drifts.
 *
 * - sliding window: the count of the current fixed window plus the previous window's count
 *   weighted by how much of it still overlaps the sliding window (`a` window start, `b` current
 *   count, `c` previous count).
 * - token bucket: `burst` tokens, refilled at `limit` per window (`a` last refill, `b` tokens × w).
 * - calendar quota (day/month, UTC): a fixed window from the start of the day or month (`a`
 *   period start, `b` count).
 */

export type CounterKind = 'sliding-window' | 'token-bucket' | 'day' | 'month';

/** What the counters need of a policy (the plugin's policy, normalised). */
export interface CounterPolicy {
  readonly kind: CounterKind;
  readonly limit: number;
  /** Window length in ms (sliding window, token bucket); ignored by day/month. */
  readonly windowMs: number;
  /** Token bucket capacity (≥ 1); ignored by the others. */
  readonly burst: number;
}

export interface HitResult {
  readonly allowed: boolean;
  /** Requests (cost units) still allowed now. */
  readonly remaining: number;
  /** Milliseconds until the policy's window resets (token bucket: until it is full again). */
  readonly resetMs: number;
  /** When refused: milliseconds until a request of this cost would be admitted (0 when allowed). */
  readonly retryAfterMs: number;
}

export interface CounterState {
  a: number;
  b: number;
  c: number;
  /** When the state can be forgotten (ms since the epoch). */
  expiresAt: number;
}

export const KIND_CODES: Readonly<Record<CounterKind, number>> = { 'sliding-window': 1, 'token-bucket': 2, day: 3, month: 4 };
export const KINDS: readonly CounterKind[] = ['sliding-window', 'sliding-window', 'token-bucket', 'day', 'month'];

/** The UTC calendar period (start, end) of a day or month quota containing `now`. */
export function calendarPeriod(kind: 'day' | 'month', now: number): { start: number; end: number } {
  const d = new Date(now);
  if (kind === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { start, end: start + 86_400_000 };
  }
  return { start: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1), end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) };
}

/** Applies one hit of `cost` to `state` (null: no state yet; a new one is returned through `out`). */
export function applyHit(state: CounterState | undefined, cost: number, policy: CounterPolicy, now: number): { state: CounterState; result: HitResult } {
  const s = state ?? { a: Number.NaN, b: 0, c: 0, expiresAt: 0 };
  const fresh = state === undefined;
  let result: HitResult;
  switch (policy.kind) {
    case 'sliding-window':
      result = slidingWindow(s, fresh, cost, policy.limit, policy.windowMs, now);
      break;
    case 'token-bucket':
      result = tokenBucket(s, fresh, cost, policy.limit, policy.windowMs, policy.burst, now);
      break;
    default: {
      const { start, end } = calendarPeriod(policy.kind, now);
      result = calendar(s, fresh, cost, policy.limit, start, end, now);
    }
  }
  return { state: s, result };
}

function slidingWindow(s: CounterState, fresh: boolean, cost: number, limit: number, w: number, now: number): HitResult {
  let start = now - (now % w);
  if (!fresh && s.a > start) start = s.a; // another node's clock is ahead: stay in its window
  if (fresh) {
    s.b = 0;
    s.c = 0;
  } else if (s.a === start) {
    // same window
  } else if (s.a + w === start) {
    s.c = s.b;
    s.b = 0;
  } else {
    s.b = 0;
    s.c = 0;
  }
  s.a = start;
  const e = Math.max(0, now - start);
  let used = s.c * (w - e) + s.b * w;
  const allowed = used + cost * w <= limit * w;
  if (allowed) {
    s.b += cost;
    used += cost * w;
  }
  const resetMs = start + w - now;
  let retryAfterMs = 0;
  if (!allowed) {
    if (cost > limit) retryAfterMs = resetMs + w;
    else if (s.b + cost <= limit && s.c > 0) retryAfterMs = Math.max(1, Math.ceil(w - ((limit - s.b - cost) * w) / s.c) - e);
    else retryAfterMs = resetMs + (s.b > 0 ? Math.max(0, Math.ceil(w - ((limit - cost) * w) / s.b)) : 0);
  }
  s.expiresAt = start + 2 * w;
  return { allowed, remaining: Math.max(0, Math.floor((limit * w - used) / w)), resetMs, retryAfterMs };
}

function tokenBucket(s: CounterState, fresh: boolean, cost: number, limit: number, w: number, burst: number, now: number): HitResult {
  const cap = burst * w;
  if (fresh) {
    s.a = now;
    s.b = cap;
  }
  if (now > s.a) {
    s.b = Math.min(cap, s.b + (now - s.a) * limit);
    s.a = now;
  }
  const allowed = s.b >= cost * w;
  if (allowed) s.b -= cost * w;
  const resetMs = Math.ceil((cap - s.b) / limit);
  s.expiresAt = now + resetMs + 1000;
  return {
    allowed,
    remaining: Math.floor(s.b / w),
    resetMs,
    retryAfterMs: allowed ? 0 : cost > burst ? resetMs + w : Math.ceil((cost * w - s.b) / limit),
  };
}

function calendar(s: CounterState, fresh: boolean, cost: number, limit: number, start: number, end: number, now: number): HitResult {
  if (fresh || s.a < start) {
    s.a = start;
    s.b = 0;
  }
  const allowed = s.b + cost <= limit;
  if (allowed) s.b += cost;
  const resetMs = end - now;
  s.expiresAt = end + 60_000;
  return { allowed, remaining: Math.max(0, limit - s.b), resetMs, retryAfterMs: allowed ? 0 : resetMs };
}
