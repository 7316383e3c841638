import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteMetrics } from '../observability/metrics.js';
import type { RouteConfig } from '../config/types.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { LogMasker } from '../masking/log.js';
import type { UpstreamService } from '../upstream/service.js';
import { requestIdFor } from '../dataplane/proxy/headers.js';
import { hasBody } from '../dataplane/http/request-body.js';
import { CallCoalescer, coalescing } from './coalesce.js';
import { serviceCaller } from './http.js';
import type { FlowPlan } from './plan.js';
import { EMPTY_PIPELINE, type Pipeline } from '../dataplane/pipeline/pipeline.js';
import { codeOf, FlowPluginContext } from './plugins.js';
import { runFlow, type FlowOutcome } from './run.js';
import type { FlowConfig, FlowContext, StepRecord } from './types.js';
import type { FlowStateStore, StoredResponse } from '../store/flow-state.js';
import { admit, fingerprintOf, keyHeaderOf, scopeOf, type KeyUse } from './idempotency.js';
import { flowResponse, problemResponse } from './response.js';
import type { JobRunner } from './jobs.js';
import type { FlowStats } from './stats.js';
import { cacheStatusOf, callSteps, consumerOf, stepsUpstreamMs, type CallRecorder } from '../calls/recorder.js';
import type { CallStep } from '../calls/record.js';
import { clientIpOf } from '../dataplane/proxy/headers.js';
import { traceIdOf, tracing, type ChildSpan, type RequestSpan } from '../observability/tracing.js';
import { logAccess } from '../observability/access-log.js';
import { cancellableService, startUnder, type CallService } from './call.js';
import type { PlannedStep } from './plan.js';
import type { TraceHeaders } from './http.js';

/** A route that a flow answers: compiled once per config version. */
export interface FlowRoute {
  readonly kind: 'flow';
  readonly route: RouteConfig;
  readonly flow: FlowConfig;
  readonly plan: FlowPlan;
  /** Plugins of the flow (and global ones), run before it like a route's. */
  readonly pipeline: Pipeline;
  readonly metrics: RouteMetrics;
}

export interface FlowSettings {
  readonly services: ReadonlyMap<string, UpstreamService>;
  readonly requestIdHeader: string;
  readonly trustRequestId: boolean;
  readonly maxBodySize: number;
  readonly log: Logger;
  /** What records a request (the call log) masks paths, headers and bodies with (src/masking). */
  readonly logMasker: LogMasker;
  /** Idempotency records, jobs and failed compensations; absent: those features are off. */
  readonly state?: FlowStateStore;
  /** Runs async flows; absent without a store. */
  readonly jobs?: JobRunner;
  /** Who holds claims made by this process (idempotency keys, jobs). */
  readonly owner: string;
  /** Observed step latencies, for explain. */
  readonly stats?: FlowStats;
  /** The call log; absent when it is off. */
  readonly calls?: CallRecorder;
  /** The access log (`global.accessLog`); absent when it is off. */
  readonly access?: Logger;
}

/**
 * Trace context of a flow request's step calls: the request's span when tracing is on (each step
 * gets a span under it, and its calls carry the step's), else the client's headers as they came.
 */
export interface FlowTraceContext {
  span?: RequestSpan;
  propagate?: TraceHeaders;
}

/** What the call log needs of a flow request beyond the response: filled in as it runs. */
export interface FlowTrace {
  startedAt: number;
  steps: CallStep[] | null;
  bytesOut: number;
  errorCode: string | null;
}

/**
 * One coalescing table per config version, so identical calls of concurrent flows share one
 * upstream request. The gateway builds one FlowSettings per version (with that version's
 * services), which makes it the natural key: a reload starts a fresh table, a call never joins a
 * request made through a retired version's services, and the old table goes with the old settings.
 */
const coalescers = new WeakMap<FlowSettings, CallCoalescer>();

function coalescerOf(settings: FlowSettings): CallCoalescer {
  let coalescer = coalescers.get(settings);
  if (coalescer === undefined) coalescers.set(settings, (coalescer = new CallCoalescer()));
  return coalescer;
}

/** A synthetic route entry so the router can match a flow like any route. */
export function flowRouteConfig(flow: FlowConfig, index: number): RouteConfig {
  return {
    name: flow.name,
    methods: [flow.method],
    hosts: [],
    path: flow.path,
    headers: [],
    priority: 0,
    service: '',
    stripPrefix: '',
    preserveHost: null,
    plugins: [],
    index,
  };
}

