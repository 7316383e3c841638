import type { Balancer, BalanceContext, BalancedTarget, BalancerFactory } from './balancer.js';
import { isPickable, pickPreferringUntried, weighted, type TargetChooser } from './pickable.js';
import { roundRobin } from './round-robin.js';

/** Ring points per unit of weight: enough that 3 targets each get within a few % of a third. */
const VNODES_PER_WEIGHT = 160;

/**
 * 32-bit FNV-1a over UTF-16 code units, finished with murmur3's fmix32. FNV alone clusters
 * near-identical inputs ("a#1", "a#2"), which would bunch a target's ring points together;
 * the finaliser spreads them. Allocation-free, so it is fine per request.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * A hash ring: each target owns points derived from its id only, so adding, removing or
 * ejecting one target moves only the keys that land on its points. A key goes to the owner of
 * the first point at or after its hash; if that owner cannot take it, to the next owner on the
 * ring that can.
 */
class ConsistentHash implements Balancer, TargetChooser {
  readonly algorithm = 'consistent-hash';
  readonly #targets: BalancedTarget[];
  /** Sorted ring points, with the index into #targets that owns each one. */
  readonly #points: Uint32Array;
  readonly #owners: Uint32Array;
  /** Used when the request has nothing to hash on. */
  readonly #fallback: Balancer;
  /** Hash of the key being picked for; set by pick() so choose() needs no extra argument. */
  #keyHash = 0;

  constructor(targets: readonly BalancedTarget[]) {
    this.#targets = weighted(targets);
    const ring: { point: number; owner: number }[] = [];
    this.#targets.forEach((target, owner) => {
      const count = Math.max(1, Math.round(VNODES_PER_WEIGHT * target.weight));
      for (let v = 0; v < count; v++) ring.push({ point: hash32(`${target.id}#${v}`), owner });
    });
    // Ties (hash collisions) ordered by owner so the ring does not depend on target order.
    ring.sort((a, b) => a.point - b.point || compareIds(this.#targets[a.owner]!, this.#targets[b.owner]!));
    this.#points = Uint32Array.from(ring, (r) => r.point);
    this.#owners = Uint32Array.from(ring, (r) => r.owner);
    this.#fallback = roundRobin(this.#targets, { hashOn: null });
  }

  pick(ctx: BalanceContext, exclude?: ReadonlySet<BalancedTarget>): BalancedTarget | null {
    const key = ctx.hashKey();
    if (key === '') return this.#fallback.pick(ctx, exclude);
    this.#keyHash = hash32(key);
    return pickPreferringUntried(this, exclude);
  }

  choose(exclude: ReadonlySet<BalancedTarget> | undefined): BalancedTarget | null {
    const n = this.#points.length;
    const start = this.#firstPointAtOrAfter(this.#keyHash);
    // Walks the whole ring only when nothing is pickable; otherwise a few steps past the
    // points of unavailable targets.
    for (let step = 0; step < n; step++) {
      const target = this.#targets[this.#owners[(start + step) % n]!]!;
      if (isPickable(target, exclude)) return target;
    }
    return null;
  }

  /** Binary search; wraps to 0 past the last point. */
  #firstPointAtOrAfter(hash: number): number {
    let lo = 0;
    let hi = this.#points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.#points.length ? 0 : lo;
  }
}

function compareIds(a: BalancedTarget, b: BalancedTarget): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Consistent hashing on the request's hash key (header, cookie or client IP), with
 * ~160 virtual nodes per unit of weight; requests without a key are spread round robin.
 * @example const balancer = consistentHash(targets, { hashOn: { header: 'x-user-id' } });
 */
export const consistentHash: BalancerFactory = (targets) => new ConsistentHash(targets);
