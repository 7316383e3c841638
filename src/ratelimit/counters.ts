import { applyHit, type CounterPolicy, type CounterState, type HitResult } from './algorithms.js';

export type { CounterKind, CounterPolicy, HitResult } from './algorithms.js';

/**
 * Rate-limit counters: `hit` counts `cost` against `key` under `policy` at time `now` (ms since
 * the epoch) and says whether that was within the limit, atomically per key. Implementations:
 * `MemoryCounters` (one process; the node's primary serves its workers through `IpcCounters`)
 * and `RedisCounters` (every node). `counters.conformance.ts` is the suite each must pass.
 *
 * `hit` may answer synchronously (memory) so the request pipeline stays synchronous.
 */
export interface Counters {
  hit(key: string, cost: number, policy: CounterPolicy, now: number): HitResult | Promise<HitResult>;
  close(): Promise<void>;
}

/** Exact counters in this process's memory; expired states are swept every few seconds. */
export class MemoryCounters implements Counters {
  private readonly states = new Map<string, CounterState>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly sweepEveryMs = 5_000) {}

  hit(key: string, cost: number, policy: CounterPolicy, now: number): HitResult {
    const before = this.states.get(key);
    const { state, result } = applyHit(before, cost, policy, now);
    if (before === undefined) {
      this.states.set(key, state);
      this.sweeper ??= setInterval(sweep, this.sweepEveryMs, this.states).unref();
    }
    return result;
  }

  /** Keys currently held (tests). */
  get size(): number {
    return this.states.size;
  }

  async close(): Promise<void> {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    this.states.clear();
  }
}

function sweep(states: Map<string, CounterState>): void {
  const now = Date.now();
  for (const [key, state] of states) if (state.expiresAt < now) states.delete(key);
}
