import type { BalancingAlgorithm, HashKey } from '../../config/types.js';

/**
 * What a balancer sees of a target. The service owns these objects; `available` is maintained
 * by health checks and the circuit breaker, `active` counts in-flight requests.
 */
export interface BalancedTarget {
  readonly id: string;
  readonly weight: number;
  /** In-flight requests on this target right now. */
  active: number;
  /** False while ejected by a health check or while its breaker is open. */
  available: boolean;
}

/** What the request offers for hashing. Only consistent-hash reads it. */
export interface BalanceContext {
  /** Returns the value to hash (header value, cookie value or client IP), '' when absent. */
  hashKey(): string;
}

/**
 * Picks a target for each request. Implementations keep their own cursor state and must skip
 * targets with `available === false` (returning null when none is left) and targets of weight 0.
 * `exclude` lists targets already tried by this request (retries go elsewhere when they can).
 */
export interface Balancer {
  readonly algorithm: BalancingAlgorithm;
  pick(ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): BalancedTarget | null;
}

export interface BalancerOptions {
  hashOn: HashKey | null;
}

export type BalancerFactory = (targets: readonly BalancedTarget[], options: BalancerOptions) => Balancer;
