import type { Logger } from '../observability/logger.js';
import { redactCredentials } from '../masking/credentials.js';
import type { RedisStore } from './redis.js';
import { MemoryStore, type CacheRecord, type PurgeSpec } from './store.js';
import { RedisOutage } from '../redis/outage.js';

/** `global.cache`, normalised. */
export interface CacheSettings {
  memory: { maxSize: number };
  redis: { url: string; prefix: string; timeoutMs: number };
}

export type StoreName = 'memory' | 'redis';

/**
 * The process's response-cache stores. Plugins are built from their config alone, so the stores
 * are process-wide and configured from `global.cache` by the runtime (each cluster worker has its
 * own memory store; Redis is shared by every process and node that points at it). The Redis
 * client is created on first use by a `store: redis` plugin. While Redis is unreachable the
 * `redis` store reads as `unavailable` and the plugin bypasses the cache; one warn line per
 * outage, one info line when it is back.
 */
class CacheRuntime {
  private settings: CacheSettings | null = null;
  private memory: MemoryStore | null = null;
  private redis: RedisStore | null = null;
  /** Set while the Redis client loads (ioredis is imported only by nodes that use Redis). */
  private loading: Promise<void> | null = null;
  private log: Logger | null = null;
  private readonly outage = new RedisOutage((err) => this.wentDown(err), (downForMs) => this.cameBack(downForMs));
  readonly stats = { outages: 0, bypassedWhileDown: 0 };

  configure(settings: CacheSettings, log: Logger): void {
    this.log = log;
    const before = this.settings;
    this.settings = settings;
    if (before !== null && before.memory.maxSize !== settings.memory.maxSize) this.memory = null;
    const sameRedis = before !== null && before.redis.url === settings.redis.url && before.redis.prefix === settings.redis.prefix && before.redis.timeoutMs === settings.redis.timeoutMs;
    if (!sameRedis) this.dropRedis();
  }

  /** Called when a plugin that uses `name` is built: Redis connects before the first request needs it. */
  use(name: StoreName): void {
    if (name === 'redis' && this.redis === null) this.connect();
  }

  /** The store, or `unavailable` while Redis is down (or still connecting). */
  store(name: StoreName): MemoryStore | RedisStore | 'unavailable' {
    if (name === 'memory') return (this.memory ??= new MemoryStore(this.settings?.memory.maxSize ?? 64 * 1024 * 1024));
    const redis = this.redis ?? this.connect();
    if (redis !== null && redis.up && this.outage.mayTry()) return redis;
    if (!this.outage.isDown && redis !== null) this.outage.failed(new Error('not connected'));
    this.stats.bypassedWhileDown++;
    return 'unavailable';
  }

  /** Reads a record; a Redis failure counts as a miss (and starts an outage). */
  async get(store: MemoryStore | RedisStore, key: string): Promise<CacheRecord | undefined> {
    if (store instanceof MemoryStore) return store.get(key);
    try {
      const record = await store.get(key);
      this.outage.succeeded();
      return record;
    } catch (err) {
      this.outage.failed(err as Error);
      return undefined;
    }
  }

  /** Writes a record; a Redis failure is logged once per outage and otherwise ignored. */
  async set(store: MemoryStore | RedisStore, key: string, record: CacheRecord, ttlMs: number): Promise<void> {
    if (store instanceof MemoryStore) return store.set(key, record, ttlMs);
    try {
      await store.set(key, record, ttlMs);
    } catch (err) {
      this.outage.failed(err as Error);
    }
  }

  /** Removes matching records from this process's memory store and from Redis (when a plugin uses it). */
  async purge(spec: PurgeSpec): Promise<{ memory: number; redis: number }> {
    const memory = this.memory?.purge(spec) ?? 0;
    await this.loading;
    let redis = 0;
    if (this.redis !== null) {
      try {
        redis = await this.redis.purge(spec);
      } catch (err) {
        this.outage.failed(err as Error);
        throw new Error(`the Redis cache store could not be purged: ${(err as Error).message}`);
      }
    }
    return { memory, redis };
  }

  async close(): Promise<void> {
    await this.loading;
    this.dropRedis();
    this.memory?.clear();
    this.memory = null;
    this.settings = null;
  }

  /** Starts loading the Redis client; null until it has loaded. */
  private connect(): RedisStore | null {
    if (this.loading !== null || this.settings === null) return null;
    const options = this.settings.redis;
    const loading: Promise<void> = import('./redis.js').then(
      ({ RedisStore }) => {
        if (this.loading !== loading) return;
        this.redis = new RedisStore(options, (up) => (up ? this.outage.connected() : this.outage.failed(new Error('connection closed'))));
      },
      (err: unknown) => this.log?.error({ err }, 'the Redis client could not be loaded'),
    );
    this.loading = loading;
    return null;
  }

  private dropRedis(): void {
    void this.redis?.close();
    this.redis = null;
    this.loading = null;
    this.outage.reset();
  }

  private wentDown(err: Error): void {
    this.stats.outages++;
    const url = this.settings === null ? undefined : redactCredentials(this.settings.redis.url);
    this.log?.warn({ store: 'redis', url, cause: err.message, outages: this.stats.outages }, 'response cache store unreachable; bypassing the cache until it is back');
  }

  private cameBack(downForMs: number): void {
    this.log?.info({ store: 'redis', downForMs, bypassed: this.stats.bypassedWhileDown }, 'response cache store is back');
  }
}

export const responseCache = new CacheRuntime();
