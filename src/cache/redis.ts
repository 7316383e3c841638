import type { Redis } from 'ioredis';
import { RedisConnection } from '../redis/connection.js';
import { decodeRecord, encodeRecord, type CacheRecord, type PurgeSpec } from './store.js';

export interface RedisStoreOptions {
  url: string;
  /** Prepended to every key (e.g. `weir:cache:`); share it between nodes that share a cache. */
  prefix: string;
  /** A command slower than this fails (ms). */
  timeoutMs: number;
}

/**
 * Cached responses in Redis, shared by every node that uses the same URL and prefix; Redis
 * expires each record when its stale window ends. The connection is a `RedisConnection`:
 * commands fail at once while it is down.
 */
export class RedisStore {
  private readonly connection: RedisConnection;
  private readonly client: Redis;

  constructor(private readonly options: RedisStoreOptions, onChange: (up: boolean) => void) {
    this.connection = new RedisConnection(options.url, options.timeoutMs, onChange);
    this.client = this.connection.client;
  }

  get up(): boolean {
    return this.connection.up;
  }

  async get(key: string): Promise<CacheRecord | undefined> {
    const bytes = await this.client.getBuffer(this.options.prefix + key);
    return bytes === null ? undefined : decodeRecord(bytes);
  }

  async set(key: string, record: CacheRecord, ttlMs: number): Promise<void> {
    await this.client.set(this.options.prefix + key, encodeRecord(record), 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  /** Deletes the matching keys (SCAN, so Redis is never blocked); how many there were. */
  async purge(spec: PurgeSpec): Promise<number> {
    const route = spec.route === undefined ? '*' : glob(spec.route);
    const target = spec.key !== undefined ? `${glob(spec.key)} *` : spec.prefix !== undefined ? `${glob(spec.prefix)}*` : '*';
    const pattern = `${glob(this.options.prefix)}${route} ${target}`;
    let removed = 0;
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await this.client.unlink(...keys);
    } while (cursor !== '0');
    return removed;
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

/** `text` as a literal in a Redis MATCH pattern. */
function glob(text: string): string {
  return text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`);
}
