/**
 * The suite every `Counters` implementation passes (memory, memory over IPC, Redis). Time is
 * given to `hit`, so window boundaries are proved by counts at chosen instants, not by sleeping.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { CounterPolicy, Counters, HitResult } from './counters.js';

const sliding = (limit: number, windowMs: number): CounterPolicy => ({ kind: 'sliding-window', limit, windowMs, burst: limit });
const bucket = (limit: number, windowMs: number, burst: number): CounterPolicy => ({ kind: 'token-bucket', limit, windowMs, burst });

/** A time aligned to `w` (the start of a window), near now so the memory sweeper keeps states. */
function windowStart(w: number): number {
  const now = Date.now();
  return now - (now % w) + w;
}

async function hits(counters: Counters, key: string, n: number, policy: CounterPolicy, now: number): Promise<HitResult[]> {
  const out: HitResult[] = [];
  for (let i = 0; i < n; i++) out.push(await counters.hit(key, 1, policy, now));
  return out;
}

const admitted = (results: HitResult[]): number => results.filter((r) => r.allowed).length;

export function counterConformance(name: string, open: () => Promise<Counters>, close: (c: Counters) => Promise<void> = (c) => c.close()): void {
  describe(`counters conformance: ${name}`, () => {
    const run = (title: string, body: (c: Counters, key: () => string) => Promise<void>): void => {
      it(title, async () => {
        const counters = await open();
        const prefix = `conf-${randomUUID()}`;
        let n = 0;
        try {
          await body(counters, () => `${prefix}:${n++}`);
        } finally {
          await close(counters);
        }
      });
    };

    run('sliding window: exactly limit per window, remaining counts down, then refusals with Retry-After', async (c, key) => {
      const w = 60_000;
      const t0 = windowStart(w);
      const k = key();
      const results = await hits(c, k, 12, sliding(10, w), t0 + 1000);
      assert.equal(admitted(results), 10);
      assert.deepEqual(results.slice(0, 10).map((r) => r.remaining), [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
      assert.equal(results[0]!.resetMs, w - 1000);
      assert.equal(results[10]!.allowed, false);
      assert.equal(results[10]!.remaining, 0);
      // All 10 are in the current window: the next admission is 10% into the next window, when
      // the previous window's weight has dropped to 9.
      assert.equal(results[10]!.retryAfterMs, w - 1000 + w / 10);
    });

    run('sliding window: the previous window counts by its overlap, then not at all', async (c, key) => {
      const w = 10_000;
      const t0 = windowStart(w);
      const k = key();
      const p = sliding(10, w);
      assert.equal(admitted(await hits(c, k, 10, p, t0)), 10);
      // Half-way through the next window, half of the previous 10 still count: 5 more fit.
      assert.equal(admitted(await hits(c, k, 10, p, t0 + w + w / 2)), 5);
      // Two windows later nothing counts any more.
      assert.equal(admitted(await hits(c, k, 12, p, t0 + 3 * w)), 10);
    });

    run('sliding window: a refusal says how long until the overlap has shrunk enough', async (c, key) => {
      const w = 10_000;
      const t0 = windowStart(w);
      const k = key();
      const p = sliding(10, w);
      await hits(c, k, 10, p, t0);
      const r = (await hits(c, k, 6, p, t0 + w + w / 2)).at(-1)!;
      assert.equal(r.allowed, false);
      // Now 5 (weighted) + 5 (current) = 10; one more needs the weighted part at 4: 10% more of w.
      assert.equal(r.retryAfterMs, w / 10);
      assert.equal((await c.hit(k, 1, p, t0 + w + w / 2 + r.retryAfterMs)).allowed, true);
    });

    run('token bucket: burst at once, then refills at limit per window', async (c, key) => {
      const w = 1000;
      const t0 = windowStart(w);
      const k = key();
      const p = bucket(10, w, 5);
      const first = await hits(c, k, 6, p, t0);
      assert.equal(admitted(first), 5);
      assert.equal(first[4]!.remaining, 0);
      assert.equal(first[5]!.retryAfterMs, 100); // one token per 100 ms
      assert.equal(first[4]!.resetMs, 500); // full again after 5 tokens
      assert.equal(admitted(await hits(c, k, 3, p, t0 + 250)), 2); // 2.5 tokens
      assert.equal(admitted(await hits(c, k, 3, p, t0 + 300)), 1); // the half token became whole
      assert.equal(admitted(await hits(c, k, 9, p, t0 + 60_000)), 5); // capped at burst
    });

    run('calendar quotas reset at UTC midnight and on the first of the month', async (c, key) => {
      const day = { kind: 'day', limit: 3, windowMs: 86_400_000, burst: 3 } as const;
      const month = { kind: 'month', limit: 2, windowMs: 0, burst: 2 } as const;
      const t = Date.UTC(2030, 0, 31, 23, 59, 0);
      const kd = key();
      const d1 = await hits(c, kd, 4, day, t);
      assert.equal(admitted(d1), 3);
      assert.equal(d1[3]!.retryAfterMs, 60_000);
      assert.equal(d1[0]!.resetMs, 60_000);
      assert.equal(admitted(await hits(c, kd, 4, day, Date.UTC(2030, 1, 1, 0, 0, 1))), 3);
      const km = key();
      assert.equal(admitted(await hits(c, km, 3, month, Date.UTC(2030, 0, 5))), 2);
      const refused = await c.hit(km, 1, month, Date.UTC(2030, 0, 31, 12));
      assert.equal(refused.allowed, false);
      assert.equal(refused.retryAfterMs, 12 * 3_600_000);
      assert.equal(admitted(await hits(c, km, 3, month, Date.UTC(2030, 1, 1))), 2);
    });

    run('exact under concurrency: 300 hits at once on a limit of 50 admit exactly 50', async (c, key) => {
      const k = key();
      const p = sliding(50, 60_000);
      const now = windowStart(60_000) + 10;
      const results = await Promise.all(Array.from({ length: 300 }, () => c.hit(k, 1, p, now)));
      assert.equal(admitted(results), 50);
      const tb = key();
      const b = bucket(50, 60_000, 50);
      assert.equal(admitted(await Promise.all(Array.from({ length: 300 }, () => c.hit(tb, 1, b, now)))), 50);
    });

    run('keys are independent; a cost counts as that many requests', async (c, key) => {
      const w = 60_000;
      const t0 = windowStart(w);
      const p = sliding(10, w);
      const a = key();
      const b = key();
      assert.equal(admitted(await hits(c, a, 11, p, t0)), 10);
      assert.equal(admitted(await hits(c, b, 11, p, t0)), 10);
      const heavy = key();
      assert.equal((await c.hit(heavy, 7, p, t0)).remaining, 3);
      assert.equal((await c.hit(heavy, 4, p, t0)).allowed, false);
      assert.equal((await c.hit(heavy, 3, p, t0)).allowed, true);
    });
  });
}
