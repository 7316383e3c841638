import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { maskingFields } from '../masking/rules.js';

/**
 * The schema of `weir.yaml`. It is the single source for validation (compiled once with
 * TypeBox's TypeCompiler), for the JSON Schema exported to `docs/weir.schema.json` and for the
 * TypeScript type of a raw (validated, not yet normalised) config.
 */

const strict = { additionalProperties: false } as const;

/**
 * `250`, `"250ms"`, `"1.5s"`, `"1m"`, `"1h"`: a number is milliseconds. The title names the type
 * in editors and lets the loader turn TypeBox's union error into one readable message.
 */
export const Duration = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' }),
  ],
  { title: 'Duration', description: 'A duration: milliseconds as a number, or a string such as "250ms", "2s", "1m", "1h".' },
);

/** `1048576`, `"512kb"`, `"10mb"`, `"1gb"`: a number is bytes; units are multiples of 1024. */
export const Size = Type.Union(
  [Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(b|kb|mb|gb)$' })],
  { title: 'Size', description: 'A size: bytes as a number, or a string such as "16kb", "10mb" (1kb = 1024 bytes).' },
);

/** A Duration field with its own description (meaning and default) for editors. */
export function duration(description: string) {
  return Type.Union([...Duration.anyOf], { title: 'Duration', description: `${description} Milliseconds as a number, or "250ms", "2s", "1m", "1h".` });
}

/** A Size field with its own description (meaning and default) for editors. */
function size(description: string) {
  return Type.Union([...Size.anyOf], { title: 'Size', description: `${description} Bytes as a number, or "16kb", "10mb", "1gb".` });
}

/** Where a Redis store is (`global.rateLimits.redis`, `global.cache.redis`). */
function redisSettings(prefix: string, timeout: string) {
  return Type.Object(
    {
      url: Type.Optional(Type.String({ pattern: '^rediss?://', description: 'redis://[user:password@]host:port[/db] (default redis://127.0.0.1:6379).' })),
      prefix: Type.Optional(Type.String({ maxLength: 100, description: prefix })),
      timeout: Type.Optional(duration(timeout)),
    },
    strict,
  );
}

const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'].map((m) => Type.Literal(m)),
);

export const Target = Type.Object(
  {
    url: Type.String({ description: 'Base URL of the target, e.g. http://10.0.0.5:8080', pattern: '^https?://' }),
    weight: Type.Optional(Type.Integer({ minimum: 0, maximum: 1000, default: 1, description: 'Relative share of traffic (weighted-round-robin); 0 takes the target out of rotation.' })),
  },
  strict,
);

export const Balancing = Type.Union(
  [
    Type.Literal('round-robin'),
    Type.Literal('weighted-round-robin'),
    Type.Literal('least-connections'),
    Type.Literal('consistent-hash'),
  ],
  { default: 'round-robin', description: 'How requests are spread over the targets. consistent-hash needs hashOn.' },
);

export const HashOn = Type.Union(
  [
    Type.Object({ header: Type.String({ minLength: 1 }) }, strict),
    Type.Object({ cookie: Type.String({ minLength: 1 }) }, strict),
    Type.Object({ clientIp: Type.Literal(true) }, strict),
  ],
  { title: 'HashOn', description: 'What consistent-hash balancing hashes: a request header, a cookie or the client IP. A request without it falls back to the client IP.' },
);

export const ActiveHealthCheck = Type.Object(
  {
    path: Type.Optional(Type.String({ pattern: '^/', default: '/health', description: 'Path probed on every target.' })),
    interval: Type.Optional(duration('Time between probes of one target (default 5s).')),
    timeout: Type.Optional(duration('A probe slower than this fails (default 1s).')),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 2 })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 3 })),
    expectStatus: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, description: 'Statuses that count as healthy (default: any 2xx or 3xx).' })),
  },
  { ...strict, description: 'Probe every target in the background; a target that fails unhealthyThreshold probes in a row is taken out of rotation until it passes healthyThreshold in a row.' },
);

export const PassiveHealthCheck = Type.Object(
  {
    failures: Type.Optional(Type.Integer({ minimum: 1, default: 3, description: 'Consecutive connection failures (or responses with a status listed in onStatuses) that eject a target.' })),
    ejectFor: Type.Optional(duration('How long an ejected target stays out; doubles on each ejection in a row (default 5s).')),
    maxEjectFor: Type.Optional(duration('Upper bound of the doubled ejection time (default 60s).')),
    onStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 500, maximum: 599 }), { description: 'Upstream statuses that count as failures (default: none).' })),
  },
  strict,
);

