// What each plugin costs per request, in CPU microseconds, measured in-process: the plugins are
// built by the same registry the gateway uses and run against a request context shaped like the
// proxy's (client headers, the upstream header list, state), request hooks then response hooks.
// The figure is the CPU time (process.cpuUsage) per request minus that of a pipeline with no
// plugin, so it is the plugin's own cost on the request path. See bench/README.md.
//
//   npm run bench:plugins              # every case, ~1 s each
//   N=400000 npm run bench:plugins     # more requests per case (default 200000)
//   CASES=key-auth,cors npm run bench:plugins
//
// Cases that need Redis (rate-limit with Redis counters) use 127.0.0.1:6379 with a private key
// prefix and are skipped when it does not answer; their hits are sent 64 at a time, as many
// concurrent requests would, so the figure is CPU per request, not a round trip.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { createConnection } from 'node:net';
import type { PluginConfig, RouteConfig } from '../src/config/types.js';
import { HeaderList } from '../src/dataplane/http/header-list.js';
import { compilePipeline, runRequestHooks, type Pipeline } from '../src/dataplane/pipeline/pipeline.js';
import type { RequestContext, ResponseInfo } from '../src/dataplane/pipeline/plugin.js';
import { builtinPlugins } from '../src/dataplane/plugins/index.js';
import { silentLogger } from '../src/observability/logger.js';
import { rateLimits, type RateLimitSettings } from '../src/ratelimit/runtime.js';
import { signRequest } from '../test/support/signature.js';

const N = Number(process.env.N ?? 200_000);
const BATCH = 64;
const only = process.env.CASES?.split(',').map((s) => s.trim()).filter(Boolean);

const KEY = 'weir_bench_0123456789abcdef';
const sha = (s: string) => createHash('sha256').update(s).digest('base64url');
const consumer = { consumer: 'bench-app', team: 'bench', credential: 'bench-key', expiresAt: null, subscription: 'approved' };
const basicSalt = 'c2FsdA';
const JWT_SECRET = randomBytes(32).toString('hex');

