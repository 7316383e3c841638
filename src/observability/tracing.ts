import type { IncomingMessage } from 'node:http';
import type { Logger } from './logger.js';

/** `global.tracing`, normalised. */
export interface TracingSettings {
  enabled: boolean;
  /** OTLP/HTTP traces URL (…/v1/traces). */
  endpoint: string;
  /** Sent with every export (an API key for a hosted collector). */
  headers: Record<string, string>;
  /** Share of new traces recorded (0–1); a client's sampled flag decides for its own traces. */
  sampleRatio: number;
  serviceName: string;
}

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** A span Weir starts for something it calls: what goes upstream in `traceparent`/`tracestate`. */
export interface ChildSpan {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** Ends the span (once; later calls do nothing). `error`: what went wrong (error.type). */
  end(attributes?: SpanAttributes, error?: string): void;
}

/** The server span of one request, and what it starts under it. */
export interface RequestSpan {
  readonly traceId: string;
  /** This span's context as headers, for calls made outside a child span (flow compensations). */
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  /** A CLIENT span for one upstream call, starting now. */
  client(name: string, attributes: SpanAttributes): ChildSpan;
  /** An INTERNAL span starting now (a flow step). */
  internal(name: string, attributes: SpanAttributes): ChildSpan;
  /** Ends the request's span with its response status (and the Weir error code, if any). */
  end(status: number, attributes?: SpanAttributes, error?: string): void;
}

export interface RequestTracer {
  /**
   * Starts the SERVER span of a request: a child of the client's `traceparent` when it is valid,
   * else the root of a new trace. `route` is the matched route's path pattern ('' when none).
   */
  start(req: IncomingMessage, path: string, route: string, attributes: SpanAttributes): RequestSpan;
}

/** What the SDK module hands back: the tracer and how to flush and stop it. */
export interface LoadedTracer {
  readonly tracer: RequestTracer;
  shutdown(): Promise<void>;
}

/**
 * The process's tracing (OpenTelemetry, W3C Trace Context, OTLP/HTTP export). With tracing off
 * the SDK is never loaded and a request pays one check (`tracing.tracer === null`); Weir's
 * proxy then forwards `traceparent`/`tracestate` untouched, like any header. With it on, the SDK
 * loads (`import()`) when the config says so; spans are exported in batches off the request path.
 */
/** How long a shutdown waits for the last spans to be exported. */
const CLOSE_WAIT_MS = 3_000;

class TracingRuntime {
  /** Set once the SDK has loaded for an enabled config. */
  tracer: RequestTracer | null = null;
  private loaded: LoadedTracer | null = null;
  private loading: Promise<void> | null = null;
  private key = '';
  private log: Logger | null = null;

  configure(settings: TracingSettings, log: Logger): void {
    this.log = log;
    const key = settings.enabled ? JSON.stringify(settings) : '';
    if (key === this.key) return;
    this.key = key;
    this.stopLoaded();
    if (!settings.enabled) {
      this.loading = null;
      return;
    }
    const loading: Promise<void> = import('./tracing-sdk.js').then(
      ({ openTracer }) => {
        if (this.loading !== loading) return;
        this.loading = null;
        this.loaded = openTracer(settings, log);
        this.tracer = this.loaded.tracer;
      },
      (err: unknown) => log.error({ err }, 'the OpenTelemetry SDK could not be loaded; requests are not traced'),
    );
    this.loading = loading;
  }

  /** Before a process serves its first request: the SDK has loaded (when tracing is on). */
  async beforeServing(): Promise<void> {
    await this.loading;
  }

  /** Flushes the spans not yet exported and stops (shutdown). */
  async close(): Promise<void> {
    await this.loading;
    this.loading = null;
    this.key = '';
    const loaded = this.loaded;
    this.loaded = null;
    this.tracer = null;
    if (loaded === null) return;
    // A collector that does not answer must not hold up a shutdown: what is not out in time is dropped.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS, 'late')));
    const flushed = loaded.shutdown().then(
      () => 'done' as const,
      (err: unknown) => this.log?.warn({ err }, 'flushing spans failed'),
    );
    if ((await Promise.race([flushed, late])) === 'late') this.log?.warn({ waitedMs: CLOSE_WAIT_MS }, 'the span exporter did not finish in time; unsent spans are dropped');
    clearTimeout(timer);
  }

  /** A reload changed or turned off tracing: the old exporter flushes in the background. */
  private stopLoaded(): void {
    const loaded = this.loaded;
    this.loaded = null;
    this.tracer = null;
    loaded?.shutdown().catch((err: unknown) => this.log?.warn({ err }, 'flushing spans failed'));
  }
}

export const tracing = new TracingRuntime();

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

/**
 * The trace id of a client's `traceparent` (what the access log shows while tracing is off), or
 * null when there is none or it is malformed.
 */
export function traceIdOf(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const id = TRACEPARENT.exec(header.trim())?.[1];
  return id === undefined || id === '00000000000000000000000000000000' || header.startsWith('ff') ? null : id;
}
