/**
 * A flow's outcome as an HTTP response (status, headers, body text): the same value is sent to
 * the client, kept for Idempotency-Key replays, and stored as an async job's result.
 */
import { PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../errors.js';
import type { StoredResponse } from '../store/flow-state.js';
import type { FlowOutcome } from './run.js';
import type { FlowConfig, StepRecord } from './types.js';

/** A JSON response; `headers` never holds the request id (added per request when sent). */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json'): StoredResponse {
  return { status, headers: { ...headers, 'content-type': contentType }, body: JSON.stringify(body ?? null) };
}

/** problem+json for `code`, with extension members. */
export function problemResponse(
  code: ErrorCode,
  detail: string | undefined,
  requestId: string,
  instance: string | undefined,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
  status?: number,
): StoredResponse {
  const body = { ...problemFor(code, detail, requestId, instance), ...extra };
  if (status !== undefined) body.status = status;
  return jsonResponse(status ?? body.status, body, headers, PROBLEM_CONTENT_TYPE);
}

/**
 * The flow's answer: the mapped body on success (optional steps that failed in
 * `Weir-Failed-Steps` and `_errors`), problem+json otherwise, with what was undone; and
 * `Server-Timing` for every step either way.
 */
export function flowResponse(flow: FlowConfig, outcome: FlowOutcome, requestId: string, instance: string | undefined): StoredResponse {
  const headers: Record<string, string> = { 'server-timing': serverTiming(outcome.records) };
  if (!outcome.ok) {
    const undoFailed = outcome.compensations.some((c) => c.status === 'failed');
    const code = (undoFailed ? 'WEIR_COMPENSATION_FAILED' : (outcome.code ?? 'WEIR_STEP_FAILED')) as ErrorCode;
    let detail = outcome.failedStep !== undefined ? `step "${outcome.failedStep}" failed` : undefined;
    if (outcome.compensations.length > 0) {
      const undone = outcome.compensations.filter((c) => c.status === 'compensated').map((c) => `"${c.step}"`);
      const stuck = outcome.compensations.filter((c) => c.status === 'failed').map((c) => `"${c.step}"`);
      detail = `${detail ?? 'the flow failed'}; ${undone.length > 0 ? `undone: ${undone.join(', ')}` : 'nothing could be undone'}`;
      if (stuck.length > 0) detail += `; NOT undone: ${stuck.join(', ')} (an operator has been alerted)`;
    }
    const extra: Record<string, unknown> = { failedStep: outcome.failedStep, errors: outcome.errors };
    if (outcome.compensations.length > 0) extra['compensations'] = outcome.compensations.map(({ call: _, ...report }) => report);
    return problemResponse(code, detail, requestId, instance, extra, headers, undoFailed ? 502 : failureStatus(outcome));
  }
  let body = outcome.body;
  if (outcome.errors.length > 0) {
    headers['weir-failed-steps'] = outcome.errors.map((e) => e.step).join(', ');
    if (body !== null && typeof body === 'object' && !Array.isArray(body)) body = { ...body, _errors: outcome.errors };
  }
  return jsonResponse(flow.status, body, headers);
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

/**
 * `step;dur=12.3;desc="ok 200"` per step (`ok 200 batches=2 coalesced=1 cache=hit` when the step
 * batched, joined identical requests or used its cache), then the total: browsers' dev tools draw it.
 */
function serverTiming(records: readonly StepRecord[]): string {
  const parts = records.map((r) => {
    let desc = r.httpStatus === undefined ? r.status : `${r.status} ${r.httpStatus}`;
    if (r.batches !== undefined) desc += ` batches=${r.batches}`;
    if (r.coalesced !== undefined) desc += ` coalesced=${r.coalesced}`;
    if (r.cache !== undefined) desc += ` cache=${r.cache}`;
    return `${r.name};dur=${r.durationMs.toFixed(1)};desc="${desc}"`;
  });
  const total = records.reduce((end, r) => Math.max(end, r.startMs + r.durationMs), 0);
  parts.push(`total;dur=${total.toFixed(1)}`);
  return parts.join(', ');
}
