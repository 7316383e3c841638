import type { BalancedTarget } from './balancer.js';

/**
 * Whether `target` may take this request: up and not already tried by it. Weight 0 is not
 * checked here: balancers drop those targets once, with `weighted()`.
 */
export function isPickable(target: BalancedTarget, exclude: ReadonlySet<BalancedTarget> | undefined): boolean {
  return target.available && (exclude === undefined || !exclude.has(target));
}

/** One step of an algorithm: the next pickable target given `exclude`, or null. */
export interface TargetChooser {
  choose(exclude: ReadonlySet<BalancedTarget> | undefined): BalancedTarget | null;
}

/**
 * Returns a target the request has not tried yet, or — when every untried target is down — an
 * available one it has tried: a retry against the same healthy target beats failing outright
 * (a single-target service must still be able to retry). Null only when nothing is available.
 * Takes the chooser as an object, not a callback, so no closure is allocated per pick.
 */
export function pickPreferringUntried(
  chooser: TargetChooser,
  exclude: ReadonlySet<BalancedTarget> | undefined,
): BalancedTarget | null {
  const untried = chooser.choose(exclude);
  if (untried !== null || exclude === undefined || exclude.size === 0) return untried;
  return chooser.choose(undefined);
}

/** Targets that can ever be picked; weight is fixed for a balancer's lifetime. */
export function weighted(targets: readonly BalancedTarget[]): BalancedTarget[] {
  return targets.filter((t) => t.weight > 0);
}
