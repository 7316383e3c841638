import { KIND_CODES, KINDS, type CounterPolicy, type HitResult } from './algorithms.js';
import type { Counters, MemoryCounters } from './counters.js';

/**
 * The node-wide memory counters over node:cluster IPC. The counters live in the primary; a
 * worker's hits are collected for one event-loop turn and sent as one message, and the primary
 * answers each batch with one message — so counting stays exact across workers (one process
 * applies every hit, in arrival order) at the price of one IPC round trip per batch.
 *
 * A batch is flat: per hit `id, key, cost, kind, limit, windowMs, burst, now`; the answer per
 * hit `id, allowed (0|1), remaining, resetMs, retryAfterMs`.
 */
export type RateLimitHits = Array<string | number>;
export type RateLimitResults = number[];

const HIT_FIELDS = 8;
const RESULT_FIELDS = 5;

/** The primary's side: applies a worker's batch to the node's memory counters. */
export function applyHits(counters: MemoryCounters, hits: RateLimitHits): RateLimitResults {
  const out: number[] = new Array((hits.length / HIT_FIELDS) * RESULT_FIELDS);
  const policy = { kind: KINDS[0]!, limit: 0, windowMs: 0, burst: 0 } as { -readonly [K in keyof CounterPolicy]: CounterPolicy[K] };
  for (let i = 0, o = 0; i < hits.length; i += HIT_FIELDS, o += RESULT_FIELDS) {
    policy.kind = KINDS[hits[i + 3] as number]!;
    policy.limit = hits[i + 4] as number;
    policy.windowMs = hits[i + 5] as number;
    policy.burst = hits[i + 6] as number;
    const r = counters.hit(hits[i + 1] as string, hits[i + 2] as number, policy, hits[i + 7] as number);
    out[o] = hits[i] as number;
    out[o + 1] = r.allowed ? 1 : 0;
    out[o + 2] = r.remaining;
    out[o + 3] = r.resetMs;
    out[o + 4] = r.retryAfterMs;
  }
  return out;
}

interface Pending {
  resolve(result: HitResult): void;
  reject(err: Error): void;
}

/** A worker's side: `hit` queues, one message per event-loop turn goes to the primary. */
export class IpcCounters implements Counters {
  private nextId = 1;
  private queue: RateLimitHits = [];
  private scheduled = false;
  private readonly pending = new Map<number, Pending>();

  /** `send` returns false when the primary cannot be reached. */
  constructor(private readonly send: (hits: RateLimitHits) => boolean) {}

  hit(key: string, cost: number, policy: CounterPolicy, now: number): Promise<HitResult> {
    const id = this.nextId++;
    if (this.nextId > 0x3fffffff) this.nextId = 1;
    this.queue.push(id, key, cost, KIND_CODES[policy.kind], policy.limit, policy.windowMs, policy.burst, now);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(flush, this);
    }
    return new Promise<HitResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** @internal */
  flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    if (!this.send(batch)) {
      const err = new Error('the primary process cannot be reached for rate-limit counting');
      for (let i = 0; i < batch.length; i += HIT_FIELDS) this.settle(batch[i] as number, err);
    }
  }

  /** The primary's answer to a batch. */
  receive(results: RateLimitResults): void {
    for (let o = 0; o < results.length; o += RESULT_FIELDS) {
      const p = this.pending.get(results[o]!);
      if (p === undefined) continue;
      this.pending.delete(results[o]!);
      p.resolve({ allowed: results[o + 1] === 1, remaining: results[o + 2]!, resetMs: results[o + 3]!, retryAfterMs: results[o + 4]! });
    }
  }

  /** Fails every hit still waiting (the primary went away). */
  abandon(): void {
    const err = new Error('the primary process went away');
    for (const id of [...this.pending.keys()]) this.settle(id, err);
  }

  private settle(id: number, err: Error): void {
    const p = this.pending.get(id);
    if (p === undefined) return;
    this.pending.delete(id);
    p.reject(err);
  }

  async close(): Promise<void> {
    this.abandon();
  }
}

function flush(counters: IpcCounters): void {
  counters.flush();
}