/** The request a flow runs on: what its templates see as `request`. Plain data, so a job can store it. */
export type FlowRequest = FlowContext['request'];

/**
 * Answers one request with a flow: reads the (JSON) body, then either runs the steps and writes
 * the mapped response (with `Server-Timing` for every step, and the optional steps that failed in
 * `Weir-Failed-Steps` and the body's `_errors`), or, for an async flow or a client that prefers
 * it, answers 202 with a job to poll. An Idempotency-Key makes a repeat get the first answer.
 */
export function handleFlow(
  req: IncomingMessage,
  res: ServerResponse,
  target: FlowRoute,
  params: Record<string, string>,
  path: string,
  query: string,
  settings: FlowSettings,
): void {
  const requestId = requestIdFor(req, settings);
  const startedAt = performance.now();
  const tracer = tracing.tracer;
  const span = tracer === null ? undefined : tracer.start(req, settings.logMasker.text(path), target.route.path, { 'weir.route': target.route.name, 'weir.flow': target.flow.name, 'weir.request_id': requestId });
  // With tracing on, calls outside a step (compensations) are parented by the request's span.
  const traceContext = span !== undefined ? { span, propagate: { traceparent: span.traceparent, tracestate: span.tracestate } } : clientTrace(req);
  const plugins =
    target.pipeline === EMPTY_PIPELINE
      ? null
      : new FlowPluginContext(req, res, target.pipeline, target.route, requestId, path, query, params, settings.requestIdHeader, settings.log, () => collectBody(req, settings.maxBodySize));
  const trace: FlowTrace | undefined = settings.calls === undefined && settings.access === undefined && span === undefined ? undefined : { startedAt, steps: null, bytesOut: 0, errorCode: null };
  // Every way a flow request ends (answered, refused by a plugin, client gone) closes the response.
  res.once('close', () => {
    const status = res.headersSent ? res.statusCode : 499;
    const durationMs = performance.now() - startedAt;
    target.metrics.done(status, durationMs);
    if (trace !== undefined) flowEnded({ trace, req, target, requestId, path, plugins, span, status, durationMs }, settings);
  });
  const send = (response: StoredResponse, extra?: Record<string, string>): void => {
    if (trace !== undefined) {
      trace.bytesOut = Buffer.byteLength(response.body);
      if (response.status >= 400) trace.errorCode = codeOf(response) ?? null;
    }
    if (plugins === null) sendResponse(res, response, requestId, settings.requestIdHeader, extra);
    else plugins.send(response, extra);
  };
  (plugins === null ? Promise.resolve(true) : plugins.admit())
    .then((admitted) => {
      if (!admitted) return void req.resume();
      return readRequestBody(req, settings.maxBodySize, plugins?.body).then(
        ({ value, raw }) => {
          const headers = plugins === null ? req.headers : plugins.flowHeaders();
          const request: FlowRequest = { method: req.method!, path, params, query: parseQuery(query), headers, body: value };
          return answer(req, res, target, request, raw, query, requestId, settings, send, trace, traceContext);
        },
        (err: BodyError) => send(problemResponse(err.code, err.message, requestId, req.url)),
      );
    })
    .catch((err: unknown) => {
      settings.log.error({ err, requestId, flow: target.flow.name }, 'flow crashed');
      if (!res.headersSent) send(problemResponse('WEIR_INTERNAL', 'the flow failed unexpectedly', requestId, req.url));
    });
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  target: FlowRoute,
  request: FlowRequest,
  rawBody: Buffer,
  query: string,
  requestId: string,
  settings: FlowSettings,
  send: (response: StoredResponse, extra?: Record<string, string>) => void,
  trace: FlowTrace | undefined,
  traceContext: FlowTraceContext | undefined,
): Promise<void> {
  const { flow } = target;
  const refuse = (code: ErrorCode, detail: string, headers: Record<string, string> = {}) => send(problemResponse(code, detail, requestId, req.url, {}, headers));

  const async = flow.mode === 'async' || prefersRespondAsync(req);
  let callbackUrl: string | null = null;
  if (async) {
    if (settings.jobs === undefined) return refuse('WEIR_INTERNAL', 'async flows need the job store, which this gateway has not got');
    const callback = req.headers['weir-callback-url'];
    if (callback !== undefined) {
      const checked = settings.jobs.checkCallbackUrl(Array.isArray(callback) ? callback.join(',') : callback);
      if (!checked.ok) return refuse('WEIR_CALLBACK_REFUSED', checked.detail);
      callbackUrl = checked.url;
    }
  }

  let key: KeyUse | null = null;
  if (flow.idempotency !== null && settings.state !== undefined) {
    const header = keyHeaderOf(req);
    if (header.kind === 'invalid') return refuse('WEIR_IDEMPOTENCY_KEY_INVALID', header.detail);
    if (header.kind === 'none' && flow.idempotency.required) return refuse('WEIR_IDEMPOTENCY_KEY_MISSING', `${flow.method} ${flow.path} needs an Idempotency-Key header (a unique value per operation, reused when retrying it)`);
    if (header.kind === 'key') {
      key = {
        store: settings.state,
        scope: scopeOf(flow.name, req),
        key: header.key,
        fingerprint: fingerprintOf(req, request.path, query, rawBody),
        owner: settings.owner,
        leaseMs: 2 * flow.timeoutMs + 60_000,
        waitMs: Math.min(flow.timeoutMs, 30_000),
      };
      const admission = await admit(key);
      if (admission.kind === 'refuse') return refuse(admission.code, admission.detail, admission.retryAfter === undefined ? {} : { 'retry-after': String(admission.retryAfter) });
      if (admission.kind === 'replay') {
        // The stored Server-Timing described the first run, not this answer.
        const { 'server-timing': _, ...headers } = admission.response.headers;
        return send({ ...admission.response, headers }, { 'idempotent-replayed': 'true' });
      }
    }
  }

  let response: StoredResponse;
  try {
    if (async) {
      response = await settings.jobs!.submit(target, request, requestId, callbackUrl);
      if (prefersRespondAsync(req)) response.headers['preference-applied'] = 'respond-async';
    } else {
      // With a key, the flow runs to its end even if the client leaves: its retry gets the result.
      response = await runFlowRequest(target, request, requestId, req.url, settings, key === null ? clientGone(res) : undefined, trace, traceContext);
    }
  } catch (error) {
    if (key !== null) await key.store.releaseKey(key.scope, key.key, key.owner);
    throw error;
  }
  if (key !== null) await key.store.completeKey(key.scope, key.key, key.owner, response, Date.now() + flow.idempotency!.ttlMs);
  if (!res.destroyed) send(response);
}