export const Timeouts = Type.Object(
  {
    connect: Type.Optional(duration('TCP (and TLS) connect to a target (default 5s).')),
    read: Type.Optional(duration('Max silence while waiting for response headers or body data (default 30s).')),
    total: Type.Optional(duration('The whole upstream exchange, retries included (default 60s).')),
  },
  { ...strict, description: 'connect: TCP connect; read: max silence while waiting for response headers or body data; total: the whole upstream exchange including retries.' },
);

export const Retries = Type.Object(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 1, description: 'Retries after the first try (0 disables).' })),
    backoff: Type.Optional(
      Type.Object(
        {
          initial: Type.Optional(duration('Typical wait before the first retry; later waits grow exponentially with random jitter (default 25ms).')),
          max: Type.Optional(duration('Upper bound of the wait between retries (default 1s).')),
        },
        strict,
      ),
    ),
    onStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), { description: 'Upstream statuses that are retried (default: 502, 503, 504).' })),
    nonIdempotent: Type.Optional(Type.Boolean({ default: false, description: 'Also retry non-idempotent methods (POST, PATCH). Connect failures, where the upstream saw nothing, are retried for every method anyway.' })),
  },
  { ...strict, description: 'Retries of idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), and of connect failures for every method.' },
);

export const CircuitBreaker = Type.Object(
  {
    failureThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures that open the breaker of a target.' })),
    openFor: Type.Optional(duration('How long an open breaker rejects requests before going half-open (default 10s).')),
    halfOpenRequests: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'Trial requests let through while half-open; all must succeed to close.' })),
  },
  { ...strict, description: 'One breaker per target. false disables it.' },
);

export const Service = Type.Object(
  {
    targets: Type.Array(Target, { minItems: 1 }),
    balancing: Type.Optional(Balancing),
    hashOn: Type.Optional(HashOn),
    preserveHost: Type.Optional(Type.Boolean({ default: false, description: 'Send the client\'s Host header upstream instead of the target\'s host.' })),
    timeouts: Type.Optional(Timeouts),
    retries: Type.Optional(Retries),
    circuitBreaker: Type.Optional(Type.Union([CircuitBreaker, Type.Literal(false)])),
    healthCheck: Type.Optional(
      Type.Object({ active: Type.Optional(ActiveHealthCheck), passive: Type.Optional(Type.Union([PassiveHealthCheck, Type.Literal(false)])) }, strict),
    ),
    pool: Type.Optional(
      Type.Object(
        {
          connections: Type.Optional(Type.Integer({ minimum: 1, default: 256, description: 'Max open connections per target.' })),
          keepAliveTimeout: Type.Optional(duration('Idle upstream connections are closed after this (default 4s).')),
        },
        strict,
      ),
    ),
  },
  strict,
);

export const HeaderMatcher = Type.Union(
  [
    Type.String({ description: 'Exact value (case-sensitive).' }),
    Type.Object({ regex: Type.String({ description: 'JavaScript regular expression tested against the value (unanchored).' }) }, strict),
    Type.Object({ present: Type.Boolean({ description: 'true: the header must be sent; false: it must be absent.' }) }, strict),
  ],
  { title: 'HeaderMatcher' },
);

export const PluginRef = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    config: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  strict,
);

export const Route = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, description: 'Unique name (default: derived from methods and path).' })),
    methods: Type.Optional(Type.Array(HttpMethod, { minItems: 1, description: 'Default: every method.' })),
    hosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Exact host names or "*.example.com" wildcards.' })),
    path: Type.String({ pattern: '^/', description: 'Path pattern: /users/:id for a parameter, a trailing /* for a wildcard.' }),
    headers: Type.Optional(Type.Record(Type.String(), HeaderMatcher)),
    priority: Type.Optional(Type.Integer({ default: 0, description: 'Among routes with the same path pattern and host, higher priority is tried first (then file order).' })),
    service: Type.String({ minLength: 1 }),
    stripPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Removed from the start of the path before proxying.' })),
    preserveHost: Type.Optional(Type.Boolean({ description: "Overrides the service's preserveHost for this route." })),
    plugins: Type.Optional(Type.Array(PluginRef, { description: 'Plugins applied to this route only.' })),
    limits: Type.Optional(
      Type.Object(
        {
          maxBodySize: Type.Optional(size('Largest request body this route accepts, replacing global.limits.maxBodySize (larger or smaller); larger gets 413.')),
          maxHeaderSize: Type.Optional(size('Largest request head (request line and headers) this route accepts; larger gets 431. Only lowers global.limits.maxHeaderSize, which the server enforces before routing.')),
          maxUrlLength: Type.Optional(Type.Integer({ minimum: 1, description: 'Longest request target (path and query, in bytes) this route accepts; longer gets 414.' })),
        },
        { ...strict, description: 'Request size limits of this route.' },
      ),
    ),
  },
  strict,
);

