import type { Balancer, BalanceContext, BalancedTarget, BalancerFactory } from './balancer.js';
import { isPickable, pickPreferringUntried, weighted, type TargetChooser } from './pickable.js';

/**
 * Picks the target with the fewest in-flight requests per unit of weight. The scan starts one
 * past the previous pick and keeps the first minimum, so tied targets (e.g. all idle) take
 * turns rather than the first one soaking up every request.
 */
class LeastConnections implements Balancer, TargetChooser {
  readonly algorithm = 'least-connections';
  readonly #targets: BalancedTarget[];
  #start = 0;

  constructor(targets: readonly BalancedTarget[]) {
    this.#targets = weighted(targets);
  }

  pick(_ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): BalancedTarget | null {
    return pickPreferringUntried(this, exclude);
  }

  choose(exclude: ReadonlySet<BalancedTarget> | undefined): BalancedTarget | null {
    const n = this.#targets.length;
    let best: BalancedTarget | null = null;
    let bestIndex = 0;
    for (let step = 0; step < n; step++) {
      const i = (this.#start + step) % n;
      const target = this.#targets[i]!;
      if (!isPickable(target, exclude)) continue;
      // active/weight < best.active/best.weight, cross-multiplied to stay in integers.
      if (best === null || target.active * best.weight < best.active * target.weight) {
        best = target;
        bestIndex = i;
      }
    }
    if (best !== null) this.#start = (bestIndex + 1) % n;
    return best;
  }
}

/**
 * Least connections, weight-aware: fewest `active / weight`, ties taken in turn.
 * @example const balancer = leastConnections(targets, { hashOn: null });
 */
export const leastConnections: BalancerFactory = (targets) => new LeastConnections(targets);
