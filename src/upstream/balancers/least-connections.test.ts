import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyed, pickIds, runBalancerCases, target } from './balancer.case.js';
import { leastConnections } from './least-connections.js';

runBalancerCases('least-connections', leastConnections);

describe('least-connections', () => {
  it('prefers the idle target', () => {
    const [busy, idle, busier] = [target('busy'), target('idle'), target('busier')];
    busy.active = 3;
    busier.active = 5;
    const balancer = leastConnections([busy, idle, busier], { hashOn: null });
    assert.deepEqual(pickIds(balancer, 5), ['idle', 'idle', 'idle', 'idle', 'idle']);
  });

  it('sends each request to whichever target has fewest in flight as requests start', () => {
    const targets = [target('a'), target('b')];
    targets[0]!.active = 2;
    const balancer = leastConnections(targets, { hashOn: null });
    const picked: string[] = [];
    for (let i = 0; i < 4; i++) {
      const t = balancer.pick(keyed(''))!;
      t.active++;
      picked.push(t.id);
    }
    // b catches up with a's 2, then they alternate.
    assert.deepEqual(picked.slice(0, 2), ['b', 'b']);
    assert.deepEqual(new Set(picked.slice(2)), new Set(['a', 'b']));
  });

  it('compares in-flight requests per unit of weight', () => {
    const [heavy, light] = [target('heavy', 4), target('light', 1)];
    heavy.active = 3; // 0.75 per unit
    light.active = 1; // 1 per unit
    const balancer = leastConnections([light, heavy], { hashOn: null });
    assert.equal(balancer.pick(keyed(''))?.id, 'heavy');
  });

  it('takes tied targets in turn', () => {
    const balancer = leastConnections([target('a'), target('b'), target('c')], { hashOn: null });
    assert.deepEqual(pickIds(balancer, 6), ['a', 'b', 'c', 'a', 'b', 'c']);
  });
});
