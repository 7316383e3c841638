import { Type, type Static } from '@sinclair/typebox';
import type { ErrorCode } from '../../../errors.js';
import { durationMs } from '../../../config/units.js';
import { calendarPeriod, type CounterPolicy, type HitResult } from '../../../ratelimit/algorithms.js';
import { CounterStoreUnavailable, rateLimits } from '../../../ratelimit/runtime.js';
import { metrics } from '../../../observability/metrics.js';
import { respondProblem, type Plugin, type PluginDefinition, type RequestContext, type ResponseInfo } from '../../pipeline/plugin.js';

const Window = Type.Union(
  [
    Type.Integer({ minimum: 1 }),
    Type.String({ pattern: '^(?:[0-9]+(?:\\.[0-9]+)?(?:ms|s|m|h)|day|month)$' }),
  ],
  { description: 'The window: milliseconds as a number, or "500ms", "1s", "1m", "1h"; or "day" / "month" for a calendar quota (UTC: resets at midnight / on the first of the month).' },
);
const By = Type.String({
  pattern: "^(?:consumer|team|api|route|ip|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$",
  description: 'consumer, team, api, route, ip, or header:<name>.',
});
const Policy = Type.Object(
  {
    name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'Names the policy in the RateLimit headers (default "default" for the first, "p2", "p3"… after).' })),
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Requests admitted per window (token bucket: refilled per window).' }),
    window: Window,
    algorithm: Type.Optional(Type.Union([Type.Literal('sliding-window'), Type.Literal('token-bucket')], { description: 'Default sliding-window; not for day/month quotas.' })),
    burst: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Token bucket capacity (default: limit); token-bucket only.' })),
    by: Type.Optional(Type.Array(By, { minItems: 1, maxItems: 6, uniqueItems: true, description: 'What is counted separately (default [consumer]).' })),
  },
  { additionalProperties: false },
);
const Schema = Type.Object({ policies: Type.Array(Policy, { minItems: 1, maxItems: 8 }) }, { additionalProperties: false });
type Config = Static<typeof Schema>;
type PolicyConfig = Static<typeof Policy>;

/** What a request is counted by: one part of the key. */
type Part = (ctx: RequestContext) => string;

interface Compiled {
  readonly name: string;
  readonly counter: CounterPolicy;
  /** `"name";q=…;w=…`, or null when it depends on the month. */
  readonly header: string | null;
  /** Key prefix: policy name and shape, so a changed policy starts afresh. */
  readonly prefix: string;
  readonly parts: readonly Part[];
}

interface Consumer {
  id?: unknown;
  team?: unknown;
}

const STATE_KEY = 'rate-limit';

/**
 * `rate-limit`: admits at most `limit` requests per `window` for each value of `by` (consumer,
 * team, api, route, client IP, a header), with a sliding window, a token bucket or a calendar
 * quota; the counters are the node's (exact across its workers) or Redis (exact across nodes),
 * see `global.rateLimits`. Every answer carries `RateLimit-Policy` and `RateLimit`; a refusal is
 * 429 `WEIR_RATE_LIMITED` with `Retry-After`.
 *
 * @example
 * plugins:
 *   - name: rate-limit
 *     config:
 *       policies:
 *         - { limit: 100, window: 1m, by: [consumer] }
 *         - { name: daily, limit: 10000, window: day, by: [team] }
 */
export const rateLimitPlugin: PluginDefinition<Config> = {
  name: 'rate-limit',
  stage: 'rate-limit',
  schema: Schema,
  check(config) {
    const problems: Array<{ path: string; message: string }> = [];
    const names = config.policies.map((q, j) => q.name ?? (j === 0 ? 'default' : `p${j + 1}`));
    config.policies.forEach((p, i) => {
      const calendar = p.window === 'day' || p.window === 'month';
      if (calendar && p.algorithm !== undefined) problems.push({ path: `/policies/${i}/algorithm`, message: `a ${p.window} quota counts requests per calendar ${p.window}; it takes no algorithm` });
      else if (p.burst !== undefined && p.algorithm !== 'token-bucket') problems.push({ path: `/policies/${i}/burst`, message: 'burst is the capacity of a token bucket: set algorithm: token-bucket, or remove burst' });
      if (names.indexOf(names[i]!) !== i) problems.push({ path: `/policies/${i}/name`, message: `another policy is already named "${names[i]!}"` });
    });
    return problems;
  },
  create(config) {
    const policies = config.policies.map(compilePolicy);
    const n = policies.length;
    const onRequest = (ctx: RequestContext): void | Promise<void> => {
      const now = Date.now();
      const results = new Array<HitResult | Promise<HitResult>>(n);
      let async = false;
      for (let i = 0; i < n; i++) {
        const p = policies[i]!;
        let key = p.prefix;
        for (let j = 0; j < p.parts.length; j++) key += '|' + p.parts[j]!(ctx);
        const r = rateLimits.hit(key, 1, p.counter, now);
        if (r instanceof Promise) async = true;
        results[i] = r;
      }
      if (!async) return decide(ctx, policies, results as HitResult[], now);
      return Promise.all(results).then(
        (all) => decide(ctx, policies, all, now),
        (err: unknown) => {
          if (!(err instanceof CounterStoreUnavailable)) throw err;
          refuse(ctx, 'WEIR_RATE_LIMIT_UNAVAILABLE', 'the rate-limit store cannot be reached; try again shortly', { 'retry-after': '1' });
        },
      );
    };
    return {
      name: 'rate-limit',
      stage: 'rate-limit',
      onRequest,
      onResponse(ctx: RequestContext, response: ResponseInfo) {
        const headers = ctx.state.get(STATE_KEY) as [string, string] | undefined;
        if (headers === undefined) return;
        response.headers.set('ratelimit-policy', headers[0]);
        response.headers.set('ratelimit', headers[1]);
      },
    } satisfies Plugin;
  },
};

