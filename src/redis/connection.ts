import { Redis } from 'ioredis';
import { redactCredentials } from '../masking/credentials.js';

/**
 * One Redis connection as Weir's Redis stores (rate-limit counters, response cache) use it:
 * commands fail at once while disconnected instead of queueing, ioredis reconnects by itself
 * with a capped back-off, `up` says whether the connection is ready and `onChange` reports each
 * transition. Imported only by modules that are themselves loaded lazily, so nodes without Redis
 * never load the client.
 */
export class RedisConnection {
  readonly client: Redis;
  private ready = false;

  constructor(private readonly url: string, timeoutMs: number, onChange: (up: boolean) => void = () => {}) {
    this.client = new Redis(url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(1000, timeoutMs),
      retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
      lazyConnect: false,
    });
    this.client.on('ready', () => {
      if (this.ready) return;
      this.ready = true;
      onChange(true);
    });
    this.client.on('close', () => {
      if (!this.ready) return;
      this.ready = false;
      onChange(false);
    });
    // Errors surface through the commands and the close event; without a listener ioredis logs them.
    this.client.on('error', () => {});
  }

  get up(): boolean {
    return this.ready;
  }

  /** Resolves once the connection is ready (or rejects after `ms`). */
  waitReady(ms = 5_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady);
        reject(new Error(`redis at ${redactCredentials(this.url)} not ready after ${ms} ms`));
      }, ms);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.client.once('ready', onReady);
    });
  }

  async close(): Promise<void> {
    this.ready = false;
    this.client.removeAllListeners('close');
    this.client.disconnect();
  }
}