/** A compact HS256 JWT (signed here with node:crypto, so the bench needs nothing else). */
function jwt(claims: Record<string, unknown>): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`;
}
const TOKEN = jwt({ iss: 'https://issuer.bench', sub: 'bench-app', exp: Math.floor(Date.now() / 1000) + 3600 });

interface Case {
  name: string;
  plugins: PluginConfig[];
  headers?: IncomingHttpHeaders;
  redis?: boolean;
  /** A POST with this JSON body (read through the context's readBody, as the proxy would). */
  body?: string;
  /** The upstream's response body (response hooks that ask for it get it through transformBody). */
  response?: string;
}

const ORDER = JSON.stringify({ customer: 'c-42', items: [{ sku: 'A-1', qty: 2 }, { sku: 'B-7', qty: 1 }], note: 'ring twice' });
const PROFILE = JSON.stringify({ id: 42, name: 'Ada', email: 'ada@example.com', phone: '+44 20 7946 0958', card: '4111 1111 1111 1111', orders: [1001, 1002, 1003] });
const HMAC_SECRET = 'weir_hs_bench-secret-0123456789abcdef';
const signed = signRequest({ method: 'POST', url: 'http://gateway.bench/products/42?page=2', keyId: 'hk-bench', secret: HMAC_SECRET, body: ORDER });

const CASES: Case[] = [
  { name: 'key-auth (API key + subscription)', plugins: [{ name: 'key-auth', config: { api: 'bench', keys: { [sha(KEY)]: consumer } } }], headers: { 'x-api-key': KEY } },
  {
    name: 'key-auth (HTTP Basic)',
    plugins: [{ name: 'key-auth', config: { api: 'bench', keys: {}, basic: { 'bench-app': { ...consumer, salt: basicSalt, hash: createHash('sha256').update(basicSalt).update('correct horse battery').digest('base64url') } } } }],
    headers: { authorization: `Basic ${Buffer.from('bench-app:correct horse battery').toString('base64')}` },
  },
  { name: 'jwt-auth (HS256)', plugins: [{ name: 'jwt-auth', config: { api: 'bench', issuer: 'https://issuer.bench', secret: JWT_SECRET, consumers: { 'bench-app': { team: 'bench', subscription: 'approved' } } } }], headers: { authorization: `Bearer ${TOKEN}` } },
  { name: 'rate-limit (1 policy, memory)', plugins: [{ name: 'rate-limit', config: { policies: [{ limit: 1_000_000_000, window: '1m', by: ['ip'] }] } }] },
  { name: 'rate-limit (2 policies, memory)', plugins: [{ name: 'rate-limit', config: { policies: [{ limit: 1_000_000_000, window: '1m', by: ['ip'] }, { name: 'daily', limit: 1_000_000_000, window: 'day', by: ['route'] }] } }] },
  { name: 'rate-limit (1 policy, redis)', plugins: [{ name: 'rate-limit', config: { policies: [{ limit: 1_000_000_000, window: '1m', by: ['ip'] }] } }], redis: true },
  { name: 'cors (simple request)', plugins: [{ name: 'cors', config: { origins: ['https://app.example.com'] } }], headers: { origin: 'https://app.example.com' } },
  { name: 'ip-restriction (allow list)', plugins: [{ name: 'ip-restriction', config: { allow: ['10.0.0.0/8', '127.0.0.0/8', '::1'] } }] },
  { name: 'headers (set request + response)', plugins: [{ name: 'headers', config: { request: { set: { 'x-tenant': 'shop' }, remove: ['cookie'] }, response: { set: { 'x-frame-options': 'DENY' } } } }] },
  { name: 'transform (headers + query)', plugins: [{ name: 'transform', config: { request: { headers: { rename: { 'x-user': 'x-customer-id' } }, query: { set: { version: '2' } } } } }] },
  {
    name: 'auth (HMAC signature, RFC 9421, with body digest)',
    plugins: [{ name: 'auth', config: { api: 'bench', hmac: { credentials: { 'hk-bench': { ...consumer, secret: HMAC_SECRET } } } } }],
    headers: { ...signed, 'content-type': 'application/json' },
    body: ORDER,
  },
  {
    name: 'validate (path/query parameters + JSON body)',
    plugins: [{
      name: 'validate',
      config: {
        parameters: [{ name: 'page', in: 'query', schema: { type: 'integer', minimum: 1 } }],
        body: { required: true, schema: { type: 'object', required: ['customer', 'items'], properties: { customer: { type: 'string' }, items: { type: 'array', items: { type: 'object', required: ['sku', 'qty'], properties: { sku: { type: 'string' }, qty: { type: 'integer', minimum: 1 } } } }, note: { type: 'string' } } } },
      },
    }],
    headers: { 'content-type': 'application/json' },
    body: ORDER,
  },
  {
    name: 'mask (email, phone, card in a JSON response)',
    plugins: [{ name: 'mask', config: { rules: [{ detector: 'email', style: 'partial' }, { detector: 'phone' }, { detector: 'card', style: 'partial' }] } }],
    response: PROFILE,
  },
  {
    name: 'full pipeline (key-auth + rate-limit, memory)',
    plugins: [
      { name: 'key-auth', config: { api: 'bench', keys: { [sha(KEY)]: consumer } } },
      { name: 'rate-limit', config: { policies: [{ limit: 1_000_000_000, window: '1m', by: ['consumer'] }] } },
    ],
    headers: { 'x-api-key': KEY },
  },
];

const route = { name: 'bench:all', path: '/*', service: 'origin' } as unknown as RouteConfig;
const clientRaw = ['host', 'gateway.bench', 'user-agent', 'wrk', 'accept', '*/*', 'x-forwarded-for', '10.1.2.3'];

/** A request context shaped like the proxy exchange's, for one request. */
function context(headers: IncomingHttpHeaders, body?: string): RequestContext & { responded: boolean } {
  const all: IncomingHttpHeaders = { host: 'gateway.bench', 'user-agent': 'wrk', accept: '*/*', ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }), ...headers };
  const raw = [...clientRaw];
  for (const name in headers) raw.push(name, String(headers[name]));
  let state: Map<string, unknown> | undefined;
  return {
    requestId: 'req-1',
    method: 'GET',
    path: '/products/42',
    query: 'page=2',
    headers: all,
    params: {},
    route,
    clientIp: '127.0.0.1',
    upstreamHeaders: new HeaderList(raw),
    get state() {
      return (state ??= new Map());
    },
    responded: false,
    respond(status: number, answer: string | Buffer) {
      this.responded = true;
      if (process.env.DEBUG_REFUSALS !== undefined) console.error(status, String(answer));
    },
    rewriteTarget() {},
    ...(body === undefined ? {} : { method: 'POST', readBody: async () => Buffer.from(body), replaceBody() {} }),
  };
}

/** The upstream's answer; a body transform a hook asks for runs on `body`, as the exchange would. */
function respondWith(hooks: Pipeline['response'], ctx: RequestContext, body: string | undefined): void {
  const info: ResponseInfo = {
    status: 200,
    headers: new HeaderList(['content-type', 'application/json', 'content-length', String(body?.length ?? 38)]),
    transformBody(_max, transform) {
      if (body !== undefined) transform(Buffer.from(body));
    },
  };
  for (const hook of hooks) hook.onResponse!(ctx, info);
}

/** CPU µs for `n` requests through `pipeline`; fails if a plugin refused one. */
async function cpuFor(pipeline: Pipeline, headers: IncomingHttpHeaders, n: number, body?: string, response?: string): Promise<number> {
  const start = process.cpuUsage();
  for (let done = 0; done < n; ) {
    const pending: Promise<void>[] = [];
    const contexts: ReturnType<typeof context>[] = [];
    for (let i = 0; i < BATCH && done < n; i++, done++) {
      const ctx = context(headers, body);
      contexts.push(ctx);
      const p = pipeline.request.length === 0 ? undefined : runRequestHooks(pipeline.request, ctx);
      if (p !== undefined) pending.push(p);
    }
    if (pending.length > 0) await Promise.all(pending);
    for (const ctx of contexts) {
      if (ctx.responded) throw new Error('a plugin refused the request: the case is misconfigured');
      respondWith(pipeline.response, ctx, response);
    }
  }
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

function redisAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port: 6379 });
    socket.setTimeout(500, () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => { socket.destroy(); resolve(d.toString().startsWith('+PONG')); });
  });
}

async function main(): Promise<void> {
  const log = silentLogger();
  const memory: RateLimitSettings = { store: 'memory', redis: { url: 'redis://127.0.0.1:6379', prefix: 'weir-bench:', timeoutMs: 250 }, onRedisDown: 'closed' };
  const redis: RateLimitSettings = { ...memory, store: 'redis', redis: { ...memory.redis, prefix: `weir-bench-${process.pid}:` } };
  const hasRedis = await redisAnswers();
  console.log(`Weir plugin cost, in-process — ${new Date().toISOString()}`);
  console.log(`node ${process.version}; ${N} requests per case (after ${Math.min(N, 20_000)} warm-up), CPU time per request minus the empty pipeline's`);
  console.log(`load average: ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  rateLimits.configure(memory, log);
  const empty = compilePipeline(builtinPlugins, [], []);
  await cpuFor(empty, {}, Math.min(N, 20_000));
  const baseline = (await cpuFor(empty, {}, N)) / N;
  console.log(`${'case'.padEnd(48)} ${'µs/request'.padStart(10)}`);
  console.log(`${'(empty pipeline: context + header list)'.padEnd(48)} ${baseline.toFixed(3).padStart(10)}  (the baseline, subtracted below)`);
  for (const c of CASES) {
    if (only !== undefined && !only.some((o) => c.name.startsWith(o))) continue;
    if (c.redis === true && !hasRedis) {
      console.log(`${c.name.padEnd(48)} ${'-'.padStart(10)}  skipped: Redis does not answer on 127.0.0.1:6379`);
      continue;
    }
    rateLimits.configure(c.redis === true ? redis : memory, log);
    if (c.redis === true) await new Promise((r) => setTimeout(r, 200)); // let ioredis load and connect
    const pipeline = compilePipeline(builtinPlugins, [], c.plugins);
    await cpuFor(pipeline, c.headers ?? {}, Math.min(N, 20_000), c.body, c.response);
    const perRequest = (await cpuFor(pipeline, c.headers ?? {}, N, c.body, c.response)) / N;
    console.log(`${c.name.padEnd(48)} ${(perRequest - baseline).toFixed(3).padStart(10)}`);
  }
  rateLimits.configure(memory, log);
  console.log('\nEvery request was admitted by every plugin (a refusal aborts the run).');
  console.log('In a cluster worker, memory counters are held by the primary: add the IPC batch (see bench:proxy, weir-pipeline).');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
