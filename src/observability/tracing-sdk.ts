/**
 * The OpenTelemetry side of tracing, imported only when `global.tracing.enabled` (tracing.ts).
 * No context manager is registered: spans are parented explicitly, so nothing async-hook based
 * runs on the request path.
 */
import type { IncomingMessage } from 'node:http';
import { createNoopMeter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Meter, type MeterProvider, type ObservableCallback, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { Logger } from './logger.js';
import { metrics } from './metrics.js';
import type { ChildSpan, LoadedTracer, RequestSpan, RequestTracer, SpanAttributes, TracingSettings } from './tracing.js';

const propagator = new W3CTraceContextPropagator();

const headerGetter: TextMapGetter<IncomingMessage['headers']> = {
  get: (headers, key) => headers[key],
  keys: (headers) => Object.keys(headers),
};

export function openTracer(settings: TracingSettings, log: Logger): LoadedTracer {
  const exporter = new OTLPTraceExporter({ url: settings.endpoint, headers: settings.headers });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(settings.sampleRatio) }),
    // Exported at least every second, in batches of 512; past 8192 waiting spans new ones are
    // dropped (the SDK counts them) rather than slowing requests.
    spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1_000, maxExportBatchSize: 512, maxQueueSize: 8_192, selfObsMeterProvider: spanProcessorMetrics() } as BatchConfig)],
  });
  const tracer = provider.getTracer('weir');
  // The SDK reports failed exports here: a collector that is down is logged, at most once a minute.
  let loggedAt = -Infinity;
  setGlobalErrorHandler((err) => {
    const now = performance.now();
    if (now - loggedAt < 60_000) return;
    loggedAt = now;
    log.warn({ err, endpoint: settings.endpoint }, 'exporting spans failed; they are dropped (logged at most once a minute)');
  });
  log.info({ endpoint: settings.endpoint, sampleRatio: settings.sampleRatio }, 'tracing on: spans are exported by OTLP/HTTP');
  return {
    tracer: new OtelRequestTracer(tracer),
    shutdown: () => provider.shutdown(),
  };
}

/** The batch processor's options, with the SDK's (experimental) self-observability hook its shim's type leaves out. */
type BatchConfig = NonNullable<ConstructorParameters<typeof BatchSpanProcessor>[1]> & { selfObsMeterProvider: MeterProvider };

/**
 * What the span processor reports about itself (the OpenTelemetry SDK's self-observability
 * metrics: spans processed by outcome, and its queue), turned into Weir's Prometheus metrics
 * `weir_spans_total` and `weir_span_queue_spans`. The SDK's option is experimental, which is one
 * reason its version is pinned (~2.12); every other instrument it asks for is a no-op.
 */
function spanProcessorMetrics(): MeterProvider {
  const noop = createNoopMeter();
  let queue: (() => number) | null = null;
  const meter: Meter = Object.assign(Object.create(noop) as Meter, {
    createCounter: (name: string, options?: object) =>
      name !== 'otel.sdk.processor.span.processed'
        ? noop.createCounter(name, options)
        : {
            add(count: number, attributes?: Attributes) {
              const error = attributes?.[ATTR_ERROR_TYPE];
              metrics.spansProcessed(error === undefined ? 'exported' : error === 'queue_full' ? 'dropped' : 'failed', count);
            },
          },
    createObservableUpDownCounter: (name: string, options?: object) =>
      name !== 'otel.sdk.processor.span.queue.size'
        ? noop.createObservableUpDownCounter(name, options)
        : {
            addCallback(callback: ObservableCallback) {
              queue = () => {
                let queued = 0;
                void callback({ observe: (value: number) => void (queued = value) });
                return queued;
              };
              metrics.spanQueueFrom(queue);
            },
            removeCallback() {
              if (queue !== null) metrics.spanQueueGone(queue);
            },
          },
  });
  return { getMeter: () => meter };
}

class OtelRequestTracer implements RequestTracer {
  constructor(private readonly tracer: Tracer) {}

  start(req: IncomingMessage, path: string, route: string, attributes: SpanAttributes): RequestSpan {
    // An invalid or missing traceparent leaves the root context: the request starts a new trace.
    const parent = req.headers.traceparent === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, req.headers, headerGetter);
    const method = req.method ?? 'GET';
    const span = this.tracer.startSpan(
      route === '' ? method : `${method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_PATH]: path,
          [ATTR_URL_SCHEME]: 'http',
          [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
          ...(route === '' ? {} : { [ATTR_HTTP_ROUTE]: route }),
          ...(req.socket.remoteAddress === undefined ? {} : { [ATTR_CLIENT_ADDRESS]: req.socket.remoteAddress }),
          ...plain(attributes),
        },
      },
      parent,
    );
    return new OtelRequestSpan(this.tracer, span, trace.setSpan(parent, span));
  }
}

class OtelRequestSpan implements RequestSpan {
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    private readonly context: Context,
  ) {}

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  get traceparent(): string {
    return traceparentOf(this.span);
  }

  get tracestate(): string | undefined {
    return this.span.spanContext().traceState?.serialize() || undefined;
  }

  client(name: string, attributes: SpanAttributes): ChildSpan {
    return new OtelChildSpan(this.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes: plain(attributes) }, this.context));
  }

  internal(name: string, attributes: SpanAttributes): ChildSpan {
    return new OtelChildSpan(this.tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes: plain(attributes) }, this.context));
  }

  end(status: number, attributes?: SpanAttributes, error?: string): void {
    const span = this.span;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (attributes !== undefined) span.setAttributes(plain(attributes));
    // A server span is an error for 5xx only: a 4xx is the client's (semantic conventions).
    if (status >= 500 || status === 0) {
      span.setAttribute(ATTR_ERROR_TYPE, error ?? String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

class OtelChildSpan implements ChildSpan {
  readonly traceparent: string;
  readonly tracestate: string | undefined;
  private ended = false;

  constructor(private readonly span: Span) {
    this.traceparent = traceparentOf(span);
    this.tracestate = span.spanContext().traceState?.serialize() || undefined;
  }

  end(attributes?: SpanAttributes, error?: string): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if (attributes !== undefined) span.setAttributes(plain(attributes));
    if (error !== undefined) {
      span.setAttribute(ATTR_ERROR_TYPE, error);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

function traceparentOf(span: Span): string {
  const context = span.spanContext();
  return `00-${context.traceId}-${context.spanId}-0${(context.traceFlags & 1).toString(16)}`;
}

/** Attributes without the undefined ones. */
function plain(attributes: SpanAttributes): Attributes {
  const out: Attributes = {};
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
