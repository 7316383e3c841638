import type { FlowConfig } from '../flows/types.js';
import type { JobOptions } from '../flows/jobs.js';
import type { RateLimitSettings } from '../ratelimit/runtime.js';
import type { LogMaskingSettings } from '../masking/log.js';
import type { CacheSettings } from '../cache/runtime.js';
import type { TracingSettings } from '../observability/tracing.js';

/**
 * The normalised configuration: what `loadConfig` returns after validation, with every default
 * filled in, durations in milliseconds and sizes in bytes. The data plane compiles this; it never
 * sees raw YAML.
 */

export type BalancingAlgorithm = 'round-robin' | 'weighted-round-robin' | 'least-connections' | 'consistent-hash';

export type HashKey = { header: string } | { cookie: string } | { clientIp: true };

export interface TargetConfig {
  /** Origin of the target, e.g. `http://127.0.0.1:9001` (no path). */
  origin: string;
  /** Path prefix from the target URL (`''` when none), prepended to proxied paths. */
  basePath: string;
  weight: number;
}

export interface ActiveHealthConfig {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  /** Empty means any 2xx or 3xx. */
  expectStatus: number[];
}

export interface PassiveHealthConfig {
  failures: number;
  ejectForMs: number;
  maxEjectForMs: number;
  onStatuses: number[];
}

export interface RetryConfig {
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  onStatuses: number[];
  nonIdempotent: boolean;
}

export interface BreakerConfig {
  failureThreshold: number;
  openForMs: number;
  halfOpenRequests: number;
}

export interface ServiceConfig {
  name: string;
  targets: TargetConfig[];
  balancing: BalancingAlgorithm;
  hashOn: HashKey | null;
  preserveHost: boolean;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  totalTimeoutMs: number;
  retries: RetryConfig;
  /** null when disabled. */
  circuitBreaker: BreakerConfig | null;
  activeHealth: ActiveHealthConfig | null;
  /** null when disabled. */
  passiveHealth: PassiveHealthConfig | null;
  connections: number;
  keepAliveTimeoutMs: number;
}

export type HeaderMatch =
  | { name: string; kind: 'exact'; value: string }
  | { name: string; kind: 'regex'; regex: string }
  | { name: string; kind: 'present'; present: boolean };

export interface PluginConfig {
  name: string;
  config: Record<string, unknown>;
}

export interface RouteConfig {
  name: string;
  /** Empty means every method. */
  methods: string[];
  /** Empty means any host. Lower-case; may start with `*.`. */
  hosts: string[];
  path: string;
  headers: HeaderMatch[];
  priority: number;
  service: string;
  stripPrefix: string;
  /** null: use the service's setting. */
  preserveHost: boolean | null;
  plugins: PluginConfig[];
  /** Position in the file, for error messages and stable ordering. */
  index: number;
  /** The route's own size limits; absent when it has none (the global ones apply). */
  limits?: RouteLimits;
}

/** `routes[].limits`, in bytes; an absent field leaves the global limit (if any) in force. */
export interface RouteLimits {
  maxBodySize?: number;
  maxHeaderSize?: number;
  maxUrlLength?: number;
}

export type ForwardedMode = 'x-forwarded' | 'rfc7239' | 'both' | 'none';

export interface GlobalConfig {
  listen: { host: string; port: number };
  admin: { host: string; port: number };
  limits: {
    maxHeaderSize: number;
    maxBodySize: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
  };
  proxy: {
    via: boolean;
    forwarded: ForwardedMode;
    requestIdHeader: string;
    trustRequestId: boolean;
  };
  shutdown: { drainTimeoutMs: number };
  plugins: PluginConfig[];
  /** Async flow jobs and their callbacks. */
  jobs: JobOptions;
  /** Counters of the rate-limit plugin. */
  rateLimits: RateLimitSettings;
  /** Masking of what Weir logs; null: credentials only. */
  masking: LogMaskingSettings | null;
  /** Prometheus metrics on the admin port. */
  metrics: { enabled: boolean };
  /** Stores of the cache plugin. */
  cache: CacheSettings;
  /** The call log (src/calls/). */
  callLog: CallLogSettings;
  /** Synthetic checks (src/checks/). */
  synthetic: SyntheticSettings;
  /** OpenTelemetry tracing (src/observability/tracing.ts). */
  tracing: TracingSettings;
  /** One JSON line per request on stdout. */
  accessLog: boolean;
}

export interface SyntheticSettings {
  /** The shortest interval a check may have. */
  minIntervalMs: number;
  /** Runs older than this are deleted. */
  retentionMs: number;
}

export interface CallLogSettings {
  enabled: boolean;
  store: 'default' | 'sqlite';
  maxAgeMs: number;
  maxRows: number;
  rollupRetentionMs: number;
  hourlyRollupRetentionMs: number;
  dailyRollupRetentionMs: number;
  queueSize: number;
  batchSize: number;
  flushIntervalMs: number;
}

export interface Config {
  global: GlobalConfig;
  services: Map<string, ServiceConfig>;
  routes: RouteConfig[];
  /** Composed endpoints; see src/flows/. */
  flows: FlowConfig[];
  /** sha256 of the source text, short: identifies a config version in logs and /healthz. */
  version: string;
  /** Where it came from (file path), for messages. */
  source: string;
}

/** One problem found in a config file. */
export interface ConfigIssue {
  /** JSON-pointer-like path, e.g. `/services/orders/timeouts/connect`. */
  path: string;
  /** 1-based line in the source file (0 when unknown). */
  line: number;
  column: number;
  message: string;
}