/**
 * Runs the flow on `request` and turns the outcome into a response. Used for requests and for
 * async jobs alike. Failed flows are logged; failed compensations are reported for an operator.
 */
export async function runFlowRequest(
  target: FlowRoute,
  request: FlowRequest,
  requestId: string,
  instance: string | undefined,
  settings: FlowSettings,
  signal?: AbortSignal,
  trace?: FlowTrace,
  traceContext?: FlowTraceContext,
): Promise<StoredResponse> {
  const ctx: FlowContext = { request, steps: {} };
  const call = coalescing(serviceCaller(settings.services, requestId, settings.requestIdHeader, traceContext?.propagate), coalescerOf(settings));
  const span = traceContext?.span;
  const stepSpans: Array<ChildSpan | undefined> = [];
  const outcome = await runFlow(
    target.plan,
    ctx,
    call,
    span === undefined
      ? { timeoutMs: target.flow.timeoutMs, signal }
      : { timeoutMs: target.flow.timeoutMs, signal, stepService: (step, i, service) => tracedStep(service, (stepSpans[i] = stepSpanOf(span, step))) },
  );
  if (span !== undefined) endStepSpans(stepSpans, outcome.records);
  settings.stats?.record(target.flow.name, outcome.records);
  if (trace !== undefined) trace.steps = callSteps(outcome.records);
  if (!outcome.ok) {
    settings.log.warn({ requestId, flow: target.flow.name, code: outcome.code, failedStep: outcome.failedStep, errors: outcome.errors, compensations: outcome.compensations }, 'flow failed');
    reportFailedCompensations(outcome, target.flow, requestId, settings);
  }
  return flowResponse(target.flow, outcome, requestId, instance);
}

