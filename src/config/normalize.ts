/**
 * Raw (validated) weir.yaml → the `Config` the data plane compiles: every default filled in,
 * durations in milliseconds, sizes in bytes, names and hosts in their canonical case.
 * docs/configuration.md lists the same defaults.
 */
import { createHash } from 'node:crypto';
import type { RawConfig, RawRoute, RawService, SchemaOf } from './schema.js';
import type { ActiveHealthCheck, Global, HeaderMatcher, PassiveHealthCheck, PluginRef } from './schema.js';
import type {
  ActiveHealthConfig,
  Config,
  GlobalConfig,
  HashKey,
  HeaderMatch,
  PassiveHealthConfig,
  PluginConfig,
  RouteConfig,
  RouteLimits,
  ServiceConfig,
  TargetConfig,
} from './types.js';
import { durationMs, optional, sizeBytes } from './units.js';
import { normalizedStripPrefix } from './path-pattern.js';
import { normalizeFlows } from './flows.js';
import { enabledPlugins } from './plugins.js';

/** Every default of weir.yaml, in normalised units (ms, bytes). */
export const DEFAULTS = {
  listen: { host: '0.0.0.0', port: 8080 },
  admin: { host: '127.0.0.1', port: 9080 },
  limits: { maxHeaderSize: 16 * 1024, maxBodySize: 10 * 1024 * 1024, requestTimeoutMs: 60_000, keepAliveTimeoutMs: 65_000 },
  proxy: { via: true, forwarded: 'x-forwarded', requestIdHeader: 'x-request-id', trustRequestId: true },
  shutdown: { drainTimeoutMs: 10_000 },
  jobs: {
    path: '/jobs',
    retentionMs: 24 * 3600_000,
    leaseMs: 10_000,
    callbacks: { allowHosts: [], secretEnv: 'WEIR_CALLBACK_SECRET', attempts: 8, initialBackoffMs: 1_000, maxBackoffMs: 300_000, timeoutMs: 10_000 },
  },
  callLog: { enabled: true, store: 'default', maxAgeMs: 168 * 3600_000, maxRows: 5_000_000, rollupRetentionMs: 2160 * 3600_000, hourlyRollupRetentionMs: 9480 * 3600_000, dailyRollupRetentionMs: 43800 * 3600_000, queueSize: 20_000, batchSize: 500, flushIntervalMs: 200 },
  synthetic: { minIntervalMs: 10_000, retentionMs: 168 * 3600_000 },
  tracing: { enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', headers: {}, sampleRatio: 1, serviceName: 'weir' },
  rateLimits: { store: 'memory', redis: { url: 'redis://127.0.0.1:6379', prefix: 'weir:rl:', timeoutMs: 250 }, onRedisDown: 'open' },
  cache: { memory: { maxSize: 64 * 1024 * 1024 }, redis: { url: 'redis://127.0.0.1:6379', prefix: 'weir:cache:', timeoutMs: 250 } },
  service: {
    balancing: 'round-robin',
    preserveHost: false,
    connectTimeoutMs: 5_000,
    readTimeoutMs: 30_000,
    totalTimeoutMs: 60_000,
    connections: 256,
    keepAliveTimeoutMs: 4_000,
  },
  retries: { attempts: 1, initialBackoffMs: 25, maxBackoffMs: 1_000, onStatuses: [502, 503, 504], nonIdempotent: false },
  circuitBreaker: { failureThreshold: 5, openForMs: 10_000, halfOpenRequests: 1 },
  activeHealth: { path: '/health', intervalMs: 5_000, timeoutMs: 1_000, healthyThreshold: 2, unhealthyThreshold: 3 },
  passiveHealth: { failures: 3, ejectForMs: 5_000, maxEjectForMs: 60_000 },
  targetWeight: 1,
  routePriority: 0,
} as const;

/** The normalised config. `raw` must have passed schema and semantic checks. */
export function normalizeConfig(raw: RawConfig, text: string, source: string): Config {
  return {
    global: normalizeGlobal(raw.global ?? {}),
    services: new Map(Object.entries(raw.services).map(([name, service]) => [name, normalizeService(name, service)])),
    routes: raw.routes.map(normalizeRoute),
    flows: normalizeFlows(raw.flows),
    version: configVersion(text),
    source,
  };
}

/** First 12 hex digits of the sha256 of the file: names a config version in logs and /healthz. */
export function configVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

function normalizeGlobal(raw: SchemaOf<typeof Global>): GlobalConfig {
  const { listen, admin, limits, proxy, shutdown } = DEFAULTS;
  return {
    listen: { host: raw.listen?.host ?? listen.host, port: raw.listen?.port ?? listen.port },
    admin: { host: raw.admin?.host ?? admin.host, port: raw.admin?.port ?? admin.port },
    limits: {
      maxHeaderSize: optional(raw.limits?.maxHeaderSize, sizeBytes) ?? limits.maxHeaderSize,
      maxBodySize: optional(raw.limits?.maxBodySize, sizeBytes) ?? limits.maxBodySize,
      requestTimeoutMs: optional(raw.limits?.requestTimeout, durationMs) ?? limits.requestTimeoutMs,
      keepAliveTimeoutMs: optional(raw.limits?.keepAliveTimeout, durationMs) ?? limits.keepAliveTimeoutMs,
    },
    proxy: {
      via: raw.proxy?.via ?? proxy.via,
      forwarded: raw.proxy?.forwarded ?? proxy.forwarded,
      requestIdHeader: (raw.proxy?.requestIdHeader ?? proxy.requestIdHeader).toLowerCase(),
      trustRequestId: raw.proxy?.trustRequestId ?? proxy.trustRequestId,
    },
    shutdown: { drainTimeoutMs: optional(raw.shutdown?.drainTimeout, durationMs) ?? shutdown.drainTimeoutMs },
    plugins: enabledPlugins(raw.plugins),
    jobs: normalizeJobs(raw.jobs ?? {}),
    rateLimits: normalizeRateLimits(raw.rateLimits ?? {}),
    masking: raw.masking === undefined ? null : { ...raw.masking, rules: raw.masking.rules ?? [] },
    metrics: { enabled: raw.metrics?.enabled ?? true },
    cache: normalizeCache(raw.cache ?? {}),
    callLog: normalizeCallLog(raw.callLog ?? {}),
    synthetic: {
      minIntervalMs: Math.max(1, optional(raw.synthetic?.minInterval, durationMs) ?? DEFAULTS.synthetic.minIntervalMs),
      retentionMs: Math.max(1, optional(raw.synthetic?.retention, durationMs) ?? DEFAULTS.synthetic.retentionMs),
    },
    tracing: {
      enabled: raw.tracing?.enabled ?? DEFAULTS.tracing.enabled,
      endpoint: raw.tracing?.endpoint ?? DEFAULTS.tracing.endpoint,
      headers: raw.tracing?.headers ?? {},
      sampleRatio: raw.tracing?.sampleRatio ?? DEFAULTS.tracing.sampleRatio,
      serviceName: raw.tracing?.serviceName ?? DEFAULTS.tracing.serviceName,
    },
    accessLog: raw.accessLog ?? false,
  };
}

function normalizeCache(raw: NonNullable<SchemaOf<typeof Global>['cache']>): GlobalConfig['cache'] {
  const { cache } = DEFAULTS;
  return {
    memory: { maxSize: optional(raw.memory?.maxSize, sizeBytes) ?? cache.memory.maxSize },
    redis: {
      url: raw.redis?.url ?? cache.redis.url,
      prefix: raw.redis?.prefix ?? cache.redis.prefix,
      timeoutMs: Math.max(1, optional(raw.redis?.timeout, durationMs) ?? cache.redis.timeoutMs),
    },
  };
}

function normalizeCallLog(raw: NonNullable<SchemaOf<typeof Global>['callLog']>): GlobalConfig['callLog'] {
  const { callLog } = DEFAULTS;
  return {
    enabled: raw.enabled ?? callLog.enabled,
    store: raw.store ?? callLog.store,
    maxAgeMs: optional(raw.retention?.maxAge, durationMs) ?? callLog.maxAgeMs,
    maxRows: raw.retention?.maxRows ?? callLog.maxRows,
    rollupRetentionMs: optional(raw.rollupRetention, durationMs) ?? callLog.rollupRetentionMs,
    hourlyRollupRetentionMs: optional(raw.hourlyRollupRetention, durationMs) ?? callLog.hourlyRollupRetentionMs,
    dailyRollupRetentionMs: optional(raw.dailyRollupRetention, durationMs) ?? callLog.dailyRollupRetentionMs,
    queueSize: raw.queueSize ?? callLog.queueSize,
    batchSize: raw.batchSize ?? callLog.batchSize,
    flushIntervalMs: Math.max(1, optional(raw.flushInterval, durationMs) ?? callLog.flushIntervalMs),
  };
}

function normalizeRateLimits(raw: NonNullable<SchemaOf<typeof Global>['rateLimits']>): GlobalConfig['rateLimits'] {
  const { rateLimits } = DEFAULTS;
  return {
    store: raw.store ?? rateLimits.store,
    redis: {
      url: raw.redis?.url ?? rateLimits.redis.url,
      prefix: raw.redis?.prefix ?? rateLimits.redis.prefix,
      timeoutMs: Math.max(1, optional(raw.redis?.timeout, durationMs) ?? rateLimits.redis.timeoutMs),
    },
    onRedisDown: raw.onRedisDown ?? rateLimits.onRedisDown,
  };
}

function normalizeJobs(raw: NonNullable<SchemaOf<typeof Global>['jobs']>): GlobalConfig['jobs'] {
  const { jobs } = DEFAULTS;
  const callbacks = raw.callbacks ?? {};
  return {
    path: raw.path ?? jobs.path,
    retentionMs: optional(raw.retention, durationMs) ?? jobs.retentionMs,
    leaseMs: optional(raw.lease, durationMs) ?? jobs.leaseMs,
    callbacks: {
      allowHosts: callbacks.allowHosts ?? [],
      secretEnv: callbacks.secretEnv ?? jobs.callbacks.secretEnv,
      attempts: callbacks.attempts ?? jobs.callbacks.attempts,
      initialBackoffMs: optional(callbacks.backoff?.initial, durationMs) ?? jobs.callbacks.initialBackoffMs,
      maxBackoffMs: optional(callbacks.backoff?.max, durationMs) ?? jobs.callbacks.maxBackoffMs,
      timeoutMs: optional(callbacks.timeout, durationMs) ?? jobs.callbacks.timeoutMs,
    },
  };
}

function normalizeService(name: string, raw: RawService): ServiceConfig {
  const defaults = DEFAULTS.service;
  return {
    name,
    targets: raw.targets.map((target) => ({ ...splitTargetUrl(target.url), weight: target.weight ?? DEFAULTS.targetWeight })),
    balancing: raw.balancing ?? defaults.balancing,
    hashOn: raw.hashOn === undefined ? null : hashKey(raw.hashOn),
    preserveHost: raw.preserveHost ?? defaults.preserveHost,
    connectTimeoutMs: optional(raw.timeouts?.connect, durationMs) ?? defaults.connectTimeoutMs,
    readTimeoutMs: optional(raw.timeouts?.read, durationMs) ?? defaults.readTimeoutMs,
    totalTimeoutMs: optional(raw.timeouts?.total, durationMs) ?? defaults.totalTimeoutMs,
    retries: normalizeRetries(raw.retries ?? {}),
    circuitBreaker: raw.circuitBreaker === false ? null : normalizeBreaker(raw.circuitBreaker ?? {}),
    activeHealth: raw.healthCheck?.active === undefined ? null : normalizeActiveHealth(raw.healthCheck.active),
    passiveHealth: raw.healthCheck?.passive === false ? null : normalizePassiveHealth(raw.healthCheck?.passive ?? {}),
    connections: raw.pool?.connections ?? defaults.connections,
    keepAliveTimeoutMs: optional(raw.pool?.keepAliveTimeout, durationMs) ?? defaults.keepAliveTimeoutMs,
  };
}

/** A copy of the hash key; a header name is lower-cased (header names are case-insensitive, cookie names are not). */
function hashKey(raw: NonNullable<RawService['hashOn']>): HashKey {
  return 'header' in raw ? { header: raw.header.toLowerCase() } : { ...raw };
}

/** `http://10.0.0.5:8080/api/` → origin `http://10.0.0.5:8080`, basePath `/api` (`''` for `/`). */
export function splitTargetUrl(url: string): Omit<TargetConfig, 'weight'> {
  const parsed = new URL(url);
  const basePath = parsed.pathname.endsWith('/') ? parsed.pathname.slice(0, -1) : parsed.pathname;
  return { origin: parsed.origin, basePath };
}

function normalizeRetries(raw: NonNullable<RawService['retries']>): ServiceConfig['retries'] {
  const defaults = DEFAULTS.retries;
  return {
    attempts: raw.attempts ?? defaults.attempts,
    initialBackoffMs: optional(raw.backoff?.initial, durationMs) ?? defaults.initialBackoffMs,
    maxBackoffMs: optional(raw.backoff?.max, durationMs) ?? defaults.maxBackoffMs,
    onStatuses: [...(raw.onStatuses ?? defaults.onStatuses)],
    nonIdempotent: raw.nonIdempotent ?? defaults.nonIdempotent,
  };
}

function normalizeBreaker(raw: Exclude<NonNullable<RawService['circuitBreaker']>, false>): NonNullable<ServiceConfig['circuitBreaker']> {
  const defaults = DEFAULTS.circuitBreaker;
  return {
    failureThreshold: raw.failureThreshold ?? defaults.failureThreshold,
    openForMs: optional(raw.openFor, durationMs) ?? defaults.openForMs,
    halfOpenRequests: raw.halfOpenRequests ?? defaults.halfOpenRequests,
  };
}

function normalizeActiveHealth(raw: SchemaOf<typeof ActiveHealthCheck>): ActiveHealthConfig {
  const defaults = DEFAULTS.activeHealth;
  return {
    path: raw.path ?? defaults.path,
    intervalMs: optional(raw.interval, durationMs) ?? defaults.intervalMs,
    timeoutMs: optional(raw.timeout, durationMs) ?? defaults.timeoutMs,
    healthyThreshold: raw.healthyThreshold ?? defaults.healthyThreshold,
    unhealthyThreshold: raw.unhealthyThreshold ?? defaults.unhealthyThreshold,
    expectStatus: [...(raw.expectStatus ?? [])],
  };
}

function normalizePassiveHealth(raw: SchemaOf<typeof PassiveHealthCheck>): PassiveHealthConfig {
  const defaults = DEFAULTS.passiveHealth;
  return {
    failures: raw.failures ?? defaults.failures,
    ejectForMs: optional(raw.ejectFor, durationMs) ?? defaults.ejectForMs,
    maxEjectForMs: optional(raw.maxEjectFor, durationMs) ?? defaults.maxEjectForMs,
    onStatuses: [...(raw.onStatuses ?? [])],
  };
}

function normalizeRoute(raw: RawRoute, index: number): RouteConfig {
  return {
    name: routeName(raw),
    methods: routeMethods(raw),
    hosts: routeHosts(raw),
    path: raw.path,
    headers: headerMatches(raw.headers ?? {}),
    priority: raw.priority ?? DEFAULTS.routePriority,
    service: raw.service,
    stripPrefix: normalizedStripPrefix(raw.stripPrefix),
    preserveHost: raw.preserveHost ?? null,
    plugins: enabledPlugins(raw.plugins),
    index,
    ...(raw.limits === undefined ? {} : { limits: routeLimits(raw.limits) }),
  };
}

function routeLimits(raw: NonNullable<RawRoute['limits']>): RouteLimits {
  const limits: RouteLimits = {};
  if (raw.maxBodySize !== undefined) limits.maxBodySize = sizeBytes(raw.maxBodySize);
  if (raw.maxHeaderSize !== undefined) limits.maxHeaderSize = sizeBytes(raw.maxHeaderSize);
  if (raw.maxUrlLength !== undefined) limits.maxUrlLength = raw.maxUrlLength;
  return limits;
}

/** The route's `name`, or one derived from it: `GET,POST /orders/:id`, `ANY /health @api.example.com`. */
export function routeName(raw: RawRoute): string {
  if (raw.name !== undefined) return raw.name;
  const hosts = routeHosts(raw);
  const base = `${routeMethods(raw).join(',') || 'ANY'} ${raw.path}`;
  return hosts.length === 0 ? base : `${base} @${hosts.join(',')}`;
}

/** Upper-case methods; empty means every method. */
export function routeMethods(raw: RawRoute): string[] {
  return (raw.methods ?? []).map((method) => method.toUpperCase());
}

/** Lower-case hosts; empty means any host. */
export function routeHosts(raw: RawRoute): string[] {
  return (raw.hosts ?? []).map((host) => host.toLowerCase());
}

/** Header matchers in file order, names lower-cased (HTTP header names are case-insensitive). */
export function headerMatches(headers: Record<string, SchemaOf<typeof HeaderMatcher>>): HeaderMatch[] {
  return Object.entries(headers).map(([rawName, matcher]): HeaderMatch => {
    const name = rawName.toLowerCase();
    if (typeof matcher === 'string') return { name, kind: 'exact', value: matcher };
    if ('regex' in matcher) return { name, kind: 'regex', regex: matcher.regex };
    return { name, kind: 'present', present: matcher.present };
  });
}

