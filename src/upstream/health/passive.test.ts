import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import type { PassiveHealthConfig } from '../../config/types.js';
import { PassiveHealth } from './passive.js';

const config: PassiveHealthConfig = { failures: 3, ejectForMs: 1000, maxEjectForMs: 5000, onStatuses: [502, 503] };
const trackers: PassiveHealth[] = [];

/** A tracker on a fake clock, recording every onChange. */
function healthAt(overrides: Partial<PassiveHealthConfig> = {}) {
  const clock = { now: 0 };
  const changes: boolean[] = [];
  const health = new PassiveHealth({ ...config, ...overrides }, (e) => changes.push(e), () => clock.now);
  trackers.push(health);
  return { health, clock, changes };
}

function failTimes(health: PassiveHealth, times: number): void {
  for (let i = 0; i < times; i++) health.recordFailure();
}

/** How long the ejection that starts at `clock.now` lasts, found by stepping the fake clock. */
function ejectionLength(health: PassiveHealth, clock: { now: number }): number {
  const start = clock.now;
  assert.ok(health.ejected);
  while (health.ejected) clock.now += 100;
  return clock.now - start;
}

afterEach(() => {
  for (const t of trackers.splice(0)) t.close();
});

describe('PassiveHealth', () => {
  it('ejects after `failures` consecutive failures', () => {
    const { health, changes } = healthAt();
    failTimes(health, 2);
    assert.equal(health.ejected, false);
    health.recordFailure();
    assert.equal(health.ejected, true);
    assert.deepEqual(changes, [true]);
  });

  it('starts counting again after a success', () => {
    const { health } = healthAt();
    failTimes(health, 2);
    health.recordSuccess();
    failTimes(health, 2);
    assert.equal(health.ejected, false);
  });

  it('counts statuses listed in onStatuses as failures and any other status as success', () => {
    const { health } = healthAt();
    health.recordStatus(502);
    health.recordStatus(503);
    health.recordStatus(404);
    health.recordStatus(503);
    health.recordStatus(502);
    assert.equal(health.ejected, false, 'the 404 reset the count');
    health.recordStatus(503);
    assert.equal(health.ejected, true);
  });

  it('ejects for ejectForMs', () => {
    const { health, clock } = healthAt();
    failTimes(health, 3);
    clock.now = 999;
    assert.equal(health.ejected, true);
    clock.now = 1000;
    assert.equal(health.ejected, false);
  });

  it('doubles each ejection that follows another without a success, up to maxEjectForMs', () => {
    const { health, clock } = healthAt();
    const lengths: number[] = [];
    for (let i = 0; i < 4; i++) {
      failTimes(health, 3);
      lengths.push(ejectionLength(health, clock));
    }
    assert.deepEqual(lengths, [1000, 2000, 4000, 5000]);
    health.recordSuccess();
    failTimes(health, 3);
    assert.equal(ejectionLength(health, clock), 1000, 'a success resets the period');
  });

  it('ignores outcomes recorded while ejected', () => {
    const { health, clock, changes } = healthAt();
    failTimes(health, 3);
    failTimes(health, 10);
    health.recordSuccess();
    clock.now = 1000;
    assert.equal(health.ejected, false);
    failTimes(health, 2);
    assert.equal(health.ejected, false, 'needs a full run of failures again');
    health.recordFailure();
    assert.equal(ejectionLength(health, clock), 2000, 'the success while ejected did not reset the period');
    assert.deepEqual(changes, [true, true]);
  });

  it('reports the return by timer, with no request needed', async () => {
    const changes: boolean[] = [];
    let returned!: () => void;
    const back = new Promise<void>((resolve) => (returned = resolve));
    const health: PassiveHealth = new PassiveHealth({ ...config, ejectForMs: 20 }, (ejected) => {
      if (!ejected) assert.equal(health.ejected, false, 'the getter agrees inside the callback');
      changes.push(ejected);
      if (!ejected) returned();
    });
    trackers.push(health);
    failTimes(health, 3);
    // The return timer is unref'd; this ref'd deadline keeps the test alive while waiting.
    const deadline = setTimeout(() => assert.fail('no return notification'), 2000);
    await back;
    clearTimeout(deadline);
    assert.deepEqual(changes, [true, false]);
    assert.equal(health.ejected, false);
  });

  it('close() stops the return timer', async () => {
    const { health, changes } = healthAt({ ejectForMs: 10 });
    failTimes(health, 3);
    health.close();
    await sleep(40);
    assert.deepEqual(changes, [true]);
  });
});