/** The client's trace context, passed to step calls unchanged while tracing is off. */
function clientTrace(req: IncomingMessage): FlowTraceContext | undefined {
  const { traceparent, tracestate } = req.headers;
  if (typeof traceparent !== 'string') return undefined;
  return { propagate: { traceparent, tracestate: Array.isArray(tracestate) ? tracestate.join(',') : tracestate } };
}

function stepSpanOf(span: RequestSpan, step: PlannedStep): ChildSpan {
  return span.internal(`step ${step.name}`, { 'weir.step.name': step.name, 'weir.step.kind': step.kind, 'weir.step.service': step.kind === 'transform' ? undefined : step.config.call.service });
}

/** The step's CallService: its calls carry the step span's context. */
function tracedStep(service: CallService, child: ChildSpan): CallService {
  return cancellableService((call, cancel, resolve, reject) => startUnder(service, { ...call, traceparent: child.traceparent, tracestate: child.tracestate }, cancel, resolve, reject));
}

/** Ends each step's span with what its record says (records are in plan order). */
function endStepSpans(spans: ReadonlyArray<ChildSpan | undefined>, records: readonly StepRecord[]): void {
  for (let i = 0; i < spans.length; i++) {
    const child = spans[i];
    const record = records[i];
    if (child === undefined || record === undefined) continue;
    child.end(
      {
        'weir.step.status': record.status,
        'weir.step.attempts': record.calls,
        'weir.step.cache': record.cache,
        'weir.step.coalesced': record.coalesced,
        'http.response.status_code': record.httpStatus,
      },
      record.status === 'failed' ? (record.error?.code ?? 'failed') : undefined,
    );
  }
}

/** A finished flow request, as its span, the access log and the call log see it. */
interface FlowEnd {
  trace: FlowTrace;
  req: IncomingMessage;
  target: FlowRoute;
  requestId: string;
  path: string;
  plugins: FlowPluginContext | null;
  span: RequestSpan | undefined;
  /** As sent; 499 when the client left before the answer. */
  status: number;
  durationMs: number;
}

/** Ends the request's span and writes its access line and call record, from one reading of how it went. */
function flowEnded(end: FlowEnd, settings: FlowSettings): void {
  const { trace, req, plugins, span, status } = end;
  const errorCode = plugins?.answered?.code ?? trace.errorCode;
  const attempts = trace.steps === null ? 0 : trace.steps.reduce((n, s) => n + s.attempts, 0);
  span?.end(status, { 'weir.attempts': attempts, 'weir.error_code': errorCode ?? undefined }, errorCode ?? undefined);
  if (settings.access === undefined && settings.calls === undefined) return;
  const length = req.headers['content-length'];
  const bytesIn = length === undefined ? 0 : Number(length) || 0;
  const bytesOut = plugins?.answered?.bytes ?? trace.bytesOut;
  const consumer = consumerOf(plugins?.state);
  const traceId = span?.traceId ?? traceIdOf(req.headers.traceparent);
  if (settings.access !== undefined) {
    logAccess(settings.access, {
      requestId: end.requestId,
      method: req.method!,
      path: end.path,
      status,
      durationMs: end.durationMs,
      route: end.target.route.name,
      kind: 'flow',
      consumer,
      target: null,
      attempts,
      traceId,
      bytesIn,
      bytesOut,
      errorCode: errorCode ?? null,
    });
  }
  if (settings.calls !== undefined) recordFlowCall(settings.calls, end, { errorCode, attempts, bytesIn, bytesOut, consumer, traceId });
}

/** The call log's record of a flow request, once its response is done (or the client left). */
function recordFlowCall(
  calls: CallRecorder,
  { trace, req, target, requestId, path, plugins, status, durationMs }: FlowEnd,
  seen: { errorCode: string | null | undefined; attempts: number; bytesIn: number; bytesOut: number; consumer: string | null; traceId: string | null },
): void {
  const steps = trace.steps;
  const upstreamMs = steps === null ? 0 : Math.min(durationMs, stepsUpstreamMs(steps));
  calls.record({
    id: requestId,
    at: Math.round(performance.timeOrigin + trace.startedAt),
    node: calls.node,
    worker: calls.worker,
    team: null,
    api: null,
    apiVersion: null,
    route: target.route.name,
    kind: 'flow',
    consumer: seen.consumer,
    clientIp: clientIpOf(req),
    method: req.method!,
    path,
    status,
    errorCode: seen.errorCode ?? null,
    bytesIn: seen.bytesIn,
    bytesOut: seen.bytesOut,
    durationMs,
    gatewayMs: durationMs - upstreamMs,
    upstreamMs,
    targets: [],
    attempts: seen.attempts,
    // A step's calls mix retries, fan-out and batches: its own `attempts` tell; the flow has no retries of its own.
    retries: 0,
    cache: cacheStatusOf(plugins?.state),
    steps,
    traceId: seen.traceId,
  });
}

