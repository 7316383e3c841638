import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleCall } from './call-store.conformance.js';
import { BUCKET_COUNT, LATENCY_BUCKETS_MS } from './record.js';
import { rollupsOf, rowValues } from './store.js';

test('rollups sum a batch per minute and key: counts, errors (5xx or an error code), bytes, latency buckets', () => {
  const minute = Date.UTC(2026, 10, 22, 8, 0);
  const rows = [
    sampleCall({ id: 'a', at: minute + 1_000, status: 200, errorCode: null, durationMs: 3, bytesIn: 10, bytesOut: 100, consumer: 'ann' }),
    sampleCall({ id: 'b', at: minute + 59_999, status: 503, errorCode: null, durationMs: 700, bytesIn: 0, bytesOut: 20, consumer: 'ann' }),
    sampleCall({ id: 'c', at: minute + 2_000, status: 429, errorCode: 'WEIR_RATE_LIMITED', durationMs: 0.4, bytesIn: 0, bytesOut: 0, consumer: 'ann' }),
    sampleCall({ id: 'd', at: minute + 60_000, status: 201, errorCode: null, durationMs: 3, bytesIn: 1, bytesOut: 1, consumer: null }),
  ].map(rowValues);
  const byKey = new Map(rollupsOf(rows).map((r) => [`${r.minute - minute}/${r.consumer}/${r.statusClass}`, r]));
  assert.deepEqual([...byKey.keys()].sort(), ['0/ann/2', '0/ann/4', '0/ann/5', '60000//2']);
  const bucket = (ms: number) => LATENCY_BUCKETS_MS.findIndex((upper) => ms <= upper);
  const buckets = (...ms: number[]) => {
    const counts = new Array<number>(BUCKET_COUNT).fill(0);
    for (const m of ms) counts[bucket(m)]!++;
    return counts;
  };
  assert.deepEqual(pick(byKey.get('0/ann/2')!), { count: 1, errors: 0, bytesIn: 10, bytesOut: 100, latencySumMs: 3, buckets: buckets(3) });
  assert.deepEqual(pick(byKey.get('0/ann/5')!), { count: 1, errors: 1, bytesIn: 0, bytesOut: 20, latencySumMs: 700, buckets: buckets(700) });
  assert.deepEqual(pick(byKey.get('0/ann/4')!), { count: 1, errors: 1, bytesIn: 0, bytesOut: 0, latencySumMs: 0.4, buckets: buckets(0.4) });
  assert.equal(byKey.get('60000//2')!.count, 1);
});

const pick = ({ count, errors, bytesIn, bytesOut, latencySumMs, buckets }: ReturnType<typeof rollupsOf>[number]) => ({ count, errors, bytesIn, bytesOut, latencySumMs, buckets });
