import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import type { BreakerConfig } from '../config/types.js';
import { CircuitBreaker, type BreakerState } from './breaker.js';

const config: BreakerConfig = { failureThreshold: 3, openForMs: 1000, halfOpenRequests: 2 };
const breakers: CircuitBreaker[] = [];

/** A breaker on a fake clock, recording every state change. */
function breakerAt(overrides: Partial<BreakerConfig> = {}) {
  const clock = { now: 0 };
  const changes: BreakerState[] = [];
  const breaker = new CircuitBreaker({ ...config, ...overrides }, (s) => changes.push(s), () => clock.now);
  breakers.push(breaker);
  return { breaker, clock, changes };
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) {
    assert.ok(breaker.tryAcquire());
    breaker.onFailure();
  }
}

afterEach(() => {
  for (const b of breakers.splice(0)) b.close();
});

describe('CircuitBreaker', () => {
  it('starts closed and lets requests through', () => {
    const { breaker, changes } = breakerAt();
    assert.equal(breaker.state, 'closed');
    assert.equal(breaker.isOpen(), false);
    assert.ok(breaker.tryAcquire());
    breaker.onSuccess();
    assert.deepEqual(changes, []);
  });

  it('opens after failureThreshold consecutive failures and then refuses requests', () => {
    const { breaker, changes } = breakerAt();
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    fail(breaker, 1);
    assert.equal(breaker.state, 'open');
    assert.ok(breaker.isOpen());
    assert.equal(breaker.tryAcquire(), false);
    assert.deepEqual(changes, ['open']);
  });

  it('starts counting again after a success', () => {
    const { breaker } = breakerAt();
    fail(breaker, 2);
    breaker.onSuccess();
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed');
    fail(breaker, 1);
    assert.equal(breaker.state, 'open');
  });

  it('goes half-open on the first request once openForMs has passed', () => {
    const { breaker, clock, changes } = breakerAt();
    fail(breaker, 3);
    clock.now = 999;
    assert.equal(breaker.tryAcquire(), false);
    clock.now = 1000;
    assert.equal(breaker.tryAcquire(), true);
    assert.equal(breaker.state, 'half-open');
    assert.deepEqual(changes, ['open', 'half-open']);
  });

  it('lets at most halfOpenRequests trials run at once; release() frees a slot', () => {
    const { breaker, clock } = breakerAt();
    fail(breaker, 3);
    clock.now = 1000;
    assert.ok(breaker.tryAcquire());
    assert.ok(breaker.tryAcquire());
    assert.equal(breaker.tryAcquire(), false);
    breaker.release();
    assert.ok(breaker.tryAcquire());
    assert.equal(breaker.tryAcquire(), false);
    assert.equal(breaker.state, 'half-open');
  });

  it('closes once every trial has succeeded', () => {
    const { breaker, clock, changes } = breakerAt();
    fail(breaker, 3);
    clock.now = 1000;
    assert.ok(breaker.tryAcquire());
    assert.ok(breaker.tryAcquire());
    breaker.onSuccess();
    assert.equal(breaker.state, 'half-open', 'one success of two is not enough');
    breaker.onSuccess();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(changes, ['open', 'half-open', 'closed']);
    fail(breaker, 2);
    assert.equal(breaker.state, 'closed', 'failure count starts from zero after closing');
  });

  it('reopens on any failed trial, for a fresh openForMs', () => {
    const { breaker, clock, changes } = breakerAt();
    fail(breaker, 3);
    clock.now = 1000;
    assert.ok(breaker.tryAcquire());
    assert.ok(breaker.tryAcquire());
    breaker.onSuccess();
    breaker.onFailure();
    assert.equal(breaker.state, 'open');
    clock.now = 1999;
    assert.equal(breaker.tryAcquire(), false);
    clock.now = 2000;
    assert.ok(breaker.tryAcquire());
    assert.deepEqual(changes, ['open', 'half-open', 'open', 'half-open']);
  });

  it('ignores late outcomes of requests sent before it opened', () => {
    const { breaker } = breakerAt();
    fail(breaker, 3);
    breaker.onSuccess();
    breaker.onFailure();
    assert.equal(breaker.state, 'open');
  });

  it('turns half-open by itself after openForMs and says so, with no request arriving', async () => {
    const changes: BreakerState[] = [];
    let halfOpened!: () => void;
    const halfOpen = new Promise<void>((resolve) => (halfOpened = resolve));
    const breaker = new CircuitBreaker({ ...config, openForMs: 20 }, (s) => {
      changes.push(s);
      if (s === 'half-open') halfOpened();
    });
    breakers.push(breaker);
    fail(breaker, 3);
    // The breaker's timer is unref'd; this ref'd deadline keeps the test alive while waiting.
    const deadline = setTimeout(() => assert.fail('no half-open notification'), 2000);
    await halfOpen;
    clearTimeout(deadline);
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.isOpen(), false);
    assert.ok(breaker.tryAcquire());
    assert.deepEqual(changes, ['open', 'half-open']);
  });

  it('close() stops the timer', async () => {
    const { breaker, changes } = breakerAt({ openForMs: 10 });
    fail(breaker, 3);
    breaker.close();
    await sleep(40);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(changes, ['open']);
  });
});
