import { test } from 'node:test';
import assert from 'node:assert/strict';
import { durationMs, sizeBytes } from './units.js';

test('durations: a number is milliseconds, strings take ms/s/m/h and decimals', () => {
  assert.equal(durationMs(250), 250);
  assert.equal(durationMs('250ms'), 250);
  assert.equal(durationMs('2s'), 2000);
  assert.equal(durationMs('1.5s'), 1500);
  assert.equal(durationMs('1m'), 60000);
  assert.equal(durationMs('0.5h'), 1800000);
  assert.equal(durationMs('0.4ms'), 0);
});

test('sizes: a number is bytes, units are multiples of 1024', () => {
  assert.equal(sizeBytes(1000), 1000);
  assert.equal(sizeBytes('512b'), 512);
  assert.equal(sizeBytes('16kb'), 16384);
  assert.equal(sizeBytes('10mb'), 10485760);
  assert.equal(sizeBytes('1gb'), 1073741824);
});

test('text the schema would have rejected throws instead of becoming NaN', () => {
  assert.throws(() => durationMs('5 seconds'), /not a duration: "5 seconds"/);
  assert.throws(() => sizeBytes('10MB'), /not a size: "10MB"/);
});
