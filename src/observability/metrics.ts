/**
 * Prometheus metrics (prom-client). Each process keeps its own registry; the admin port's
 * `GET /metrics` asks every worker for a snapshot over the cluster connection and answers with
 * them and the primary's own merged by prom-client's aggregation (counters and histograms
 * summed; process gauges kept apart by a `worker` label).
 *
 * The request path never touches a label map: routes, flows and upstream targets get their
 * children (counters and histograms with the labels bound) when a config version is compiled, and
 * a request's status picks its child from a small per-route table. What changes only when it is
 * looked at (breaker states, in-flight counts) is read at scrape time by collect callbacks.
 */
import client from 'prom-client';

/** Histogram buckets in seconds: a gateway's answers, from sub-millisecond to slow upstreams. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

type CounterChild = client.Counter.Internal;
type HistogramChild = client.Histogram.Internal<string>;

/** What one route (or flow) records when a request ends; bound once per config version. */
export interface RouteMetrics {
  /** `durationMs`: from the request's arrival to the end of the answer; `cache`: the cache plugin's X-Cache, if it ran. */
  done(status: number, durationMs: number, cache?: string | null): void;
}

/** What one upstream target records per attempt; bound when the target is created. */
export interface TargetMetrics {
  /** Time to the response headers of an attempt that got an answer. */
  answered(status: number, ms: number): void;
  /** An attempt that got no answer: connect failure, timeout, reset. */
  failed(kind: 'connect-failure' | 'timeout' | 'failure'): void;
}

const NO_ROUTE: RouteMetrics = { done() {} };
const NO_TARGET: TargetMetrics = { answered() {}, failed() {} };

/** The state a breaker gauge shows: 0 closed, 1 half-open, 2 open. */
export const BREAKER_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;

/** What the scrape reads of this process's call log: its queue, and (the node's writer) the totals. */
export interface CallLogSources {
  /** Records waiting in this process's queue (a worker's, or the writer's). */
  queued(): number;
  /** The writer's totals, over the node (workers' drops included); absent in a worker. */
  totals?(): { written: number; dropped: number; failed: number; pruned: number };
}

/** What the scrape reads from the data plane of this process. */
export interface ScrapeSources {
  /** Every target with its service name and breaker state, and how many requests it has in flight. */
  targets(): Iterable<{ service: string; target: string; breaker: keyof typeof BREAKER_VALUES | null; active: number }>;
}

