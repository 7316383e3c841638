import type { PurgeSpec } from './store.js';

/** What a purge removed across a node: processes that confirmed, memory records and Redis keys. */
export interface PurgeResult {
  processes: number;
  memory: number;
  redis: number;
}

interface Pending {
  waiting: Set<number>;
  result: PurgeResult;
  errors: string[];
  timer: NodeJS.Timeout;
  resolve: (result: PurgeResult) => void;
  reject: (err: Error) => void;
}

/**
 * The cluster primary's side of a cache purge: every worker's memory store is its own, so a purge
 * is sent to each and answered once all of them confirmed (a worker that exits meanwhile counts
 * as done: its replacement starts with an empty cache). Fails when one reports an error (its Redis
 * purge) or does not answer within `timeoutMs`.
 */
export class PurgeFanout {
  private next = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly timeoutMs = 5_000) {}

  /** Sends `spec` to `workers` (ids) through `send`; resolves with the sums. */
  purge(spec: PurgeSpec, workers: readonly number[], send: (worker: number, id: number, spec: PurgeSpec) => void): Promise<PurgeResult> {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${pending.waiting.size} worker(s) did not confirm the purge in time`));
      }, this.timeoutMs);
      const pending: Pending = { waiting: new Set(workers), result: { processes: 0, memory: 0, redis: 0 }, errors: [], timer, resolve, reject };
      this.pending.set(id, pending);
      for (const worker of workers) send(worker, id, spec);
      this.settleIfDone(id, pending);
    });
  }

  /** A worker's answer. */
  answered(worker: number, answer: { id: number; memory: number; redis: number; error?: string }): void {
    const pending = this.pending.get(answer.id);
    if (pending === undefined || !pending.waiting.delete(worker)) return;
    pending.result.processes++;
    pending.result.memory += answer.memory;
    pending.result.redis += answer.redis;
    if (answer.error !== undefined) pending.errors.push(answer.error);
    this.settleIfDone(answer.id, pending);
  }

  /** A worker exited: nothing of its cache is left. */
  gone(worker: number): void {
    for (const [id, pending] of this.pending) if (pending.waiting.delete(worker)) this.settleIfDone(id, pending);
  }

  private settleIfDone(id: number, pending: Pending): void {
    if (pending.waiting.size > 0) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    if (pending.errors.length > 0) pending.reject(new Error(pending.errors[0]));
    else pending.resolve(pending.result);
  }
}
