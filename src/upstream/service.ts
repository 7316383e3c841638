import { Pool } from 'undici';
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { ServiceConfig, TargetConfig } from '../config/types.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { createBalancer } from './balancers/index.js';
import type { BalanceContext, BalancedTarget, Balancer } from './balancers/balancer.js';
import { CircuitBreaker } from './breaker.js';
import { PassiveHealth } from './health/passive.js';
import { metrics, type TargetMetrics } from '../observability/metrics.js';

/** One target of a service at run time: its connection pool and everything that judges its health. */
export class UpstreamTarget implements BalancedTarget {
  readonly id: string;
  readonly origin: string;
  readonly basePath: string;
  readonly weight: number;
  /** `Host` sent upstream when the service does not preserve the client's. */
  readonly hostHeader: string;
  readonly pool: Pool;
  active = 0;
  available = true;
  /** As judged by the active health checker (true when there is none). */
  healthy = true;
  readonly breaker: CircuitBreaker | null;
  readonly passive: PassiveHealth | null;
  /** Attempts and their latency, for /metrics. */
  readonly metrics: TargetMetrics;

  constructor(target: TargetConfig, config: ServiceConfig, log?: Logger) {
    this.id = target.origin;
    this.origin = target.origin;
    this.basePath = target.basePath;
    this.weight = target.weight;
    this.hostHeader = new URL(target.origin).host;
    this.metrics = metrics.target(config.name, this.id);
    this.pool = new Pool(target.origin, {
      connections: config.connections,
      pipelining: 1,
      keepAliveTimeout: config.keepAliveTimeoutMs,
      headersTimeout: config.readTimeoutMs,
      bodyTimeout: config.readTimeoutMs,
      connect: { timeout: config.connectTimeoutMs },
    });
    const where = { service: config.name, target: this.id };
    // Each change is logged: a target that stops taking traffic must never be a silent 503.
    this.breaker = config.circuitBreaker === null ? null : new CircuitBreaker(config.circuitBreaker, (state) => {
      if (state === 'open') log?.warn({ ...where, openForMs: config.circuitBreaker!.openForMs }, 'circuit breaker opened');
      else log?.info({ ...where, state }, `circuit breaker ${state}`);
      this.refresh();
    });
    this.passive = config.passiveHealth === null ? null : new PassiveHealth(config.passiveHealth, (ejected) => {
      if (ejected) log?.warn(where, 'target ejected after consecutive failures');
      else log?.info(where, 'ejected target back in rotation');
      this.refresh();
    });
  }

  /** Recomputes `available` after any health or breaker change. */
  refresh(): void {
    this.available = this.healthy && !(this.passive?.ejected ?? false) && !(this.breaker?.isOpen() ?? false);
  }

  close(): Promise<void> {
    this.breaker?.close();
    this.passive?.close();
    return this.pool.close();
  }
}

/** How an attempt at a target ended, as far as health and breaker are concerned. */
export type AttemptResult = 'success' | 'connect-failure' | 'timeout' | 'failure';

/**
 * A service at run time: its targets, balancer and retry back-off. Created per config version,
 * but reused across reloads while its config is unchanged, so pools and health state survive.
 */
export class UpstreamService {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly targets: UpstreamTarget[];
  private readonly balancer: Balancer;
  private readonly backoff: ExponentialBackoff<unknown>;

  constructor(config: ServiceConfig, log?: Logger) {
    this.name = config.name;
    this.config = config;
    this.targets = config.targets.map((t) => new UpstreamTarget(t, config, log));
    this.balancer = createBalancer(config.balancing, this.targets, { hashOn: config.hashOn });
    this.backoff = new ExponentialBackoff({ initialDelay: config.retries.initialBackoffMs, maxDelay: config.retries.maxBackoffMs });
  }

  /**
   * A target for the next attempt, with a breaker slot taken (release it through `record`),
   * or null when none can take the request.
   */
  pick(ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): UpstreamTarget | null {
    let refused: UpstreamTarget[] | undefined;
    try {
      for (;;) {
        const target = this.balancer.pick(ctx, exclude) as UpstreamTarget | null;
        if (target === null || target.breaker === null || target.breaker.tryAcquire()) return target;
        // Half-open with every trial slot taken: out of the running for this pick. Hidden through
        // `available`, not `exclude`: balancers fall back to excluded targets when nothing else is
        // left, so an excluded one would come straight back and this loop would never end.
        target.available = false;
        (refused ??= []).push(target);
      }
    } finally {
      if (refused !== undefined) for (const target of refused) target.refresh();
    }
  }

  /**
   * Why `pick` found nothing: breakers refusing every target (open, or half-open with their
   * trial slots taken) is a different answer from every target down.
   */
  unavailableCode(): ErrorCode {
    const usable = this.targets.filter((t) => t.weight > 0);
    return usable.length > 0 && usable.every((t) => t.healthy && t.breaker !== null && t.breaker.state !== 'closed')
      ? 'WEIR_CIRCUIT_OPEN'
      : 'WEIR_UPSTREAM_UNAVAILABLE';
  }

  /**
   * Feeds an attempt's outcome to the target's breaker, passive health check and metrics;
   * `ms`: time to the response headers, when there was a response.
   */
  record(target: UpstreamTarget, result: AttemptResult, status = 0, ms = -1): void {
    if (status !== 0) target.metrics.answered(status, ms);
    else if (result !== 'success') target.metrics.failed(result);
    if (result === 'success') {
      target.breaker?.onSuccess();
      if (target.passive !== null) {
        if (status === 0) target.passive.recordSuccess();
        else target.passive.recordStatus(status);
      }
      return;
    }
    target.breaker?.onFailure();
    if (result === 'connect-failure' || result === 'timeout') target.passive?.recordFailure();
    else if (status !== 0) target.passive?.recordStatus(status);
  }

  /** Releases a breaker slot taken by `pick` when the attempt ended without an outcome (client left). */
  release(target: UpstreamTarget): void {
    target.breaker?.release();
  }

  setHealthy(targetId: string, healthy: boolean): void {
    const target = this.targets.find((t) => t.id === targetId);
    if (target === undefined || target.healthy === healthy) return;
    target.healthy = healthy;
    target.refresh();
  }

  nextBackoff(previous: IBackoff<unknown> | undefined): IBackoff<unknown> {
    return previous === undefined ? this.backoff.next() : previous.next(undefined);
  }

  /** Closes pools once their in-flight requests finish. */
  async close(): Promise<void> {
    await Promise.all(this.targets.map((t) => t.close()));
  }
}
