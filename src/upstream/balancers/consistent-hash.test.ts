import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyed, pickIds, runBalancerCases, target } from './balancer.case.js';
import { consistentHash } from './consistent-hash.js';

runBalancerCases('consistent-hash', consistentHash);

const KEYS = 3000;
const options = { hashOn: { header: 'x-user' } };

function shares(ids: (string | null)[]): Map<string | null, number> {
  const out = new Map<string | null, number>();
  for (const id of ids) out.set(id, (out.get(id) ?? 0) + 1 / ids.length);
  return out;
}

describe('consistent-hash', () => {
  it('sends the same key to the same target every time', () => {
    const balancer = consistentHash([target('a'), target('b'), target('c')], options);
    const first = pickIds(balancer, 100);
    assert.deepEqual(pickIds(balancer, 100), first);
    // A balancer built again from the same targets, in another order, agrees.
    assert.deepEqual(pickIds(consistentHash([target('c'), target('a'), target('b')], options), 100), first);
  });

  it('spreads keys roughly evenly', () => {
    const balancer = consistentHash([target('a'), target('b'), target('c')], options);
    for (const [id, share] of shares(pickIds(balancer, KEYS))) {
      assert.ok(share >= 0.2 && share <= 0.47, `${id} got ${(share * 100).toFixed(1)}%`);
    }
  });

  function assertOnlyRemovedKeysMove(before: (string | null)[], after: (string | null)[], removed: string): void {
    let moved = 0;
    for (let i = 0; i < before.length; i++) {
      if (before[i] === removed) {
        assert.notEqual(after[i], removed);
        moved++;
      } else {
        assert.equal(after[i], before[i], `key ${i} moved from ${before[i]}`);
      }
    }
    assert.ok(moved > 0);
  }

  it("moves only an unavailable target's keys, and they come back when it does", () => {
    const targets = [target('a'), target('b'), target('c')];
    const balancer = consistentHash(targets, options);
    const before = pickIds(balancer, KEYS);
    targets[1]!.available = false;
    assertOnlyRemovedKeysMove(before, pickIds(balancer, KEYS), 'b');
    targets[1]!.available = true;
    assert.deepEqual(pickIds(balancer, KEYS), before);
  });

  it("moves only a removed target's keys when the ring is rebuilt without it", () => {
    const before = pickIds(consistentHash([target('a'), target('b'), target('c')], options), KEYS);
    const after = pickIds(consistentHash([target('a'), target('c')], options), KEYS);
    assertOnlyRemovedKeysMove(before, after, 'b');
  });

  it('moves an excluded key to the next target on the ring, not anywhere', () => {
    const targets = [target('a'), target('b'), target('c')];
    const balancer = consistentHash(targets, options);
    for (let i = 0; i < 200; i++) {
      const owner = balancer.pick(keyed(`user-${i}`))!;
      const retry = balancer.pick(keyed(`user-${i}`), new Set([owner]));
      owner.available = false;
      assert.equal(retry, balancer.pick(keyed(`user-${i}`)), 'retry goes where the key would go with its owner down');
      owner.available = true;
      assert.notEqual(retry, owner);
    }
  });

  it('gives a target of double weight about double the share', () => {
    const balancer = consistentHash([target('a', 2), target('b'), target('c')], options);
    const got = shares(pickIds(balancer, KEYS));
    const a = got.get('a') ?? 0;
    assert.ok(a >= 0.4 && a <= 0.6, `a got ${(a * 100).toFixed(1)}%, expected about 50%`);
  });

  it('spreads requests without a hash key round robin', () => {
    const balancer = consistentHash([target('a'), target('b'), target('c')], options);
    assert.deepEqual(pickIds(balancer, 6, undefined, () => ''), ['a', 'b', 'c', 'a', 'b', 'c']);
  });
});
