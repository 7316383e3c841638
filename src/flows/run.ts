/**
 * The flow scheduler: starts every step the moment its last dependency settles, so a flow takes
 * as long as its critical path. Each step keeps a count of unsettled dependencies, decremented
 * as they settle: O(steps + edges) per run, no polling, no levels barrier.
 */
import type { CallService } from './call.js';
import { compensate, type CompensationReport } from './compensate.js';
import { FlowInputError } from './errors.js';
import { executeStep, type Progress, type StepResult } from './execute.js';
import type { FlowPlan, PlannedStep } from './plan.js';
import type { FlowContext, StepRecord } from './types.js';

export type { CallResult, CallService, ResolvedCall } from './call.js';
export { CallError } from './errors.js';
export type { CompensationReport } from './compensate.js';

export interface FlowOutcome {
  ok: boolean;
  /**
   * The flow's status when ok; otherwise 502 (a required step failed), 504 (the deadline passed),
   * 400 (a request value a template refused), 499 (the caller gave up).
   */
  status: number;
  /** Set when not ok: WEIR_STEP_FAILED | WEIR_FLOW_TIMEOUT | WEIR_FLOW_BAD_INPUT | WEIR_FLOW_RESPONSE_FAILED | WEIR_FLOW_CANCELLED. */
  code?: string;
  /** The response template's value when ok, else null. */
  body: unknown;
  /** Optional steps that failed (the flow went on), then whatever ended the flow. */
  errors: Array<{ step: string; code: string; message: string }>;
  failedStep?: string;
  /** One per step, in plan order (steps that never started are 'not-started'), then one per compensation. */
  records: StepRecord[];
  /** When the flow failed: the steps undone (or not) by their `compensate` calls, last finished first. */
  compensations: CompensationReport[];
}

export interface RunOptions {
  /** The whole flow's deadline. */
  timeoutMs: number;
  /** Aborts the flow, e.g. when the client goes away. */
  signal?: AbortSignal;
  now?: () => number;
  /** Called as each step starts (tracing): the CallService that step's calls go through. */
  stepService?: (step: PlannedStep, index: number, callService: CallService) => CallService;
}

type Ending = Omit<FlowOutcome, 'records' | 'errors' | 'body' | 'compensations'> & { body?: unknown; error?: FlowOutcome['errors'][number] };

/**
 * Runs a planned flow. `ctx.steps` fills in as steps settle. Never rejects.
 * @example const outcome = await runFlow(plan, ctx, serviceCaller(services, id, 'x-request-id'), { timeoutMs: 5000 });
 */