export const Global = Type.Object(
  {
    listen: Type.Optional(Type.Object({ host: Type.Optional(Type.String({ default: '0.0.0.0' })), port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 8080 })) }, { ...strict, description: 'Where proxy traffic is served.' })),
    admin: Type.Optional(Type.Object({ host: Type.Optional(Type.String({ default: '127.0.0.1' })), port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535, default: 9080 })) }, { ...strict, description: 'Where the admin API, console and portal are served.' })),
    limits: Type.Optional(
      Type.Object(
        {
          maxHeaderSize: Type.Optional(size('Largest request head accepted; larger gets 431 (default 16kb).')),
          maxBodySize: Type.Optional(size('Largest request body accepted; larger gets 413 (default 10mb).')),
          requestTimeout: Type.Optional(duration('Time a client has to send the whole request; slower gets 408 (default 60s).')),
          keepAliveTimeout: Type.Optional(duration('Idle client connections are closed after this (default 65s).')),
        },
        strict,
      ),
    ),
    proxy: Type.Optional(
      Type.Object(
        {
          via: Type.Optional(Type.Boolean({ default: true })),
          forwarded: Type.Optional(Type.Union([Type.Literal('x-forwarded'), Type.Literal('rfc7239'), Type.Literal('both'), Type.Literal('none')], { default: 'x-forwarded' })),
          requestIdHeader: Type.Optional(Type.String({ minLength: 1, default: 'x-request-id' })),
          trustRequestId: Type.Optional(Type.Boolean({ default: true, description: 'Keep a request id the client sent (when it is a sane token) instead of generating one.' })),
        },
        strict,
      ),
    ),
    shutdown: Type.Optional(Type.Object({ drainTimeout: Type.Optional(duration('On shutdown, how long in-flight requests may finish before connections are closed (default 10s).')) }, strict)),
    plugins: Type.Optional(Type.Array(PluginRef, { description: 'Plugins applied to every route.' })),
    rateLimits: Type.Optional(
      Type.Object(
        {
          store: Type.Optional(Type.Union([Type.Literal('memory'), Type.Literal('redis')], { default: 'memory', description: 'Where the rate-limit plugin counts: memory (exact across the workers of this node) or redis (exact across every node sharing it).' })),
          redis: Type.Optional(redisSettings('Prepended to every counter key (default "weir:rl:").', 'A counter command slower than this counts as Redis being down (default 250ms).')),
          onRedisDown: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('closed')], { default: 'open', description: 'While Redis is unreachable: open counts in this node\'s memory instead; closed refuses limited requests with 503 WEIR_RATE_LIMIT_UNAVAILABLE.' })),
        },
        { ...strict, description: 'Counters of the rate-limit plugin.' },
      ),
    ),
    metrics: Type.Optional(
      Type.Object(
        { enabled: Type.Optional(Type.Boolean({ default: true, description: 'Record request, upstream and rate-limit metrics for GET /metrics on the admin port (process metrics are always there).' })) },
        { ...strict, description: 'Prometheus metrics.' },
      ),
    ),
    cache: Type.Optional(
      Type.Object(
        {
          memory: Type.Optional(Type.Object({ maxSize: Type.Optional(size('Bytes of responses each process keeps in memory for cache plugins with store: memory; the least recently used go first (default 64mb).')) }, strict)),
          redis: Type.Optional(redisSettings('Prepended to every cache key (default "weir:cache:"); nodes with the same URL and prefix share their cache.', 'A cache command slower than this counts as Redis being down; the cache is then bypassed (default 250ms).')),
        },
        { ...strict, description: 'Stores of the cache plugin.' },
      ),
    ),
    jobs: Type.Optional(
      Type.Object(
        {
          path: Type.Optional(Type.String({ pattern: '^/[A-Za-z0-9._~/-]*[^/]$', description: 'Where clients read async flow jobs: GET {path}/{id} (default /jobs).' })),
          retention: Type.Optional(duration('How long a finished job (and an idempotency record) is kept (default 24h).')),
          lease: Type.Optional(duration('A running job is owned by one process for this long, renewed while it runs; a job whose owner stopped renewing (a crash, a restart) is taken over after it (default 10s).')),
          callbacks: Type.Optional(
            Type.Object(
              {
                allowHosts: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Hosts (host or host:port; "*." prefix for subdomains) that callback URLs may point at. Empty (default): callbacks are refused.' })),
                secretEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Environment variable holding the HMAC-SHA256 key that signs callbacks (default WEIR_CALLBACK_SECRET).' })),
                attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 50, description: 'Deliveries tried before a callback is given up (default 8).' })),
                backoff: Type.Optional(Type.Object({ initial: Type.Optional(duration('First wait (default 1s).')), max: Type.Optional(duration('Longest wait (default 5m).')) }, strict)),
                timeout: Type.Optional(duration('Longest time one delivery may take (default 10s).')),
              },
              strict,
            ),
          ),
        },
        { ...strict, description: 'Async flow jobs and their callbacks.' },
      ),
    ),
    masking: Type.Optional(
      Type.Object(
        {
          ...maskingFields,
          rules: Type.Optional(maskingFields.rules),
          redactHeaders: Type.Optional(Type.Array(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), { description: 'Headers whose values never reach a log, on top of Authorization, Proxy-Authorization, Cookie, Set-Cookie and the usual API-key headers.' })),
        },
        { ...strict, description: 'Masking of what Weir logs (log lines and the call log): the same rules as the mask plugin. Credentials are redacted with or without it.' },
      ),
    ),
    callLog: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: true, description: 'Record every request (needs a data folder or a postgres:// store; default true).' })),
          store: Type.Optional(Type.Union([Type.Literal('default'), Type.Literal('sqlite')], { default: 'default', description: 'default: PostgreSQL when the node uses a postgres:// store, else <data>/calls.db; sqlite: always the node\'s own <data>/calls.db.' })),
          retention: Type.Optional(
            Type.Object(
              {
                maxAge: Type.Optional(duration('Raw records older than this are deleted (default 168h, 7 days).')),
                maxRows: Type.Optional(Type.Integer({ minimum: 1000, description: 'At most this many raw records are kept; the oldest go first (default 5000000).' })),
              },
              strict,
            ),
          ),
          rollupRetention: Type.Optional(duration('Per-minute rollups older than this are deleted (default 2160h, 90 days).')),
          hourlyRollupRetention: Type.Optional(duration('Hourly rollups (analytics by hour) older than this are deleted (default 9480h, 395 days).')),
          dailyRollupRetention: Type.Optional(duration('Daily rollups (analytics by day) older than this are deleted (default 43800h, 5 years).')),
          queueSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Records waiting to be written, per process; more are dropped and counted (default 20000).' })),
          batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, description: 'Records written per batch (default 500).' })),
          flushInterval: Type.Optional(duration('Longest a record waits before its batch is written (default 200ms).')),
        },
        { ...strict, description: 'The call log: one record per request, written in batches off the request path, with per-minute rollups.' },
      ),
    ),
    synthetic: Type.Optional(
      Type.Object(
        {
          minInterval: Type.Optional(duration('The shortest interval a synthetic check may have (default 10s). Lower it only for tests.')),
          retention: Type.Optional(duration('Check runs older than this are deleted (default 168h, 7 days).')),
        },
        { ...strict, description: 'Synthetic checks (admin API /api/v1/checks): scheduled calls through this gateway, with their results kept as series.' },
      ),
    ),
    tracing: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ default: false, description: 'Trace requests with OpenTelemetry and export the spans (default false). Off, the SDK is not loaded and traceparent/tracestate pass through untouched.' })),
          endpoint: Type.Optional(Type.String({ pattern: '^https?://[^\\s/?#]+[^\\s]*$', description: 'OTLP/HTTP traces URL (default http://127.0.0.1:4318/v1/traces).' })),
          headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.String(), { description: 'Headers sent with every export (e.g. a collector API key).' })),
          sampleRatio: Type.Optional(Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of new traces recorded (0–1); a request with a valid traceparent follows its sampled flag (parent-based).' })),
          serviceName: Type.Optional(Type.String({ minLength: 1, default: 'weir', description: 'service.name of the spans (default weir).' })),
        },
        { ...strict, description: 'OpenTelemetry tracing: a span per request, per upstream attempt and per flow step, exported by OTLP/HTTP (JSON) in batches.' },
      ),
    ),
    accessLog: Type.Optional(Type.Boolean({ default: false, description: 'One JSON line per request on stdout (method, path, status, duration, route, request id, consumer, target, trace id, bytes), masked by global.masking (default false).' })),
  },
  { ...strict, description: 'Settings of the gateway process.' },
);


