import type { Redis } from 'ioredis';
import { calendarPeriod, KIND_CODES, type CounterPolicy, type HitResult } from './algorithms.js';
import type { Counters } from './counters.js';
import { RedisConnection } from '../redis/connection.js';

/**
 * The counting rules of `algorithms.ts` in one Lua script, so a hit is one atomic round trip
 * shared by every node. The state is a hash {a, b, c} per key with a TTL; integer arithmetic as
 * in the TypeScript version (Lua numbers are doubles; every value stays far below 2^53).
 * Calendar periods are computed by the caller (Lua has no calendar) and passed in.
 */
const SCRIPT = `
local kind = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local w = tonumber(ARGV[4])
local burst = tonumber(ARGV[5])
local now = tonumber(ARGV[6])
local st = redis.call('HMGET', KEYS[1], 'a', 'b', 'c')
local a = tonumber(st[1])
local b = tonumber(st[2]) or 0
local c = tonumber(st[3]) or 0
local allowed, remaining, reset, retry, ttl
if kind == 1 then
  local start = now - (now % w)
  if a ~= nil and a > start then start = a end
  if a == nil then b = 0; c = 0
  elseif a == start then
  elseif a + w == start then c = b; b = 0
  else b = 0; c = 0 end
  local e = now - start
  if e < 0 then e = 0 end
  local used = c * (w - e) + b * w
  allowed = used + cost * w <= limit * w
  if allowed then b = b + cost; used = used + cost * w end
  reset = start + w - now
  retry = 0
  if not allowed then
    if cost > limit then retry = reset + w
    elseif b + cost <= limit and c > 0 then retry = math.max(1, math.ceil(w - ((limit - b - cost) * w) / c) - e)
    else
      retry = reset
      if b > 0 then retry = reset + math.max(0, math.ceil(w - ((limit - cost) * w) / b)) end
    end
  end
  remaining = math.max(0, math.floor((limit * w - used) / w))
  redis.call('HSET', KEYS[1], 'a', string.format('%.0f', start), 'b', string.format('%.0f', b), 'c', string.format('%.0f', c))
  ttl = start + 2 * w - now
elseif kind == 2 then
  local cap = burst * w
  if a == nil then a = now; b = cap end
  if now > a then b = math.min(cap, b + (now - a) * limit); a = now end
  allowed = b >= cost * w
  if allowed then b = b - cost * w end
  reset = math.ceil((cap - b) / limit)
  remaining = math.floor(b / w)
  retry = 0
  if not allowed then
    if cost > burst then retry = reset + w else retry = math.ceil((cost * w - b) / limit) end
  end
  redis.call('HSET', KEYS[1], 'a', string.format('%.0f', a), 'b', string.format('%.0f', b))
  ttl = reset + 1000
else
  local pstart = tonumber(ARGV[7])
  local pend = tonumber(ARGV[8])
  if a == nil or a < pstart then a = pstart; b = 0 end
  allowed = b + cost <= limit
  if allowed then b = b + cost end
  remaining = math.max(0, limit - b)
  reset = pend - now
  retry = 0
  if not allowed then retry = reset end
  redis.call('HSET', KEYS[1], 'a', string.format('%.0f', a), 'b', string.format('%.0f', b))
  ttl = pend + 60000 - now
end
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
if allowed then allowed = 1 else allowed = 0 end
return { allowed, remaining, reset, retry }
`;

type RateLimitHit = (key: string, kind: number, cost: number, limit: number, w: number, burst: number, now: number, start: number, end: number) => Promise<[number, number, number, number]>;

export interface RedisCountersOptions {
  url: string;
  /** Prepended to every key (e.g. `weir:rl:`). */
  prefix: string;
  /** A command slower than this fails (ms). */
  timeoutMs: number;
}

/**
 * Counters in Redis, exact across every node that shares it; the connection's behaviour (no
 * queueing while disconnected, reconnects, `up`) is `RedisConnection`'s.
 */
export class RedisCounters implements Counters {
  readonly client: Redis;
  private readonly connection: RedisConnection;
  private readonly run: RateLimitHit;

  constructor(private readonly options: RedisCountersOptions, onChange: (up: boolean) => void = () => {}) {
    this.connection = new RedisConnection(options.url, options.timeoutMs, onChange);
    this.client = this.connection.client;
    this.client.defineCommand('weirRateLimitHit', { numberOfKeys: 1, lua: SCRIPT });
    this.run = (this.client as unknown as { weirRateLimitHit: RateLimitHit }).weirRateLimitHit.bind(this.client);
  }

  get up(): boolean {
    return this.connection.up;
  }

  /** Resolves once the connection is ready (or rejects after `ms`). */
  waitReady(ms = 5_000): Promise<void> {
    return this.connection.waitReady(ms);
  }

  async hit(key: string, cost: number, policy: CounterPolicy, now: number): Promise<HitResult> {
    let start = 0;
    let end = 0;
    if (policy.kind === 'day' || policy.kind === 'month') ({ start, end } = calendarPeriod(policy.kind, now));
    const r = await this.run(this.options.prefix + key, KIND_CODES[policy.kind], cost, policy.limit, policy.windowMs, policy.burst, now, start, end);
    return { allowed: r[0] === 1, remaining: r[1], resetMs: r[2], retryAfterMs: r[3] };
  }

  close(): Promise<void> {
    return this.connection.close();
  }
}

