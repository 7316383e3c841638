/**
 * A bounded in-memory queue of call records, delivered in batches off the request path: a push is
 * an array append (or, when full, a counter increment); delivery runs from a timer or
 * `setImmediate`, never inside the request that pushed. A full queue drops the record and counts
 * it — one warning per overflow episode, never silence.
 */
import type { Logger } from '../observability/logger.js';
import type { CallRecord } from './record.js';

export interface QueueOptions {
  queueSize: number;
  batchSize: number;
  flushIntervalMs: number;
}

export interface QueueStats {
  /** Waiting to be delivered (the batch in delivery not counted). */
  queued: number;
  /** Delivered (written, or handed to the process that writes). */
  delivered: number;
  /** Refused because the queue was full. */
  dropped: number;
  /** Lost because delivery failed (the store refused the batch). */
  failed: number;
}

export type Deliver<T> = (batch: T[]) => void | Promise<void>;

/** Of records (a worker's queue) or of their values (the writer's: see CallValues). */
export class CallQueue<T = CallRecord> {
  private pending: T[] = [];
  private timer: NodeJS.Timeout | null = null;
  private scheduled = false;
  private draining: Promise<void> | null = null;
  private overflowing = false;
  private readonly stats: QueueStats = { queued: 0, delivered: 0, dropped: 0, failed: 0 };

  constructor(
    private readonly deliver: Deliver<T>,
    private readonly log: Logger,
    private options: QueueOptions,
    /** Names the queue in log lines ("worker 2", "writer"). */
    private readonly name: string,
  ) {}

  configure(options: QueueOptions): void {
    this.options = options;
  }

  push(record: T): void {
    if (this.pending.length >= this.options.queueSize) {
      this.stats.dropped++;
      if (!this.overflowing) {
        this.overflowing = true;
        this.log.warn({ queue: this.name, queueSize: this.options.queueSize, dropped: this.stats.dropped }, 'call log queue is full: records are being dropped (and counted) until it drains');
      }
      return;
    }
    this.pending.push(record);
    if (this.pending.length >= this.options.batchSize) this.schedule();
    else if (this.timer === null && this.draining === null) this.timer = setTimeout(onTimer, this.options.flushIntervalMs, this).unref();
  }

  /** Records dropped elsewhere (a worker's queue), added to this queue's count. */
  addDropped(count: number): void {
    this.stats.dropped += count;
  }

  snapshot(): QueueStats {
    return { ...this.stats, queued: this.pending.length };
  }

  /** Delivers everything queued, waiting for deliveries in progress. */
  async flush(): Promise<void> {
    while (this.draining !== null || this.pending.length > 0) {
      if (this.draining === null) this.draining = this.drain();
      await this.draining;
    }
  }

  /** @internal the flush timer went off. */
  fired(): void {
    this.timer = null;
    this.schedule();
  }

  /** @internal */
  schedule(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.scheduled || this.draining !== null) return;
    this.scheduled = true;
    setImmediate(onImmediate, this);
  }

  /** @internal */
  startDrain(): void {
    this.scheduled = false;
    if (this.draining === null && this.pending.length > 0) this.draining = this.drain();
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.length <= this.options.batchSize ? this.pending : this.pending.slice(0, this.options.batchSize);
        this.pending = batch === this.pending ? [] : this.pending.slice(batch.length);
        try {
          await this.deliver(batch);
          this.stats.delivered += batch.length;
        } catch (err) {
          this.stats.failed += batch.length;
          this.log.error({ err, queue: this.name, records: batch.length }, 'writing call log records failed; the batch is lost (counted as failed)');
        }
        if (this.overflowing && this.pending.length < this.options.queueSize) {
          this.overflowing = false;
          this.log.info({ queue: this.name, dropped: this.stats.dropped }, 'call log queue has room again');
        }
        // Whatever arrived meanwhile waits for its own batch or timer, unless a batch is full.
        if (this.pending.length < this.options.batchSize) break;
      }
    } finally {
      this.draining = null;
      if (this.pending.length > 0 && this.timer === null) this.timer = setTimeout(onTimer, this.options.flushIntervalMs, this).unref();
    }
  }
}

function onTimer<T>(queue: CallQueue<T>): void {
  queue.fired();
}

function onImmediate<T>(queue: CallQueue<T>): void {
  queue.startDrain();
}