const FlowRetry = Type.Object(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, description: 'Retries after the first call (default 0).' })),
    backoff: Type.Optional(Type.Object({ initial: Type.Optional(duration('First back-off (default 50ms).')), max: Type.Optional(duration('Longest back-off (default 1s).')) }, strict)),
    onStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), { description: 'Statuses that are retried (default 502, 503, 504).' })),
  },
  strict,
);

const FlowBatch = Type.Object(
  {
    maxSize: Type.Integer({ minimum: 1, maximum: 10000, description: 'Most elements per batch call: ⌈N/maxSize⌉ calls for N elements.' }),
    method: Type.Optional(HttpMethod),
    path: Type.String({ pattern: '^/', description: 'Path template of the batch call, e.g. "/products"; values are percent-encoded.' }),
    query: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Query parameters (templates); `items` is the batch\'s elements, e.g. { ids: "{{ join(\',\', items[*].to_string(id)) }}" }.' })),
    headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.Unknown(), { description: 'Request headers (templates).' })),
    body: Type.Optional(Type.Unknown({ description: 'JSON body (template).' })),
    results: Type.Optional(Type.String({ minLength: 1, description: 'JMESPath expression over the batch answer\'s body giving the array of results (default "@": the body itself).' })),
    key: Type.String({ minLength: 1, description: 'JMESPath expression on each result giving the key it answers for, e.g. "id".' }),
    itemKey: Type.String({ minLength: 1, description: 'JMESPath expression per element (with the element under `as` and `index`) giving the key it asks for, e.g. "item.productId". Keys match as text: 42 and "42" are the same.' }),
  },
  { ...strict, description: 'Batch the elements of a forEach step: one call per maxSize elements, results matched back to each element by key (an element with no result gets {status: 404, headers: {}, body: null}). The step\'s own path, query, headers and body are not used.' },
);

