import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The schema of `weir.yaml`. It is the single source for validation (compiled once with
 * TypeBox's TypeCompiler), for the JSON Schema exported to `docs/weir.schema.json` and for the
 * TypeScript type of a raw (validated, not yet normalised) config.
 */

const strict = { additionalProperties: false } as const;

/** `250`, `"250ms"`, `"2s"`, `"1m"`, `"1h"`: a number is milliseconds. */
export const Duration = Type.Union(
  [
    Type.Integer({ minimum: 0 }),
    Type.String({ pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' }),
  ],
  { description: 'A duration: milliseconds as a number, or a string such as "250ms", "2s", "1m", "1h".' },
);

/** `1048576`, `"512kb"`, `"10mb"`, `"1gb"`: a number is bytes. */
export const Size = Type.Union(
  [Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+(b|kb|mb|gb)$' })],
  { description: 'A size: bytes as a number, or a string such as "16kb", "10mb".' },
);

const HttpMethod = Type.Union(
  ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'].map((m) => Type.Literal(m)),
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
  { default: 'round-robin' },
);

export const HashOn = Type.Union(
  [
    Type.Object({ header: Type.String({ minLength: 1 }) }, strict),
    Type.Object({ cookie: Type.String({ minLength: 1 }) }, strict),
    Type.Object({ clientIp: Type.Literal(true) }, strict),
  ],
  { description: 'What consistent-hash balancing hashes: a request header, a cookie or the client IP. A request without it falls back to the client IP.' },
);

export const ActiveHealthCheck = Type.Object(
  {
    path: Type.String({ pattern: '^/', default: '/health' }),
    interval: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
    healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 2 })),
    unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 3 })),
    expectStatus: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, description: 'Statuses that count as healthy (default: any 2xx or 3xx).' })),
  },
  strict,
);

export const PassiveHealthCheck = Type.Object(
  {
    failures: Type.Optional(Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures (connect errors, timeouts, 5xx listed in onStatuses) that eject a target.' })),
    ejectFor: Type.Optional(Duration),
    maxEjectFor: Type.Optional(Duration),
    onStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 500, maximum: 599 }))),
  },
  strict,
);

export const Timeouts = Type.Object(
  {
    connect: Type.Optional(Duration),
    read: Type.Optional(Duration),
    total: Type.Optional(Duration),
  },
  { ...strict, description: 'connect: TCP connect; read: max silence while waiting for response headers or body data; total: the whole upstream exchange including retries.' },
);

export const Retries = Type.Object(
  {
    attempts: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 0, description: 'Retries after the first try (0 disables).' })),
    backoff: Type.Optional(
      Type.Object({ initial: Type.Optional(Duration), max: Type.Optional(Duration) }, strict),
    ),
    onStatuses: Type.Optional(Type.Array(Type.Integer({ minimum: 400, maximum: 599 }), { description: 'Upstream statuses that are retried (default: 502, 503, 504).' })),
    nonIdempotent: Type.Optional(Type.Boolean({ default: false, description: 'Also retry POST and PATCH. Connect failures, where the upstream saw nothing, are always retried.' })),
  },
  strict,
);

export const CircuitBreaker = Type.Object(
  {
    failureThreshold: Type.Optional(Type.Integer({ minimum: 1, default: 5, description: 'Consecutive failures that open the breaker of a target.' })),
    openFor: Type.Optional(Duration),
    halfOpenRequests: Type.Optional(Type.Integer({ minimum: 1, default: 1, description: 'Trial requests let through while half-open; all must succeed to close.' })),
  },
  strict,
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
          keepAliveTimeout: Type.Optional(Duration),
        },
        strict,
      ),
    ),
  },
  strict,
);

export const HeaderMatcher = Type.Union([
  Type.String({ description: 'Exact value (case-sensitive).' }),
  Type.Object({ regex: Type.String() }, strict),
  Type.Object({ present: Type.Boolean() }, strict),
]);

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
    priority: Type.Optional(Type.Integer({ default: 0, description: 'Among routes with the same method, host and path, higher priority is tried first.' })),
    service: Type.String({ minLength: 1 }),
    stripPrefix: Type.Optional(Type.String({ pattern: '^/', description: 'Removed from the start of the path before proxying.' })),
    preserveHost: Type.Optional(Type.Boolean()),
    plugins: Type.Optional(Type.Array(PluginRef)),
  },
  strict,
);

export const Global = Type.Object(
  {
    listen: Type.Optional(Type.Object({ host: Type.Optional(Type.String()), port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) }, strict)),
    admin: Type.Optional(Type.Object({ host: Type.Optional(Type.String()), port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) }, strict)),
    limits: Type.Optional(
      Type.Object(
        {
          maxHeaderSize: Type.Optional(Size),
          maxBodySize: Type.Optional(Size),
          requestTimeout: Type.Optional(Duration),
          keepAliveTimeout: Type.Optional(Duration),
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
    shutdown: Type.Optional(Type.Object({ drainTimeout: Type.Optional(Duration) }, strict)),
    plugins: Type.Optional(Type.Array(PluginRef)),
  },
  strict,
);

export const WeirConfig = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    version: Type.Optional(Type.Literal(1)),
    global: Type.Optional(Global),
    services: Type.Record(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), Service),
    routes: Type.Array(Route),
  },
  { ...strict, $id: 'https://weir.dev/schema/weir.schema.json', title: 'Weir gateway configuration' },
);

export type RawConfig = Static<typeof WeirConfig>;
export type RawService = Static<typeof Service>;
export type RawRoute = Static<typeof Route>;
export type RawHeaderMatcher = Static<typeof HeaderMatcher>;
export type SchemaOf<T extends TSchema> = Static<T>;
