/**
 * Compensation (the saga pattern): when a flow fails, the steps that had already succeeded and
 * say how to undo themselves (`compensate`) are undone one at a time, the last finished first —
 * so a payment is refunded before the booking it paid for is cancelled.
 *
 * Compensations run to the end whatever happened to the flow (its deadline passed, the client
 * left): an undo that is skipped leaves a booking nobody pays for. Each is retried per its policy,
 * for any method, since an undo must be safe to repeat. One that still fails is reported to the
 * caller (`onFailure` in the handler logs it at error and keeps it for an operator).
 */
import { callWithRetries, type CallOutcome } from './attempt.js';
import { resolveCall, type CallService } from './call.js';
import type { PlannedStep } from './plan.js';
import type { FlowContext, Step, StepRecord } from './types.js';

export interface CompensationReport {
  /** The step that was undone (or that could not be). */
  step: string;
  status: 'compensated' | 'failed';
  /** The compensation call's last HTTP status, when it got one. */
  httpStatus?: number;
  /** Tries made. */
  attempts: number;
  error?: { code: string; message: string };
  /** What was called, for an operator who has to finish the job by hand. */
  call?: { service: string; method: string; path: string };
}

/** Nothing aborts a compensation but its own per-try timeout. */
const NEVER = new AbortController().signal;
const NO_DEADLINE = () => Infinity;

/**
 * Undoes `completed` (plan indexes in the order they finished) from the last to the first.
 * Returns a report and a waterfall record (`<step>.compensate`) per compensation that ran.
 */
export async function compensate(
  steps: readonly PlannedStep[],
  completed: readonly number[],
  ctx: FlowContext,
  callService: CallService,
  sinceStart: () => number,
): Promise<{ reports: CompensationReport[]; records: StepRecord[] }> {
  const reports: CompensationReport[] = [];
  const records: StepRecord[] = [];
  for (let c = completed.length - 1; c >= 0; c--) {
    const step = steps[completed[c]!]!;
    if (step.kind !== 'http' || step.compensate === null) continue;
    const { call: compiled, config } = step.compensate;
    const startMs = sinceStart();
    const progress = { calls: 0, httpStatus: undefined as number | undefined, coalesced: 0 };
    let outcome: CallOutcome;
    let call: { service: string; method: string; path: string } | undefined;
    try {
      const resolved = resolveCall(compiled, ctx);
      call = { service: resolved.service, method: resolved.method, path: resolved.path };
      // An undo must be safe to repeat, so it is retried whatever its method.
      const policy: Step = { ...step.config, retry: config.retry, timeoutMs: config.timeoutMs, idempotent: true };
      outcome = await callWithRetries(resolved, policy, callService, NEVER, NO_DEADLINE, progress);
    } catch (error) {
      outcome = { kind: 'failed', code: 'WEIR_COMPENSATION_FAILED', message: error instanceof Error ? error.message : String(error) };
    }
    const report: CompensationReport = { step: step.name, status: outcome.kind === 'ok' ? 'compensated' : 'failed', attempts: progress.calls };
    if (progress.httpStatus !== undefined) report.httpStatus = progress.httpStatus;
    if (outcome.kind === 'failed') report.error = { code: outcome.code, message: `compensation of step "${step.name}": ${outcome.message}` };
    if (call !== undefined) report.call = call;
    reports.push(report);
    const record: StepRecord = {
      name: `${step.name}.compensate`,
      status: report.status === 'compensated' ? 'ok' : 'failed',
      startMs,
      durationMs: sinceStart() - startMs,
      calls: progress.calls,
      compensates: step.name,
    };
    if (report.httpStatus !== undefined) record.httpStatus = report.httpStatus;
    if (report.error !== undefined) record.error = report.error;
    records.push(record);
  }
  return { reports, records };
}