const FlowStepCache = Type.Object(
  {
    ttl: duration('How long a successful answer is reused.'),
    key: Type.Optional(Type.String({ minLength: 1, description: 'Cache key (template), e.g. "{{ request.params.id }}"; scoped to the flow and step. Default: the whole resolved call (method, path, query, headers, body), so answers for different credentials never mix.' })),
    maxEntries: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000000, description: 'Most answers kept for this step per worker, least recently used dropped first (default 1000).' })),
  },
  { ...strict, description: 'Reuse a successful (status < 400) answer of this step for ttl instead of calling again; per worker process, per config version. In a forEach step each element is cached on its own (batched steps call only for the elements not cached).' },
);

const FlowCompensate = Type.Object(
  {
    service: Type.Optional(Type.String({ minLength: 1, description: 'Service to call (default: the step\'s).' })),
    method: Type.Optional(HttpMethod),
    path: Type.String({ pattern: '^/', description: 'Path template, e.g. "/bookings/{{ steps.booking.body.id }}".' }),
    query: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Query parameters (templates).' })),
    headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.Unknown(), { description: 'Request headers (templates).' })),
    body: Type.Optional(Type.Unknown({ description: 'JSON body (template).' })),
    timeout: Type.Optional(duration('Longest time one try may take (default 5s).')),
    retry: Type.Optional(FlowRetry),
  },
  { ...strict, description: 'The call that undoes this step. When the flow fails, the compensations of the steps that succeeded run one by one, the last finished first; their templates see the same context as the step, including its own result.' },
);

