/**
 * Running one step once its dependencies have settled: its condition, then its call, fan-out or
 * transformation. Never throws; the scheduler decides what a failure means for the flow.
 */
import { callWithRetries, type CallOutcome, type StepProgress } from './attempt.js';
import { resolveCall, type CallResult, type CallService } from './call.js';
import { FlowInputError } from './errors.js';
import type { PlannedStep } from './plan.js';
import type { FlowContext } from './types.js';

export type StepResult =
  | { kind: 'ok'; value: unknown }
  | { kind: 'skipped' }
  | { kind: 'failed'; code: string; message: string }
  /** A template refused a value from the request: the whole flow answers 400. */
  | { kind: 'badInput'; message: string }
  | { kind: 'cancelled' };

export interface StepEnv {
  callService: CallService;
  /** Fires when the flow gives up. */
  signal: AbortSignal;
  /** The flow's remaining time. */
  msLeft: () => number;
}

export async function executeStep(step: PlannedStep, ctx: FlowContext, env: StepEnv, progress: StepProgress): Promise<StepResult> {
  try {
    if (step.when && isFalsy(step.when.evaluate(ctx))) return { kind: 'skipped' };
    switch (step.kind) {
      case 'transform':
        return { kind: 'ok', value: step.value.evaluate(ctx) };
      case 'http': {
        const call = resolveCall(step.call, ctx);
        return asStepResult(await callWithRetries(call, step.config, env.callService, env.signal, env.msLeft, progress));
      }
      case 'forEach':
        return await fanOut(step, ctx, env, progress);
    }
  } catch (error) {
    if (error instanceof FlowInputError) return { kind: 'badInput', message: error.message };
    return { kind: 'failed', code: 'WEIR_STEP_FAILED', message: error instanceof Error ? error.message : String(error) };
  }
}

/** The value of an http call: what templates see as `steps.<name>`. */
function callValue(result: CallResult): { status: number; headers: CallResult['headers']; body: unknown } {
  return { status: result.status, headers: result.headers, body: result.body };
}

function asStepResult(outcome: CallOutcome): StepResult {
  if (outcome.kind === 'ok') return { kind: 'ok', value: callValue(outcome.result) };
  if (outcome.kind === 'cancelled') return outcome;
  return { kind: 'failed', code: outcome.code, message: outcome.message };
}

/** One call per element, at most `concurrency` in flight; the first failure stops the rest. */
async function fanOut(step: Extract<PlannedStep, { kind: 'forEach' }>, ctx: FlowContext, env: StepEnv, progress: StepProgress): Promise<StepResult> {
  const items = step.items.evaluate(ctx);
  if (!Array.isArray(items)) {
    return { kind: 'failed', code: 'WEIR_STEP_FAILED', message: `items ${JSON.stringify(step.config.items)} is ${typeName(items)}, not an array` };
  }
  const { as, concurrency } = step.config;
  const values: unknown[] = new Array(items.length);
  const stop = new AbortController();
  const onAbort = () => stop.abort(env.signal.reason);
  env.signal.addEventListener('abort', onAbort, { once: true });
  let failure: StepResult | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        const call = resolveCall(step.call, { ...ctx, [as]: items[i], index: i });
        const outcome = await callWithRetries(call, step.config, env.callService, stop.signal, env.msLeft, progress);
        if (outcome.kind === 'ok') values[i] = callValue(outcome.result);
        else if (outcome.kind === 'failed') failure ??= { kind: 'failed', code: outcome.code, message: `item ${i}: ${outcome.message}` };
        else failure ??= outcome;
      } catch (error) {
        const message = `item ${i}: ${error instanceof Error ? error.message : String(error)}`;
        failure ??= error instanceof FlowInputError ? { kind: 'badInput', message } : { kind: 'failed', code: 'WEIR_STEP_FAILED', message };
      }
      if (failure !== undefined) stop.abort();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), items.length) }, worker));
  } finally {
    env.signal.removeEventListener('abort', onAbort);
  }
  return failure ?? { kind: 'ok', value: values };
}

/** JMESPath truthiness: false, null, '', [] and {} are false; 0 is true. */
export function isFalsy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

function typeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
