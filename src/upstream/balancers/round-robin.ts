import type { Balancer, BalanceContext, BalancedTarget, BalancerFactory } from './balancer.js';
import { isPickable, pickPreferringUntried, weighted, type TargetChooser } from './pickable.js';

/** Cycles through targets in order, skipping any that cannot take the request. */
class RoundRobin implements Balancer, TargetChooser {
  readonly algorithm = 'round-robin';
  readonly #targets: BalancedTarget[];
  #next = 0;

  constructor(targets: readonly BalancedTarget[]) {
    this.#targets = weighted(targets);
  }

  pick(_ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): BalancedTarget | null {
    return pickPreferringUntried(this, exclude);
  }

  choose(exclude: ReadonlySet<BalancedTarget> | undefined): BalancedTarget | null {
    const n = this.#targets.length;
    for (let step = 0; step < n; step++) {
      const i = (this.#next + step) % n;
      const target = this.#targets[i]!;
      if (isPickable(target, exclude)) {
        this.#next = (i + 1) % n;
        return target;
      }
    }
    return null;
  }
}

/**
 * Round robin: each available target in turn; weights other than 0 are ignored.
 * @example const balancer = roundRobin(targets, { hashOn: null });
 */
export const roundRobin: BalancerFactory = (targets) => new RoundRobin(targets);