export function runFlow(plan: FlowPlan, ctx: FlowContext, callService: CallService, options: RunOptions): Promise<FlowOutcome> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const deadline = options.timeoutMs > 0 ? started + options.timeoutMs : Infinity;
  const steps = plan.steps;
  const waiting = steps.map((step) => step.deps.length);
  const progress: Array<(Progress & { startMs: number }) | undefined> = [];
  /** Steps that succeeded, in the order they finished: what a failure has to undo. */
  const completed: number[] = [];
  const records: Array<StepRecord | undefined> = [];
  const errors: FlowOutcome['errors'] = [];
  const aborter = new AbortController();
  const env = { callService, signal: aborter.signal, msLeft: () => deadline - now() };
  let settled = 0;
  let finished = false;

  return new Promise<FlowOutcome>((resolve) => {
    const finish = (ending: Ending): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onCallerAbort);
      // Whatever is still in flight is no longer wanted.
      if (!ending.ok) aborter.abort(new Error(`flow ended: ${ending.code}`));
      const { error, ...outcome } = ending;
      if (error) errors.push(error);
      const at = now() - started;
      steps.forEach((step, i) => {
        const run = progress[i];
        if (records[i]) return;
        if (!run) return void (records[i] = { name: step.name, status: 'not-started', startMs: at, durationMs: 0, calls: 0 });
        records[i] = { name: step.name, status: 'cancelled', startMs: run.startMs, durationMs: at - run.startMs, calls: run.calls, ...counts(run) };
        // At the deadline the steps still running are the reason: say so on their bars.
        if (ending.code === 'WEIR_FLOW_TIMEOUT') records[i].error = { code: ending.code, message: 'still running at the flow deadline' };
      });
      const result: FlowOutcome = { ...outcome, body: ending.body ?? null, errors, records: records as StepRecord[], compensations: [] };
      if (ending.ok || !completed.some((i) => hasCompensation(steps[i]!))) return resolve(result);
      compensate(steps, completed, ctx, callService, () => now() - started).then(({ reports, records: undone }) => {
        result.compensations = reports;
        result.records.push(...undone);
        resolve(result);
      });
    };

    const start = (i: number): void => {
      const step = steps[i]!;
      const run = { startMs: now() - started, calls: 0, httpStatus: undefined, coalesced: 0 };
      progress[i] = run;
      const stepEnv = options.stepService === undefined ? env : { ...env, callService: options.stepService(step, i, callService) };
      executeStep(step, ctx, stepEnv, run).then(
        (result) => settle(i, result),
        (error: unknown) => settle(i, { kind: 'failed', code: 'WEIR_INTERNAL', message: String(error) }),
      );
    };

    const settle = (i: number, result: StepResult): void => {
      if (finished || result.kind === 'cancelled') return;
      const step = steps[i]!;
      const run = progress[i]!;
      const base = { name: step.name, startMs: run.startMs, durationMs: now() - started - run.startMs, calls: run.calls, ...counts(run) };
      let value: unknown = null;
      if (result.kind === 'ok' || result.kind === 'skipped') {
        records[i] = { ...base, status: result.kind };
        if (result.kind === 'ok') {
          value = result.value;
          completed.push(i);
        }
      } else {
        const error = { code: result.kind === 'badInput' ? 'WEIR_FLOW_BAD_INPUT' : result.code, message: `step "${step.name}": ${result.message}` };
        records[i] = { ...base, status: 'failed', error };
        if (result.kind === 'badInput') return failFlow(400, error.code, step, error);
        if (!step.optional) return failFlow(502, 'WEIR_STEP_FAILED', step, error);
        errors.push({ step: step.name, ...error });
        try {
          value = step.fallback ? step.fallback.evaluate(ctx) : null;
        } catch (thrown) {
          const message = `step "${step.name}" fallback: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
          if (thrown instanceof FlowInputError) return failFlow(400, thrown.code, step, { code: thrown.code, message });
          errors.push({ step: step.name, code: 'WEIR_STEP_FAILED', message });
        }
      }
      ctx.steps[step.name] = value;
      settled++;
      for (const next of step.dependents) if (--waiting[next]! === 0) start(next);
      if (settled === steps.length) respond();
    };

    const failFlow = (status: number, code: string, step: PlannedStep, error: { code: string; message: string }): void =>
      finish({ ok: false, status, code, failedStep: step.name, error: { step: step.name, ...error } });

    const respond = (): void => {
      try {
        finish({ ok: true, status: plan.flow.status, body: plan.response.evaluate(ctx) });
      } catch (thrown) {
        const code = thrown instanceof FlowInputError ? thrown.code : 'WEIR_FLOW_RESPONSE_FAILED';
        const message = `response: ${thrown instanceof Error ? thrown.message : String(thrown)}`;
        finish({ ok: false, status: code === 'WEIR_FLOW_BAD_INPUT' ? 400 : 502, code, error: { step: '', code, message } });
      }
    };

    const onCallerAbort = (): void => {
      finish({ ok: false, status: 499, code: 'WEIR_FLOW_CANCELLED' });
    };
    const timer = options.timeoutMs > 0 ? setTimeout(() => timedOut(), options.timeoutMs) : undefined;
    const timedOut = (): void => {
      const running = steps.filter((_, i) => progress[i] && !records[i]).map((step) => `"${step.name}"`);
      const message = `the flow did not finish within ${options.timeoutMs} ms${running.length ? `; still running: ${running.join(', ')}` : ''}`;
      finish({ ok: false, status: 504, code: 'WEIR_FLOW_TIMEOUT', error: { step: '', code: 'WEIR_FLOW_TIMEOUT', message } });
    };

    if (options.signal?.aborted) return onCallerAbort();
    options.signal?.addEventListener('abort', onCallerAbort, { once: true });
    if (steps.length === 0) return respond();
    steps.forEach((step, i) => {
      if (step.deps.length === 0) start(i);
    });
  });
}

/** The optional counts of a step's record: only those that apply. */
function counts(run: Progress): Pick<StepRecord, 'httpStatus' | 'coalesced' | 'batches' | 'cache'> {
  const out: Pick<StepRecord, 'httpStatus' | 'coalesced' | 'batches' | 'cache'> = {};
  if (run.httpStatus !== undefined) out.httpStatus = run.httpStatus;
  if (run.coalesced > 0) out.coalesced = run.coalesced;
  if (run.batches !== undefined) out.batches = run.batches;
  const hits = run.cacheHits ?? 0;
  const misses = run.cacheMisses ?? 0;
  if (hits + misses > 0) out.cache = misses === 0 ? 'hit' : hits === 0 ? 'miss' : 'partial';
  return out;
}

function hasCompensation(step: PlannedStep): boolean {
  return step.kind === 'http' && step.compensate !== null;
}
