/**
 * Batching a forEach step: one call for up to `maxSize` elements (`GET /products?ids=1,2,3`)
 * instead of one per element, the answers matched back to the elements by key so that each
 * element still gets a `{status, headers, body}` of its own, in element order.
 */
import type { CallResult } from './call.js';
import { TemplateError } from './errors.js';
import { compileCollecting, compileDataExpression, compileExpression, type Compiled, type CompiledData } from './template.js';
import type { BatchOptions, FlowContext } from './types.js';

export interface CompiledBatch {
  readonly maxSize: number;
  /** Over the batch response body: the array of results. */
  readonly results: CompiledData;
  /** Over one result element: the key it answers for. */
  readonly key: CompiledData;
  /** Over the context with the element under `as` and `index`: the key it asks for. */
  readonly itemKey: Compiled;
  /** The `results` source, for messages. */
  readonly resultsSource: string;
}

/** What an element gets when no result of its batch has its key: data, not an outage. */
export const NOT_FOUND = Object.freeze({ status: 404, headers: Object.freeze({}), body: null });

/**
 * Compiles a step's batch options (its call is compiled as any call); `at` is their JSON pointer
 * (`/steps/<i>/batch`). Problems go to `problems`.
 */
export function compileBatch(batch: BatchOptions, at: string, problems: TemplateError[]): CompiledBatch {
  if (!Number.isInteger(batch.maxSize) || batch.maxSize < 1) problems.push(new TemplateError(`${at}/maxSize`, `maxSize ${batch.maxSize} is not a whole number of at least 1`));
  return {
    maxSize: batch.maxSize,
    results: collectingData(problems, batch.results, `${at}/results`),
    key: collectingData(problems, batch.key, `${at}/key`),
    itemKey: compileCollecting(problems, () => compileExpression(batch.itemKey, `${at}/itemKey`)),
    resultsSource: batch.results,
  };
}

/**
 * Each element's key as text, so that 42 and "42" match (ids are often numbers on one side and
 * strings on the other). Null (a missing field) matches nothing.
 */
export function keyText(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * The per-element results of one batch call: the result element whose key matches, with the
 * batch call's status and headers, or NOT_FOUND. Throws when `results` gives no array.
 */
export function matchResults(batch: CompiledBatch, result: CallResult, keys: ReadonlyArray<string | undefined>): unknown[] {
  const found = batch.results.evaluate(result.body);
  if (!Array.isArray(found)) {
    throw new Error(`results ${JSON.stringify(batch.resultsSource)} of the batch answer is ${typeName(found)}, not an array`);
  }
  const byKey = new Map<string, unknown>();
  for (const element of found) {
    const key = keyText(batch.key.evaluate(element));
    if (key !== undefined && !byKey.has(key)) byKey.set(key, element);
  }
  return keys.map((key) => {
    if (key === undefined || !byKey.has(key)) return NOT_FOUND;
    return { status: result.status, headers: result.headers, body: byKey.get(key) };
  });
}

/** The context batch templates see: everything, plus this batch's elements as `items`. */
export function batchContext(ctx: FlowContext, items: unknown[]): FlowContext {
  return { ...ctx, items };
}

/** As `compileCollecting`, for a data expression: the stand-in for a problem is never evaluated. */
function collectingData(problems: TemplateError[], source: string, at: string): CompiledData {
  try {
    return compileDataExpression(source, at);
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    problems.push(error);
    return {
      evaluate: () => {
        throw error;
      },
    };
  }
}

export function typeName(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
