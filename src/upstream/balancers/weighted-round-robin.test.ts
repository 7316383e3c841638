import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickIds, runBalancerCases, target } from './balancer.case.js';
import { weightedRoundRobin } from './weighted-round-robin.js';

runBalancerCases('weighted-round-robin', weightedRoundRobin);

function counts(ids: (string | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of ids) out[String(id)] = (out[String(id)] ?? 0) + 1;
  return out;
}

describe('weighted-round-robin', () => {
  it('interleaves picks smoothly: weights 5,1,1 give a a b a c a a', () => {
    const balancer = weightedRoundRobin([target('a', 5), target('b', 1), target('c', 1)], { hashOn: null });
    const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a'];
    assert.deepEqual(pickIds(balancer, 14), [...cycle, ...cycle]);
  });

  it('gives each target exactly its share of every full cycle', () => {
    const balancer = weightedRoundRobin([target('a', 3), target('b', 2), target('c', 1)], { hashOn: null });
    assert.deepEqual(counts(pickIds(balancer, 600)), { a: 300, b: 200, c: 100 });
  });

  it('shares out by the remaining weights while a target is unavailable', () => {
    const [a, b, c] = [target('a', 3), target('b', 2), target('c', 1)];
    const balancer = weightedRoundRobin([a, b, c], { hashOn: null });
    a.available = false;
    assert.deepEqual(counts(pickIds(balancer, 300)), { b: 200, c: 100 });
  });
});
