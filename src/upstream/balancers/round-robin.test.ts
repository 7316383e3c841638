import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pickIds, runBalancerCases, target } from './balancer.case.js';
import { roundRobin } from './round-robin.js';

runBalancerCases('round-robin', roundRobin);

describe('round-robin', () => {
  it('takes targets in order, ignoring weights other than 0', () => {
    const balancer = roundRobin([target('a', 5), target('b'), target('c')], { hashOn: null });
    assert.deepEqual(pickIds(balancer, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('keeps the rotation going around an unavailable target', () => {
    const [a, b, c] = [target('a'), target('b'), target('c')];
    const balancer = roundRobin([a, b, c], { hashOn: null });
    b.available = false;
    assert.deepEqual(pickIds(balancer, 4), ['a', 'c', 'a', 'c']);
  });
});