const FlowStep = Type.Object(
  {
    service: Type.Optional(Type.String({ minLength: 1, description: 'The service an http or forEach step calls (by name: a template never chooses the host).' })),
    method: Type.Optional(HttpMethod),
    path: Type.Optional(Type.String({ pattern: '^/', description: 'Path template, e.g. "/orders/{{ request.params.orderId }}"; values are percent-encoded.' })),
    query: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: 'Query parameters (templates).' })),
    headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.Unknown(), { description: 'Request headers (templates).' })),
    body: Type.Optional(Type.Unknown({ description: 'JSON body (template).' })),
    transform: Type.Optional(Type.Unknown({ description: 'A transform step: the value (template) it yields; makes no call.' })),
    forEach: Type.Optional(Type.String({ minLength: 1, description: 'A fan-out step: JMESPath expression giving the array to call the service once per element of.' })),
    as: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'Name of the current element inside a forEach call (default "item").' })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Most forEach calls (or batch calls) in flight at once (default 10).' })),
    batch: Type.Optional(FlowBatch),
    when: Type.Optional(Type.String({ minLength: 1, description: 'JMESPath condition; a falsy result skips the step (it yields null).' })),
    after: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Steps that must finish first, beyond the data dependencies Weir infers.' })),
    timeout: Type.Optional(duration('Longest time one call of this step may take (default: only the flow timeout).')),
    retry: Type.Optional(FlowRetry),
    idempotent: Type.Optional(Type.Boolean({ description: 'Allow retries of a non-idempotent call (POST, PATCH): the upstream tolerates duplicates.' })),
    optional: Type.Optional(Type.Boolean({ description: 'A failure yields null (or fallback) and an entry in the response\'s error list instead of failing the flow.' })),
    fallback: Type.Optional(Type.Unknown({ description: 'The value used when the step fails (makes the step optional).' })),
    cache: Type.Optional(FlowStepCache),
    compensate: Type.Optional(FlowCompensate),
  },
  { ...strict, description: 'One step: an http call (service + path), a forEach fan-out (forEach + service + path, or + batch) or a transform.' },
);

export const Flow = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1 })),
    method: Type.Optional(HttpMethod),
    path: Type.String({ pattern: '^/', description: 'Route path pattern of the composed endpoint, e.g. /shop/orders/:orderId/details.' }),
    timeout: Type.Optional(duration('Deadline of the whole flow (default 10s).')),
    status: Type.Optional(Type.Integer({ minimum: 200, maximum: 299, description: 'Status of a successful answer (default 200).' })),
    steps: Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), FlowStep, { additionalProperties: false, description: 'Steps by name; the order does not matter: Weir runs each as soon as the data it reads exists.' }),
    response: Type.Unknown({ description: 'The response body (template), e.g. { order: "{{ steps.order.body }}" }.' }),
    mode: Type.Optional(Type.Union([Type.Literal('sync'), Type.Literal('async')], { description: 'sync (default): answer when the flow ends; a client may still ask for async with "Prefer: respond-async". async: always answer 202 with a job to poll.' })),
    idempotency: Type.Optional(
      Type.Union([
        Type.Literal(false),
        Type.Object(
          {
            ttl: Type.Optional(duration('How long a result is kept for replay (default 24h).')),
            required: Type.Optional(Type.Boolean({ description: 'Refuse requests without an Idempotency-Key header (400).' })),
          },
          strict,
        ),
      ], { description: 'Idempotency-Key handling (on by default for flows whose method is not GET/HEAD): a request repeating a key gets the stored result instead of a second run. false turns it off.' }),
    ),
    plugins: Type.Optional(Type.Array(PluginRef, { description: 'Plugins of this flow (global plugins apply too), as for a route.' })),
  },
  { ...strict, description: 'A composed endpoint: named steps whose data dependencies Weir turns into a DAG.' },
);

export const WeirConfig = Type.Object(
  {
    $schema: Type.Optional(Type.String({ description: 'URL or path of this JSON Schema, for editor completion; ignored by Weir.' })),
    version: Type.Optional(Type.Literal(1, { description: 'Version of the file format.' })),
    global: Type.Optional(Global),
    // additionalProperties: false, or a service whose name breaks the pattern would skip validation.
    services: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Service, {
      additionalProperties: false,
      description: 'Upstream backends by name (letters, digits, "_", "." and "-").',
    }),
    routes: Type.Array(Route, { description: 'How requests are matched to services; the most specific match wins, not the first.' }),
    flows: Type.Optional(Type.Array(Flow, { description: 'Composed endpoints (API waterfalls run inside Weir).' })),
  },
  { ...strict, $id: 'https://weir.dev/schema/weir.schema.json', title: 'Weir gateway configuration' },
);

export type RawConfig = Static<typeof WeirConfig>;
export type RawService = Static<typeof Service>;
export type RawRoute = Static<typeof Route>;
export type RawFlow = Static<typeof Flow>;
export type RawFlowStep = Static<typeof FlowStep>;
export type RawHeaderMatcher = Static<typeof HeaderMatcher>;
export type SchemaOf<T extends TSchema> = Static<T>;
