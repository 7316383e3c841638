/**
 * Running one step once its dependencies have settled: its condition, then its call, fan-out or
 * transformation. Never throws; the scheduler decides what a failure means for the flow.
 */
import { callWithRetries, type CallOutcome, type StepProgress } from './attempt.js';
import { batchContext, keyText, matchResults, NOT_FOUND, typeName } from './batch.js';
import { callKey } from './cache.js';
import { resolveCall, type CallResult, type CallService, type ResolvedCall } from './call.js';
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

/** A step's live counts, plus how its cache did (steps with `cache` only). */
export type Progress = StepProgress & { cacheHits?: number; cacheMisses?: number };

export async function executeStep(step: PlannedStep, ctx: FlowContext, env: StepEnv, progress: Progress): Promise<StepResult> {
  try {
    if (step.when && isFalsy(step.when.evaluate(ctx))) return { kind: 'skipped' };
    switch (step.kind) {
      case 'transform':
        return { kind: 'ok', value: step.value.evaluate(ctx) };
      case 'http': {
        const cache = step.cache;
        if (cache === null) {
          const call = resolveCall(step.call, ctx);
          return asStepResult(await callWithRetries(call, step.config, env.callService, env.signal, env.msLeft, progress));
        }
        // With an author's key a hit needs no call resolved at all.
        const call = cache.key === null ? resolveCall(step.call, ctx) : null;
        const key = call === null ? cache.keyFor(ctx) : callKey(call);
        const hit = cache.get(key);
        if (hit !== undefined) return countHit(progress), { kind: 'ok', value: hit };
        countMiss(progress);
        const result = asStepResult(await callWithRetries(call ?? resolveCall(step.call, ctx), step.config, env.callService, env.signal, env.msLeft, progress));
        if (result.kind === 'ok') cache.set(key, result.value);
        return result;
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

type ForEachPlanned = Extract<PlannedStep, { kind: 'forEach' }>;

/** One call per element (or one per batch of elements), at most `concurrency` in flight; the first failure stops the rest. */
async function fanOut(step: ForEachPlanned, ctx: FlowContext, env: StepEnv, progress: StepProgress): Promise<StepResult> {
  const items = step.items.evaluate(ctx);
  if (!Array.isArray(items)) {
    return { kind: 'failed', code: 'WEIR_STEP_FAILED', message: `items ${JSON.stringify(step.config.items)} is ${typeName(items)}, not an array` };
  }
  const { as, concurrency } = step.config;
  const values: unknown[] = new Array(items.length);
  const itemContext = (i: number): FlowContext => ({ ...ctx, [as]: items[i], index: i });
  const cache = step.cache;
  /** Cache keys by element, when the step caches (elements whose answer was cached are done). */
  const keys: string[] = [];
  /** Calls resolved for their default cache key, reused when the element is then called. */
  const resolved: ResolvedCall[] = [];
  let todo = items.map((_, i) => i);
  if (cache !== null) {
    todo = [];
    items.forEach((_, i) => {
      let key: string;
      if (cache.key !== null) key = cache.keyFor(itemContext(i));
      else if (step.batch !== null) key = batchElementKey(step, ctx, items, i, itemContext(i));
      else key = callKey((resolved[i] = resolveCall(step.call, itemContext(i))));
      keys[i] = key;
      const hit = cache.get(key);
      if (hit === undefined) return void (todo.push(i), countMiss(progress));
      values[i] = hit;
      countHit(progress);
    });
  }
  const remember = (i: number, value: unknown): void => {
    values[i] = value;
    if (cache !== null && value !== NOT_FOUND) cache.set(keys[i]!, value);
  };

  if (step.batch !== null) {
    const batch = step.batch;
    const size = Math.max(1, batch.maxSize);
    progress.batches = 0;
    return inPool(Math.ceil(todo.length / size), concurrency, env.signal, async (b, signal) => {
      const chunk = todo.slice(b * size, (b + 1) * size);
      const label = () => (chunk.length === 1 ? `batch ${b} (item ${chunk[0]})` : `batch ${b} (items ${chunk[0]}–${chunk[chunk.length - 1]})`);
      try {
        const itemKeys = chunk.map((i) => keyText(batch.itemKey.evaluate(itemContext(i))));
        const call = resolveCall(step.call, batchContext(ctx, chunk.map((i) => items[i])));
        progress.batches = (progress.batches ?? 0) + 1;
        const outcome = await callWithRetries(call, step.config, env.callService, signal, env.msLeft, progress);
        if (outcome.kind !== 'ok') return unitFailure(label, outcome);
        matchResults(batch, outcome.result, itemKeys).forEach((value, k) => remember(chunk[k]!, value));
        return undefined;
      } catch (error) {
        return unitThrew(label, error);
      }
    }).then((failure) => failure ?? { kind: 'ok', value: values });
  }

  // One async function per element, its label built only if it fails: this runs for every element.
  return inPool(todo.length, concurrency, env.signal, async (t, signal) => {
    const i = todo[t]!;
    try {
      const call = resolved[i] ?? resolveCall(step.call, itemContext(i));
      const outcome = await callWithRetries(call, step.config, env.callService, signal, env.msLeft, progress);
      if (outcome.kind !== 'ok') return unitFailure(() => `item ${i}`, outcome);
      values[i] = callValue(outcome.result);
      if (cache !== null) cache.set(keys[i]!, values[i]);
      return undefined;
    } catch (error) {
      return unitThrew(() => `item ${i}`, error);
    }
  }).then((failure) => failure ?? { kind: 'ok', value: values });
}

/**
 * The default cache key of one element of a batched step: the element's key (`itemKey`) and the
 * headers the batch call would send for it, so answers for different credentials never mix.
 */
function batchElementKey(step: ForEachPlanned, ctx: FlowContext, items: unknown[], i: number, itemCtx: FlowContext): string {
  const headers = resolveCall(step.call, batchContext(ctx, [items[i]])).headers;
  return `${keyText(step.batch!.itemKey.evaluate(itemCtx)) ?? ''}\n${JSON.stringify(headers)}`;
}

function countHit(progress: Progress): void {
  progress.cacheHits = (progress.cacheHits ?? 0) + 1;
}

function countMiss(progress: Progress): void {
  progress.cacheMisses = (progress.cacheMisses ?? 0) + 1;
}

/** A fan-out unit's failed call, labelled with what failed (an element, a batch). */
function unitFailure(label: () => string, outcome: Exclude<CallOutcome, { kind: 'ok' }>): StepResult {
  if (outcome.kind === 'cancelled') return outcome;
  return { kind: 'failed', code: outcome.code, message: `${label()}: ${outcome.message}` };
}

/** A fan-out unit that threw (a template refusing a value, …), labelled. */
function unitThrew(label: () => string, error: unknown): StepResult {
  const message = `${label()}: ${error instanceof Error ? error.message : String(error)}`;
  return error instanceof FlowInputError ? { kind: 'badInput', message } : { kind: 'failed', code: 'WEIR_STEP_FAILED', message };
}

/**
 * Runs `unit(0 … count-1)`, at most `concurrency` at once. The first unit that reports a failure
 * stops the pool: no new unit starts and the signal of those in flight aborts. `parent` aborting
 * aborts them too. Resolves with that first failure, or undefined when every unit succeeded.
 */
async function inPool(
  count: number,
  concurrency: number,
  parent: AbortSignal,
  unit: (i: number, signal: AbortSignal) => Promise<StepResult | undefined>,
): Promise<StepResult | undefined> {
  const stop = new AbortController();
  const onAbort = () => stop.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  if (parent.aborted) onAbort();
  let failure: StepResult | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < count) {
      const result = await unit(next++, stop.signal);
      if (result !== undefined) {
        failure ??= result;
        stop.abort();
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.max(1, concurrency), count) }, worker));
  } finally {
    parent.removeEventListener('abort', onAbort);
  }
  return failure;
}

/** JMESPath truthiness: false, null, '', [] and {} are false; 0 is true. */
export function isFalsy(value: unknown): boolean {
  if (value === null || value === undefined || value === false || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && Object.keys(value).length === 0;
}