/** Aborts when the client closes the connection before the answer was written. */
function clientGone(res: ServerResponse): AbortSignal {
  const aborter = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborter.abort(new Error('client closed the connection'));
  });
  return aborter.signal;
}

/** RFC 7240: `Prefer: respond-async` (among other preferences). */
function prefersRespondAsync(req: IncomingMessage): boolean {
  const prefer = req.headers['prefer'];
  return typeof prefer === 'string' && /(?:^|[,;\s])respond-async(?:$|[,;\s=])/i.test(prefer);
}

/**
 * A compensation that failed leaves a change nobody undid (a booking nobody pays for): it is
 * logged at error with everything an operator needs to finish the job by hand, and kept in the
 * store, never dropped.
 */
function reportFailedCompensations(outcome: FlowOutcome, flow: FlowConfig, requestId: string, settings: FlowSettings): void {
  for (const report of outcome.compensations) {
    if (report.status !== 'failed') continue;
    settings.log.error({ requestId, flow: flow.name, step: report.step, call: report.call, attempts: report.attempts, httpStatus: report.httpStatus, error: report.error }, 'compensation failed: a finished step of a failed flow was NOT undone');
    settings.state
      ?.addCompensationFailure({ at: Date.now(), flow: flow.name, requestId, step: report.step, call: report.call ?? null, error: report.error ?? null })
      .catch((err: unknown) => settings.log.error({ err, requestId, flow: flow.name, step: report.step }, 'could not store a failed compensation'));
  }
}

/** Writes a response, adding the request id (and `extra` headers). */
export function sendResponse(res: ServerResponse, response: StoredResponse, requestId: string, requestIdHeader: string, extra?: Record<string, string>): void {
  res.writeHead(response.status, {
    ...response.headers,
    ...extra,
    'content-length': Buffer.byteLength(response.body),
    'cache-control': 'no-store',
    [requestIdHeader]: requestId,
  });
  res.end(res.req.method === 'HEAD' ? undefined : response.body);
}

function parseQuery(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [key, value] of new URLSearchParams(query)) {
    const existing = out[key];
    if (existing === undefined) out[key] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[key] = [existing, value];
  }
  return out;
}

class BodyError extends Error {
  constructor(readonly status: number, readonly code: ErrorCode, message: string) {
    super(message);
  }
}

/**
 * The request body as data (JSON when it says so, text otherwise, null when there is none) and its
 * bytes — those a request plugin already read (`read`), or read now.
 */
function readRequestBody(req: IncomingMessage, limit: number, read?: Promise<Buffer>): Promise<{ value: unknown; raw: Buffer }> {
  if (read === undefined && !hasBody(req)) {
    req.resume();
    return Promise.resolve({ value: null, raw: Buffer.alloc(0) });
  }
  return (read ?? collectBody(req, limit)).then((raw) => {
    if (!hasBody(req)) return { value: null, raw };
    const text = raw.toString('utf8');
    const type = req.headers['content-type'] ?? '';
    if (!type.includes('json')) return { value: text, raw };
    try {
      return { value: JSON.parse(text) as unknown, raw };
    } catch {
      throw new BodyError(400, 'WEIR_FLOW_BAD_INPUT', 'the request body says it is JSON but does not parse');
    }
  });
}

/** The request body's bytes, refused (BodyError) beyond `limit`. */
function collectBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  if (!hasBody(req)) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      if (size < 0) return; // already refused: let the rest drain
      size += chunk.length;
      if (limit > 0 && size > limit) {
        size = -1;
        chunks.length = 0;
        reject(new BodyError(413, 'WEIR_BODY_TOO_LARGE', `the request body is larger than the limit of ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', (err) => reject(new BodyError(400, 'WEIR_BAD_REQUEST', err.message)));
    req.on('end', () => {
      if (size >= 0) resolve(Buffer.concat(chunks, size));
    });
  });
}
