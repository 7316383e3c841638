import type { Logger } from '../observability/logger.js';
import type { CounterPolicy, HitResult } from './algorithms.js';
import { MemoryCounters, type Counters } from './counters.js';
import type { RedisCounters } from './redis.js';
import { RedisOutage } from '../redis/outage.js';
import { redactCredentials } from '../masking/credentials.js';

/** `global.rateLimits`, normalised. */
export interface RateLimitSettings {
  store: 'memory' | 'redis';
  redis: { url: string; prefix: string; timeoutMs: number };
  onRedisDown: 'open' | 'closed';
}

/** Thrown (as a rejection) when Redis is down and `onRedisDown` is `closed`. */
export class CounterStoreUnavailable extends Error {
  constructor() {
    super('the rate-limit store (redis) is unreachable');
    this.name = 'CounterStoreUnavailable';
  }
}

/** How long a starting process waits for a Redis store before it serves anyway. */
const STARTUP_WAIT_MS = 2_000;

/**
 * The process's rate-limit counters. Plugins are built from their config alone, so the counters
 * are process-wide: the node's memory counters (set by the runtime: `MemoryCounters` in a single
 * process or the primary, `IpcCounters` in a worker) and, with `store: redis`, a Redis
 * connection in front of them. While Redis is down the node's memory counters stand in
 * (`onRedisDown: open`) or hits are refused (`closed`); one warn line per outage, one info line
 * when it is back, and the counts in `rateLimitStats()`.
 */
class RateLimitRuntime {
  node: Counters = new MemoryCounters();
  private settings: RateLimitSettings | null = null;
  private redis: RedisCounters | null = null;
  /** Set while the Redis client loads (ioredis is imported only by nodes that use Redis). */
  private loading: Promise<void> | null = null;
  private log: Logger | null = null;
  private readonly outage = new RedisOutage((err) => this.wentDown(err), (downForMs) => this.cameBack(downForMs));
  readonly stats = { outages: 0, fallbackHits: 0, refusedWhileDown: 0, nodeFailures: 0 };
  private nodeFailureLogged = false;

  configure(settings: RateLimitSettings, log: Logger): void {
    this.log = log;
    const before = this.settings;
    this.settings = settings;
    const same = before !== null && before.store === settings.store && before.redis.url === settings.redis.url
      && before.redis.prefix === settings.redis.prefix && before.redis.timeoutMs === settings.redis.timeoutMs;
    if (same && (settings.store === 'memory' || this.redis !== null)) return;
    void this.redis?.close();
    this.redis = null;
    this.outage.reset();
    if (settings.store === 'redis') {
      const loading: Promise<void> = import('./redis.js').then(
        ({ RedisCounters }) => {
          if (this.loading !== loading) return;
          this.loading = null;
          this.redis = new RedisCounters(settings.redis, (up) => (up ? this.outage.connected() : this.outage.failed(new Error('connection closed'))));
        },
        (err: unknown) => this.log?.error({ err }, 'the Redis client could not be loaded'),
      );
      this.loading = loading;
    } else {
      this.loading = null;
    }
  }

  hit(key: string, cost: number, policy: CounterPolicy, now: number): HitResult | Promise<HitResult> {
    const redis = this.redis;
    // Until the client has loaded, Redis counts as not (yet) reachable.
    if (redis === null) return this.loading !== null ? this.whileDown(key, cost, policy, now) : this.nodeHit(key, cost, policy, now);
    if (redis.up && this.outage.mayTry()) {
      return redis.hit(key, cost, policy, now).then(
        (result) => {
          this.outage.succeeded();
          return result;
        },
        (err: Error) => {
          this.outage.failed(err);
          return this.whileDown(key, cost, policy, now);
        },
      );
    }
    if (!this.outage.isDown) this.outage.failed(new Error('not connected'));
    return this.whileDown(key, cost, policy, now);
  }

  /** Waits for Redis to be ready when it is the store (startup, tests). */
  async ready(ms?: number): Promise<void> {
    await this.loading;
    await this.redis?.waitReady(ms);
  }

  /**
   * Before a process serves its first request: gives a Redis store up to `ms` to connect, so the
   * first requests are counted in Redis rather than refused (`closed`) or counted locally
   * (`open`). A Redis still down after that is an outage like any other: logged, and the node
   * serves by its `onRedisDown` rule.
   */
  async beforeServing(ms = STARTUP_WAIT_MS): Promise<void> {
    if (this.settings?.store !== 'redis') return;
    try {
      await this.ready(ms);
    } catch (err) {
      this.outage.failed(err as Error);
    }
  }

  async close(): Promise<void> {
    await this.loading;
    this.loading = null;
    await this.redis?.close();
    this.redis = null;
    this.settings = null;
  }

  private whileDown(key: string, cost: number, policy: CounterPolicy, now: number): HitResult | Promise<HitResult> {
    if (this.settings?.onRedisDown === 'closed') {
      this.stats.refusedWhileDown++;
      return Promise.reject(new CounterStoreUnavailable());
    }
    this.stats.fallbackHits++;
    return this.nodeHit(key, cost, policy, now);
  }

  /** The node's counters; if even they fail (the primary went away), the request is let through. */
  private nodeHit(key: string, cost: number, policy: CounterPolicy, now: number): HitResult | Promise<HitResult> {
    const result = this.node.hit(key, cost, policy, now);
    if (!(result instanceof Promise)) return result;
    return result.catch((err: Error) => {
      this.stats.nodeFailures++;
      if (!this.nodeFailureLogged) {
        this.nodeFailureLogged = true;
        this.log?.warn({ err: err.message }, 'rate-limit counters unreachable; requests are let through');
      }
      return { allowed: true, remaining: policy.limit, resetMs: policy.windowMs, retryAfterMs: 0 };
    });
  }

  private wentDown(err: Error): void {
    this.stats.outages++;
    const s = this.settings;
    this.log?.warn(
      { store: 'redis', url: s === null ? undefined : redactCredentials(s.redis.url), onRedisDown: s?.onRedisDown, cause: err.message, outages: this.stats.outages },
      s?.onRedisDown === 'closed' ? 'rate-limit store unreachable; refusing limited requests until it is back' : 'rate-limit store unreachable; counting in this node\'s memory until it is back',
    );
  }

  private cameBack(downForMs: number): void {
    this.log?.info({ store: 'redis', downForMs, fallbackHits: this.stats.fallbackHits, refusedWhileDown: this.stats.refusedWhileDown }, 'rate-limit store is back');
  }
}

export const rateLimits = new RateLimitRuntime();

/** Sets the node's memory counters: `IpcCounters` in a cluster worker. */
export function useNodeCounters(counters: Counters): void {
  rateLimits.node = counters;
}

/** The counts behind the outage metric: outages seen, hits counted locally or refused while Redis was down. */
export function rateLimitStats(): Readonly<RateLimitRuntime['stats']> {
  return rateLimits.stats;
}
