import type { BalancingAlgorithm } from '../../config/types.js';
import type { Balancer, BalancedTarget, BalancerFactory, BalancerOptions } from './balancer.js';
import { consistentHash } from './consistent-hash.js';
import { leastConnections } from './least-connections.js';
import { roundRobin } from './round-robin.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

export type { Balancer, BalanceContext, BalancedTarget, BalancerFactory, BalancerOptions } from './balancer.js';

const FACTORIES: Record<BalancingAlgorithm, BalancerFactory> = {
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  'least-connections': leastConnections,
  'consistent-hash': consistentHash,
};

/**
 * Returns a balancer for a service's targets. The balancer reads `available` and `active` from
 * the target objects on every pick, so the owner updates those in place.
 * @example
 * const balancer = createBalancer('least-connections', targets, { hashOn: null });
 * const target = balancer.pick(ctx); // null: no target available
 */
export function createBalancer(
  algorithm: BalancingAlgorithm,
  targets: readonly BalancedTarget[],
  options: BalancerOptions,
): Balancer {
  return FACTORIES[algorithm](targets, options);
}
