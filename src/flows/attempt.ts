/**
 * One call of a step, with its retries: each try gets a signal that fires at the step timeout or
 * when the flow gives up (its deadline, a failed required step), whichever comes first.
 */
import { CallCancel, callUnder, type CallResult, type CallService, type ResolvedCall } from './call.js';
import { isIdempotentMethod } from '../upstream/outcome.js';
import { CallError } from './errors.js';
import type { Step } from './types.js';

export type CallOutcome =
  | { kind: 'ok'; result: CallResult }
  | { kind: 'failed'; code: string; message: string; status?: number }
  /** The flow (or the step) was aborted: not this call's failure. */
  | { kind: 'cancelled' };

/** Counts kept live, so a step cancelled mid-way still reports what it did. */
export interface StepProgress {
  calls: number;
  httpStatus: number | undefined;
  /** Calls that joined an identical request already in flight (see coalesce.ts). */
  coalesced: number;
  /** Batch calls started; set (from 0) only by a batched forEach step. */
  batches?: number;
}

type TryOutcome = CallOutcome & { retryable?: boolean };

/**
 * Makes the call, retrying per the step's policy: on a retryable CallError, a step timeout or a
 * listed status, and only for idempotent methods unless the step vouches for the upstream.
 * `signal` aborts everything; `msLeft` is the flow's remaining time, so a step timeout past the
 * deadline is not armed (the flow's own abort comes first).
 */
export async function callWithRetries(
  call: ResolvedCall,
  step: Step,
  callService: CallService,
  signal: AbortSignal,
  msLeft: () => number,
  progress: StepProgress,
): Promise<CallOutcome> {
  const retries = step.idempotent || isIdempotentMethod(call.method) ? step.retry.attempts : 0;
  for (let attempt = 0; ; attempt++) {
    if (signal.aborted) return { kind: 'cancelled' };
    progress.calls++;
    // Each try has its own cancel: the step timeout ends this try only, the flow's signal all of them.
    const timeoutMs = step.timeoutMs > 0 && step.timeoutMs < msLeft() ? step.timeoutMs : 0;
    const cancel = new CallCancel();
    cancel.follow(signal);
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            cancel.abort(new CallError('WEIR_UPSTREAM_TIMEOUT', `no answer within ${timeoutMs} ms`, true));
          }, timeoutMs)
        : undefined;
    let outcome: TryOutcome;
    try {
      outcome = { kind: 'ok', result: await callUnder(callService, call, cancel) };
    } catch (error) {
      outcome = timedOut
        ? { kind: 'failed', code: 'WEIR_UPSTREAM_TIMEOUT', message: `service "${call.service}" did not answer within ${timeoutMs} ms`, retryable: true }
        : failureOf(error, signal);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      cancel.unfollow();
    }
    if (outcome.kind === 'ok') {
      const { status } = outcome.result;
      if (outcome.result.coalesced === true) progress.coalesced++;
      progress.httpStatus = status;
      if (status < 400) return outcome;
      const failed: TryOutcome = {
        kind: 'failed',
        code: 'WEIR_STEP_FAILED',
        message: `${call.method} ${call.path.split('?', 1)[0]} on service "${call.service}" answered ${status}`,
        status,
        retryable: step.retry.onStatuses.includes(status),
      };
      if (!failed.retryable || attempt >= retries) return failed;
    } else if (outcome.kind === 'cancelled' || !outcome.retryable || attempt >= retries) {
      return outcome;
    }
    if (!(await sleep(backoffMs(step, attempt), signal))) return { kind: 'cancelled' };
  }
}

/** What a try that threw (not at its step timeout) comes to: cancelled with the flow, or a failure, retryable or not. */
function failureOf(error: unknown, signal: AbortSignal): TryOutcome {
  if (signal.aborted) return { kind: 'cancelled' };
  if (error instanceof CallError) return { kind: 'failed', code: error.code, message: error.message, retryable: error.retryable };
  // Anything else is a bug or an unclassified failure: do not hammer the upstream with it.
  return { kind: 'failed', code: 'WEIR_UPSTREAM_ERROR', message: error instanceof Error ? error.message : String(error), retryable: false };
}

/** Exponential back-off with full jitter: spreads retries of many requests over the window. */
function backoffMs(step: Step, attempt: number): number {
  const { initialBackoffMs, maxBackoffMs } = step.retry;
  return Math.random() * Math.min(maxBackoffMs, initialBackoffMs * 2 ** attempt);
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => (clearTimeout(timer), resolve(false));
    const timer = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve(true)), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