class Metrics {
  readonly registry = new client.Registry();
  private enabled = true;
  private started = false;
  private sources: ScrapeSources | null = null;
  private readonly requests = new client.Counter({
    name: 'weir_requests_total',
    help: 'Requests answered, by route (or flow), API and status.',
    labelNames: ['route', 'api', 'status'],
    registers: [this.registry],
  });
  private readonly duration = new client.Histogram({
    name: 'weir_request_duration_seconds',
    help: 'Time from a request\'s arrival to the end of its answer, by route (or flow) and API.',
    labelNames: ['route', 'api'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamDuration = new client.Histogram({
    name: 'weir_upstream_duration_seconds',
    help: 'Time from sending an attempt to its response headers, by service and target.',
    labelNames: ['service', 'target'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly upstreamAttempts = new client.Counter({
    name: 'weir_upstream_attempts_total',
    help: 'Attempts at upstream targets by outcome: 2xx, 3xx, 4xx, 5xx, connect-failure, timeout, failure (reset, bad answer).',
    labelNames: ['service', 'target', 'outcome'],
    registers: [this.registry],
  });
  private readonly cached = new client.Counter({
    name: 'weir_cache_requests_total',
    help: 'Requests of routes with the cache plugin, by route and result (HIT, STALE, MISS, BYPASS).',
    labelNames: ['route', 'result'],
    registers: [this.registry],
  });
  private readonly rateLimited = new client.Counter({
    name: 'weir_rate_limited_total',
    help: 'Requests refused with 429 by a rate-limit policy, by route and policy.',
    labelNames: ['route', 'policy'],
    registers: [this.registry],
  });

  private readonly checkSuccess = new client.Gauge({
    name: 'weir_synthetic_check_success',
    help: 'Whether the last run of each synthetic check passed: 1 passed, 0 failed (the node that ran it reports it).',
    labelNames: ['check'],
    registers: [this.registry],
    aggregator: 'max',
  });
  private readonly checkDuration = new client.Histogram({
    name: 'weir_synthetic_check_duration_seconds',
    help: 'Latency of synthetic check runs (request sent to the end of the answer), by check.',
    labelNames: ['check'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  private callLog: CallLogSources | null = null;
  private spanQueue: (() => number) | null = null;
  private readonly spans = new client.Counter({
    name: 'weir_spans_total',
    help: 'Sampled spans by what became of them: exported; dropped (the export queue was full); failed (the exporter reported an error).',
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  constructor() {
    const sources = (): ScrapeSources | null => this.sources;
    const callLog = (): CallLogSources | null => this.callLog;
    const spanQueue = (): (() => number) | null => this.spanQueue;
    new client.Gauge({
      name: 'weir_span_queue_spans',
      help: 'Finished spans waiting to be exported, over the processes (tracing on).',
      registers: [this.registry],
      collect() {
        const queued = spanQueue();
        if (queued !== null) this.set(queued());
      },
    });
    new client.Gauge({
      name: 'weir_call_log_queue_records',
      help: 'Call log records waiting to be written, over the processes (each worker\'s queue and the writer\'s).',
      registers: [this.registry],
      collect() {
        const sources = callLog();
        if (sources !== null) this.set(sources.queued());
      },
    });
    new client.Counter({
      name: 'weir_call_log_records_total',
      help: 'Call log records by outcome: written; dropped (a queue was full); failed (the store refused their batch).',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect() {
        const totals = callLog()?.totals?.();
        if (totals === undefined) return;
        this.reset();
        for (const outcome of ['written', 'dropped', 'failed'] as const) this.inc({ outcome }, totals[outcome]);
      },
    });
    new client.Counter({
      name: 'weir_call_log_pruned_total',
      help: 'Call log records deleted by retention since the node started.',
      registers: [this.registry],
      collect() {
        const totals = callLog()?.totals?.();
        if (totals === undefined) return;
        this.reset();
        this.inc(totals.pruned);
      },
    });
    new client.Gauge({
      name: 'weir_circuit_breaker_state',
      help: 'Circuit breaker of each target: 0 closed, 1 half-open, 2 open (the worst over the workers: each worker has its own breakers).',
      labelNames: ['service', 'target'],
      registers: [this.registry],
      aggregator: 'max',
      collect() {
        this.reset();
        for (const t of sources()?.targets() ?? []) if (t.breaker !== null) this.set({ service: t.service, target: t.target }, BREAKER_VALUES[t.breaker]);
      },
    });
    new client.Gauge({
      name: 'weir_upstream_in_flight',
      help: 'Requests in flight to each target, over the workers.',
      labelNames: ['service', 'target'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const t of sources()?.targets() ?? []) this.set({ service: t.service, target: t.target }, t.active);
      },
    });
  }

  /**
   * Called once per process: the process's default metrics (memory, CPU, event-loop lag, GC),
   * labelled with `worker` so the primary's aggregation keeps them apart.
   */
  start(worker: string): void {
    if (this.started) return;
    this.started = true;
    client.collectDefaultMetrics({ register: this.registry, labels: { worker }, eventLoopMonitoringPrecision: 20 });
  }

  /** Turns recording off for routes and targets bound from now on (global.metrics.enabled). */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
  }

  /** Spans the tracing SDK is done with (see tracing-sdk.ts). */
  spansProcessed(outcome: 'exported' | 'dropped' | 'failed', count: number): void {
    this.spans.inc({ outcome }, count);
  }

  /** Where the scrape reads how many spans wait for export (the tracing SDK's queue). */
  spanQueueFrom(queued: () => number): void {
    this.spanQueue = queued;
  }

  /** That queue is gone (tracing turned off or reconfigured: a newer one may have taken its place). */
  spanQueueGone(queued: () => number): void {
    if (this.spanQueue === queued) this.spanQueue = null;
  }

  /** Where the scrape reads the call log's queue depth and totals. */
  callLogFrom(sources: CallLogSources): void {
    this.callLog = sources;
  }

  /** Where the scrape reads breaker states and in-flight counts. */
  scrapeFrom(sources: ScrapeSources): void {
    this.sources = sources;
  }

  /** The recorder of one route or flow (route names `api:route` carry their API). */
  route(name: string): RouteMetrics {
    if (!this.enabled) return NO_ROUTE;
    const colon = name.indexOf(':');
    const api = colon === -1 ? '' : name.slice(0, colon);
    const duration: HistogramChild = this.duration.labels(name, api);
    const byStatus: Array<CounterChild | undefined> = [];
    const byCache = new Map<string, CounterChild>();
    const { requests, cached } = this;
    return {
      done(status, durationMs, cache) {
        (byStatus[status] ??= requests.labels(name, api, String(status))).inc();
        duration.observe(durationMs / 1000);
        if (cache != null) {
          let child = byCache.get(cache);
          if (child === undefined) byCache.set(cache, (child = cached.labels(name, cache)));
          child.inc();
        }
      },
    };
  }

  /** Requests no route took (404, bad request, no config yet). */
  unrouted(status: number): void {
    if (this.enabled) this.requests.labels('', '', String(status)).inc();
  }

  /** The recorder of one upstream target. */
  target(service: string, target: string): TargetMetrics {
    if (!this.enabled) return NO_TARGET;
    const latency: HistogramChild = this.upstreamDuration.labels(service, target);
    const attempts = this.upstreamAttempts;
    const byClass: CounterChild[] = ['1xx', '2xx', '3xx', '4xx', '5xx'].map((c) => attempts.labels(service, target, c));
    const failures = {
      'connect-failure': attempts.labels(service, target, 'connect-failure'),
      timeout: attempts.labels(service, target, 'timeout'),
      failure: attempts.labels(service, target, 'failure'),
    };
    return {
      answered(status, ms) {
        byClass[Math.min(4, Math.max(0, Math.floor(status / 100) - 1))]!.inc();
        if (ms >= 0) latency.observe(ms / 1000);
      },
      failed(kind) {
        failures[kind].inc();
      },
    };
  }

  /** A synthetic check ran (in the primary, or the single process). */
  syntheticRun(check: string, ok: boolean, latencyMs: number): void {
    this.checkSuccess.labels(check).set(ok ? 1 : 0);
    this.checkDuration.labels(check).observe(latencyMs / 1000);
  }

  /** A synthetic check was deleted: its series end. */
  syntheticForget(check: string): void {
    this.checkSuccess.remove(check);
    this.checkDuration.remove(check);
  }

  rateLimitRefused(route: string, policy: string): void {
    if (this.enabled) this.rateLimited.labels(route, policy).inc();
  }
}

/** This process's metrics. */
export const metrics = new Metrics();

/** One process's metrics as plain data: what a worker sends the primary for a scrape. */
export type MetricsSnapshot = client.MetricObjectWithValues<client.MetricValue<string>>[];

export function snapshot(): Promise<MetricsSnapshot> {
  return metrics.registry.getMetricsAsJSON() as Promise<MetricsSnapshot>;
}

/**
 * The exposition of several processes' snapshots (the workers' and the primary's own) merged by
 * prom-client's aggregation: counters and histograms summed, gauges by their aggregator.
 */
export function exposition(snapshots: readonly MetricsSnapshot[]): Promise<string> {
  return client.AggregatorRegistry.aggregate(snapshots as MetricsSnapshot[]).metrics();
}

export const EXPOSITION_CONTENT_TYPE = client.Registry.PROMETHEUS_CONTENT_TYPE;
