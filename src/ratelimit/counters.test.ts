import { counterConformance } from './counters.conformance.js';
import { MemoryCounters } from './counters.js';
import { IpcCounters, applyHits } from './ipc.js';
import { RedisCounters } from './redis.js';
import { randomUUID } from 'node:crypto';

counterConformance('memory', async () => new MemoryCounters());

// The worker's side and the primary's, with the IPC channel replaced by a serialising loop-back.
counterConformance('memory over IPC', async () => {
  const primary = new MemoryCounters();
  const worker: IpcCounters = new IpcCounters((hits) => {
    const wire = JSON.parse(JSON.stringify(hits)) as typeof hits;
    setImmediate(() => worker.receive(JSON.parse(JSON.stringify(applyHits(primary, wire)))));
    return true;
  });
  return worker;
});

// Real Redis at 127.0.0.1:6379 (REDIS_URL to change), keys under a prefix of their own.
const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
// The calendar tests' keys live until their (future) periods end, so every key is removed after.
const prefixes = new WeakMap<object, string>();
counterConformance(
  'redis',
  async () => {
    const prefix = `weir-test:${randomUUID()}:`;
    const counters = new RedisCounters({ url, prefix, timeoutMs: 1000 });
    prefixes.set(counters, prefix);
    await counters.waitReady();
    return counters;
  },
  async (c) => {
    const redis = c as RedisCounters;
    const keys = await redis.client.keys(`${prefixes.get(redis)!}*`);
    if (keys.length > 0) await redis.client.del(...keys);
    await redis.close();
  },
);
