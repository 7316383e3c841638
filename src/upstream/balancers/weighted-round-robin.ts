import type { Balancer, BalanceContext, BalancedTarget, BalancerFactory } from './balancer.js';
import { isPickable, pickPreferringUntried, weighted, type TargetChooser } from './pickable.js';

/**
 * nginx's smooth weighted round robin: every pick, each pickable target gains its weight, the
 * richest is chosen and pays back the total. Heavy targets are interleaved with light ones
 * (5,1,1 → a a b a c a a) instead of served in bursts, and each cycle is exact.
 */
class SmoothWeightedRoundRobin implements Balancer, TargetChooser {
  readonly algorithm = 'weighted-round-robin';
  readonly #targets: BalancedTarget[];
  /** Running credit per target, parallel to #targets. */
  readonly #current: Float64Array;

  constructor(targets: readonly BalancedTarget[]) {
    this.#targets = weighted(targets);
    this.#current = new Float64Array(this.#targets.length);
  }

  pick(_ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): BalancedTarget | null {
    return pickPreferringUntried(this, exclude);
  }

  choose(exclude: ReadonlySet<BalancedTarget> | undefined): BalancedTarget | null {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#targets.length; i++) {
      const target = this.#targets[i]!;
      if (!isPickable(target, exclude)) continue;
      const credit = this.#current[i]! + target.weight;
      this.#current[i] = credit;
      total += target.weight;
      if (best === -1 || credit > this.#current[best]!) best = i;
    }
    if (best === -1) return null;
    this.#current[best]! -= total;
    return this.#targets[best]!;
  }
}

/**
 * Weighted round robin, smooth (nginx-style): a target of weight 5 gets 5 of every 7 picks
 * next to two of weight 1, spread through the cycle.
 * @example const balancer = weightedRoundRobin(targets, { hashOn: null });
 */
export const weightedRoundRobin: BalancerFactory = (targets) => new SmoothWeightedRoundRobin(targets);
