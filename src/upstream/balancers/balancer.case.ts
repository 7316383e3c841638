/**
 * The behaviour every balancer shares, run by each algorithm's test file so a new algorithm
 * gets the same checks by adding one line.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BalancingAlgorithm } from '../../config/types.js';
import type { Balancer, BalanceContext, BalancedTarget, BalancerFactory } from './balancer.js';
import { createBalancer } from './index.js';

export function target(id: string, weight = 1): BalancedTarget {
  return { id, weight, active: 0, available: true };
}

/** A request context hashing on `key` ('' means the request has nothing to hash). */
export function keyed(key: string): BalanceContext {
  return { hashKey: () => key };
}

/** Ids picked by `count` requests with distinct hash keys (null when none was picked). */
export function pickIds(
  balancer: Balancer,
  count: number,
  exclude?: ReadonlySet<BalancedTarget>,
  keyOf: (i: number) => string = (i) => `user-${i}`,
): (string | null)[] {
  const ids: (string | null)[] = [];
  for (let i = 0; i < count; i++) ids.push(balancer.pick(keyed(keyOf(i)), exclude)?.id ?? null);
  return ids;
}

/** Runs the shared cases against `factory`, which builds balancers of `algorithm`. */
export function runBalancerCases(algorithm: BalancingAlgorithm, factory: BalancerFactory): void {
  const build = (targets: BalancedTarget[]): Balancer => factory(targets, { hashOn: { header: 'x-user' } });

  describe(`${algorithm}: shared balancer behaviour`, () => {
    it('reports its algorithm, and is what createBalancer builds for it', () => {
      assert.equal(build([target('a')]).algorithm, algorithm);
      assert.equal(createBalancer(algorithm, [target('a')], { hashOn: null }).algorithm, algorithm);
    });

    it('picks only available targets, and picks a target again once it is back', () => {
      const [a, b, c] = [target('a'), target('b'), target('c')];
      const balancer = build([a, b, c]);
      b.available = false;
      const picked = new Set(pickIds(balancer, 90));
      assert.deepEqual([...picked].sort(), ['a', 'c']);
      b.available = true;
      assert.ok(pickIds(balancer, 90).includes('b'));
    });

    it('returns null when no target is available', () => {
      const targets = [target('a'), target('b')];
      const balancer = build(targets);
      for (const t of targets) t.available = false;
      assert.deepEqual(new Set(pickIds(balancer, 20)), new Set([null]));
      assert.equal(balancer.pick(keyed(''), undefined), null);
      assert.equal(build([]).pick(keyed('k')), null);
    });

    it('honours exclude while another target is available', () => {
      const [a, b, c] = [target('a'), target('b'), target('c')];
      const balancer = build([a, b, c]);
      assert.deepEqual(new Set(pickIds(balancer, 60, new Set([a]))), new Set(['b', 'c']));
      assert.deepEqual(new Set(pickIds(balancer, 60, new Set([a, b]))), new Set(['c']));
    });

    it('falls back to an excluded target only when no untried target is available', () => {
      const a = target('a');
      assert.equal(build([a]).pick(keyed('k'), new Set([a]))?.id, 'a', 'single target can be retried');

      const [x, y] = [target('x'), target('y')];
      const balancer = build([x, y]);
      y.available = false;
      assert.equal(balancer.pick(keyed('k'), new Set([x]))?.id, 'x');
      x.available = false;
      assert.equal(balancer.pick(keyed('k'), new Set([x])), null, 'an unavailable excluded target is never picked');
    });

    it('never picks a target of weight 0', () => {
      const [zero, b, c] = [target('zero', 0), target('b'), target('c')];
      const balancer = build([zero, b, c]);
      assert.ok(!pickIds(balancer, 200).includes('zero'));
      assert.ok(!pickIds(balancer, 200, undefined, () => '').includes('zero'));
      assert.ok(['b', 'c'].includes(balancer.pick(keyed('k'), new Set([b, c]))?.id ?? ''), 'falls back to a weighted one');
      assert.equal(build([target('z1', 0), target('z2', 0)]).pick(keyed('k')), null);
    });

    it('spreads load over every available target', () => {
      const ids = ['a', 'b', 'c', 'd', 'e'];
      const balancer = build(ids.map((id, i) => target(id, i + 1)));
      assert.deepEqual(new Set(pickIds(balancer, 500)), new Set(ids));
      assert.deepEqual(new Set(pickIds(balancer, 500, undefined, () => '')), new Set(ids), 'also without a hash key');
    });
  });
}
