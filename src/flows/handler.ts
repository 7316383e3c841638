import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteConfig } from '../config/types.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { UpstreamService } from '../upstream/service.js';
import { requestIdFor } from '../dataplane/proxy/headers.js';
import { hasBody } from '../dataplane/http/request-body.js';
import { CallCoalescer, coalescing } from './coalesce.js';
import { serviceCaller } from './http.js';
import type { FlowPlan } from './plan.js';
import { runFlow, type FlowOutcome } from './run.js';
import type { FlowConfig, FlowContext, StepRecord } from './types.js';

/** A route that a flow answers: compiled once per config version. */
export interface FlowRoute {
  readonly kind: 'flow';
  readonly route: RouteConfig;
  readonly flow: FlowConfig;
  readonly plan: FlowPlan;
}

export interface FlowSettings {
  readonly services: ReadonlyMap<string, UpstreamService>;
  readonly requestIdHeader: string;
  readonly trustRequestId: boolean;
  readonly maxBodySize: number;
  readonly log: Logger;
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

/**
 * Answers one request with a flow: reads the (JSON) body, builds the context, runs the steps and
 * writes the mapped response — with `Server-Timing` for every step, and the optional steps that
 * failed listed in `Weir-Failed-Steps` and in the body's `_errors`.
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
  const aborter = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) aborter.abort(new Error('client closed the connection'));
  });
  readJsonBody(req, settings.maxBodySize).then(
    async (body) => {
      const ctx: FlowContext = {
        request: { method: req.method!, path, params, query: parseQuery(query), headers: req.headers, body },
        steps: {},
      };
      const call = coalescing(serviceCaller(settings.services, requestId, settings.requestIdHeader), coalescerOf(settings));
      const outcome = await runFlow(target.plan, ctx, call, { timeoutMs: target.flow.timeoutMs, signal: aborter.signal });
      if (res.destroyed) return;
      if (!outcome.ok) {
        settings.log.warn({ requestId, flow: target.flow.name, code: outcome.code, failedStep: outcome.failedStep, errors: outcome.errors }, 'flow failed');
      }
      respond(req, res, target.flow, outcome, requestId, settings.requestIdHeader);
    },
    (err: BodyError) => {
      writeJson(res, err.status, problemBody(err.code, err.message, requestId, req.url, {}), requestId, settings.requestIdHeader, PROBLEM_CONTENT_TYPE, {});
    },
  ).catch((err: unknown) => {
    settings.log.error({ err, requestId, flow: target.flow.name }, 'flow crashed');
    if (!res.headersSent) writeJson(res, 500, problemBody('WEIR_INTERNAL', 'the flow failed unexpectedly', requestId, req.url, {}), requestId, settings.requestIdHeader, PROBLEM_CONTENT_TYPE, {});
  });
}

function respond(req: IncomingMessage, res: ServerResponse, flow: FlowConfig, outcome: FlowOutcome, requestId: string, requestIdHeader: string): void {
  const headers: Record<string, string> = { 'server-timing': serverTiming(outcome.records) };
  if (!outcome.ok) {
    const code = (outcome.code ?? 'WEIR_STEP_FAILED') as ErrorCode;
    const detail = outcome.failedStep !== undefined ? `step "${outcome.failedStep}" failed` : undefined;
    const extra = { failedStep: outcome.failedStep, errors: outcome.errors };
    return writeJson(res, failureStatus(outcome), problemBody(code, detail, requestId, req.url, extra), requestId, requestIdHeader, PROBLEM_CONTENT_TYPE, headers);
  }
  let body = outcome.body;
  if (outcome.errors.length > 0) {
    headers['weir-failed-steps'] = outcome.errors.map((e: { step: string }) => e.step).join(', ');
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) body = { ...body, _errors: outcome.errors };
  }
  writeJson(res, flow.status, body, requestId, requestIdHeader, 'application/json', headers);
}

/**
 * A required step refused by its upstream with a 4xx (401 from auth, 404 for an unknown order)
 * is the client's problem, and the client is told so with the same status; anything else is the
 * gateway's side failing (502) or running out of time (504).
 */
function failureStatus(outcome: FlowOutcome): number {
  if (outcome.code !== 'WEIR_STEP_FAILED' || outcome.failedStep === undefined) return outcome.status;
  const upstream = outcome.records.find((r) => r.name === outcome.failedStep)?.httpStatus;
  return upstream !== undefined && upstream >= 400 && upstream < 500 ? upstream : outcome.status;
}

function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  requestId: string,
  requestIdHeader: string,
  contentType: string,
  headers: Record<string, string>,
): void {
  const text = JSON.stringify(body ?? null);
  res.writeHead(status, {
    ...headers,
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    [requestIdHeader]: requestId,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function problemBody(code: ErrorCode, detail: string | undefined, requestId: string, instance: string | undefined, extra: Record<string, unknown>): unknown {
  return { ...problemFor(code, detail, requestId, instance), ...extra };
}

/**
 * `step;dur=12.3;desc="ok 200"` per step (`ok 200 batches=2 coalesced=1` when the step batched or
 * joined identical requests), then the total: browsers' dev tools draw it.
 */
function serverTiming(records: readonly StepRecord[]): string {
  const parts = records.map((r) => {
    let desc = r.httpStatus === undefined ? r.status : `${r.status} ${r.httpStatus}`;
    if (r.batches !== undefined) desc += ` batches=${r.batches}`;
    if (r.coalesced !== undefined) desc += ` coalesced=${r.coalesced}`;
    return `${r.name};dur=${r.durationMs.toFixed(1)};desc="${desc}"`;
  });
  const total = records.reduce((end, r) => Math.max(end, r.startMs + r.durationMs), 0);
  parts.push(`total;dur=${total.toFixed(1)}`);
  return parts.join(', ');
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

/** The request body as data: JSON when it says so, text otherwise, null when there is none. */
function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  if (!hasBody(req)) {
    req.resume();
    return Promise.resolve(null);
  }
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
      if (size < 0) return;
      const text = Buffer.concat(chunks, size).toString('utf8');
      const type = req.headers['content-type'] ?? '';
      if (!type.includes('json')) return resolve(text);
      try {
        resolve(JSON.parse(text) as unknown);
      } catch {
        reject(new BodyError(400, 'WEIR_FLOW_BAD_INPUT', 'the request body says it is JSON but does not parse'));
      }
    });
  });
}