function decide(ctx: RequestContext, policies: readonly Compiled[], results: readonly HitResult[], now: number): void {
  let policyHeader = '';
  let limitHeader = '';
  let retryAfterMs = 0;
  let refusedBy = '';
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!;
    const r = results[i]!;
    if (i > 0) {
      policyHeader += ', ';
      limitHeader += ', ';
    }
    policyHeader += p.header ?? monthHeader(p, now);
    limitHeader += `"${p.name}";r=${r.remaining};t=${Math.ceil(r.resetMs / 1000)}`;
    if (!r.allowed && r.retryAfterMs >= retryAfterMs) {
      retryAfterMs = r.retryAfterMs;
      refusedBy = p.name;
    }
  }
  if (refusedBy === '') {
    ctx.state.set(STATE_KEY, [policyHeader, limitHeader]);
    return;
  }
  metrics.rateLimitRefused(ctx.route.name, refusedBy);
  refuse(ctx, 'WEIR_RATE_LIMITED', `policy "${refusedBy}" allows no more requests now`, {
    'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))),
    'ratelimit-policy': policyHeader,
    ratelimit: limitHeader,
  });
}

function refuse(ctx: RequestContext, code: ErrorCode, detail: string, headers: Record<string, string>): void {
  respondProblem(ctx, code, detail, headers);
}

function compilePolicy(raw: PolicyConfig, index: number): Compiled {
  const name = raw.name ?? (index === 0 ? 'default' : `p${index + 1}`);
  let counter: CounterPolicy;
  if (raw.window === 'day' || raw.window === 'month') {
    counter = { kind: raw.window, limit: raw.limit, windowMs: raw.window === 'day' ? 86_400_000 : 0, burst: raw.limit };
  } else {
    const windowMs = Math.max(1, durationMs(raw.window));
    const bucket = raw.algorithm === 'token-bucket';
    counter = { kind: bucket ? 'token-bucket' : 'sliding-window', limit: raw.limit, windowMs, burst: bucket ? raw.burst ?? raw.limit : raw.limit };
  }
  const by = raw.by ?? ['consumer'];
  const header = counter.kind === 'month' ? null : policyHeaderOf(name, counter.kind === 'token-bucket' ? counter.burst : counter.limit, counter.windowMs);
  const shape = counter.kind === 'token-bucket' ? `tb${counter.limit}/${counter.windowMs}/${counter.burst}` : counter.kind === 'sliding-window' ? `sw${counter.limit}/${counter.windowMs}` : `${counter.kind}${counter.limit}`;
  return { name, counter, header, prefix: `${name}:${shape}:${by.join(',')}`, parts: by.map(partOf) };
}

function policyHeaderOf(name: string, quota: number, windowMs: number): string {
  return `"${name}";q=${quota};w=${Math.max(1, Math.ceil(windowMs / 1000))}`;
}

function monthHeader(p: Compiled, now: number): string {
  const { start, end } = calendarPeriod('month', now);
  return policyHeaderOf(p.name, p.counter.limit, end - start);
}

function consumerOf(ctx: RequestContext): Consumer | undefined {
  const c = ctx.state.get('consumer');
  return typeof c === 'object' && c !== null ? (c as Consumer) : undefined;
}

function partOf(by: string): Part {
  switch (by) {
    case 'ip':
      return (ctx) => ctx.clientIp;
    case 'route':
      return (ctx) => ctx.route.name;
    case 'api':
      return (ctx) => {
        const name = ctx.route.name;
        const colon = name.indexOf(':');
        return colon === -1 ? name : name.slice(0, colon);
      };
    case 'consumer':
      return (ctx) => {
        const id = consumerOf(ctx)?.id;
        return id === undefined || id === null ? `ip=${ctx.clientIp}` : `c=${String(id)}`;
      };
    case 'team':
      return (ctx) => {
        const team = consumerOf(ctx)?.team;
        return team === undefined || team === null ? `ip=${ctx.clientIp}` : `t=${String(team)}`;
      };
    default: {
      const header = by.slice('header:'.length).toLowerCase();
      return (ctx) => {
        const v = ctx.headers[header];
        return v === undefined ? '' : encodeURIComponent(Array.isArray(v) ? v.join(',') : v);
      };
    }
  }
}
