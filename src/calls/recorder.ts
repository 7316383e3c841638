/**
 * The data plane's side of the call log: where a finished request's record goes (the node's
 * writer, or this worker's queue towards it), and helpers that read what plugins left in a
 * request's state (the consumer key-auth or jwt-auth identified, the cache's verdict).
 */
import type { IncomingMessage } from 'node:http';
import type { LogMasker } from '../masking/log.js';
import { hostname } from 'node:os';
import { clientIpOf } from '../dataplane/proxy/headers.js';
import { traceIdOf } from '../observability/tracing.js';
import type { StepRecord } from '../flows/types.js';
import type { CallRecord, CallStep } from './record.js';

export interface CallRecorder {
  /** Takes the record; must not block (an append to a bounded queue). */
  record(record: CallRecord): void;
  readonly node: string;
  /** 0 in a single-process node. */
  readonly worker: number;
}

export function callRecorder(record: (record: CallRecord) => void, worker: number): CallRecorder {
  return { record, node: hostname(), worker };
}

/**
 * The recorder of one config version: every record's path goes through that version's log
 * masker (credentials, and `global.masking` rules) before it is queued — the call log keeps
 * nothing the logs would not.
 */
export function maskedRecorder(calls: CallRecorder, masker: LogMasker): CallRecorder {
  return {
    node: calls.node,
    worker: calls.worker,
    record(record) {
      record.path = masker.text(record.path);
      calls.record(record);
    },
  };
}

/** The record of a request the gateway refused before a route handled it (no route, bad target, too large). */
export function refusedCall(calls: CallRecorder, req: IncomingMessage, requestId: string, path: string, route: string, status: number, errorCode: string): CallRecord {
  return {
    id: requestId,
    at: Date.now(),
    node: calls.node,
    worker: calls.worker,
    team: null,
    api: null,
    apiVersion: null,
    route,
    kind: 'proxy',
    consumer: null,
    clientIp: clientIpOf(req),
    method: req.method ?? '',
    path,
    status,
    errorCode,
    bytesIn: 0,
    bytesOut: 0,
    durationMs: 0,
    gatewayMs: 0,
    upstreamMs: 0,
    targets: [],
    attempts: 0,
    retries: 0,
    cache: null,
    steps: null,
    traceId: traceIdOf(req.headers.traceparent),
  };
}

/** The consumer an authentication plugin identified (`state.consumer`), if any. */
export function consumerOf(state: ReadonlyMap<string, unknown> | undefined): string | null {
  const consumer = state?.get('consumer') as { id?: unknown } | undefined;
  return typeof consumer?.id === 'string' ? consumer.id : null;
}

/** What a cache plugin said of the request (`state.cache`: a string, or an object with `status`). */
export function cacheStatusOf(state: ReadonlyMap<string, unknown> | undefined): string | null {
  const cache = state?.get('cache');
  if (typeof cache === 'string') return cache;
  // The cache plugin keeps { mode: 'HIT' | 'MISS' | 'STALE' | 'BYPASS', … }.
  const entry = cache as { mode?: unknown; status?: unknown } | undefined;
  const status = entry?.mode ?? entry?.status;
  return typeof status === 'string' ? status : null;
}

/** The `code` of a problem+json answer a plugin gave (refusals only, so parsing is rare). */
export function answerErrorCode(body: string | Buffer, headers: Record<string, string> | undefined): string | undefined {
  const type = headers?.['content-type'] ?? headers?.['Content-Type'];
  if (type === undefined || !type.includes('problem+json')) return undefined;
  try {
    const code = (JSON.parse(body.toString()) as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** A flow's step records as the call log keeps them. */
export function callSteps(records: readonly StepRecord[]): CallStep[] {
  return records.map((r) => {
    const step: CallStep = { name: r.name, startMs: round(r.startMs), durationMs: round(r.durationMs), status: r.status, attempts: r.calls };
    if (r.httpStatus !== undefined) step.httpStatus = r.httpStatus;
    if (r.cache !== undefined) step.cache = r.cache;
    if (r.coalesced !== undefined) step.coalesced = r.coalesced;
    if (r.compensates !== undefined) step.compensates = r.compensates;
    if (r.error !== undefined) step.errorCode = r.error.code;
    return step;
  });
}

/** Time the flow spent waiting on upstreams: the union of its steps' intervals (parallel steps overlap). */
export function stepsUpstreamMs(steps: readonly CallStep[]): number {
  const spans = steps.filter((s) => s.attempts > 0).map((s) => [s.startMs, s.startMs + s.durationMs] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = -Infinity;
  for (const [from, to] of spans) {
    if (to <= end) continue;
    total += to - Math.max(from, end);
    end = to;
  }
  return total;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
