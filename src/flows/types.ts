/**
 * Flows: composed endpoints whose steps form a DAG inferred from the data each step reads.
 * These are the normalised definitions (what `loadConfig` produces from `flows:` in weir.yaml)
 * and the run-time records the engine produces.
 */

/**
 * A template: any YAML value. Strings may hold `{{ expr }}` placeholders with JMESPath
 * expressions over the flow context; a string that is exactly one placeholder yields the raw
 * value (object, array, number …), otherwise the placeholders are interpolated as text.
 * Objects and arrays are templates all the way down.
 */
export type Template = unknown;

import type { PluginConfig } from '../config/types.js';

export interface RetryPolicy {
  /** Retries after the first try. */
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** Upstream statuses that are retried. */
  onStatuses: number[];
}

/** One HTTP call to a configured service. The service decides host and scheme, never a template. */
export interface HttpCall {
  service: string;
  method: string;
  /** Path template; placeholder values are percent-encoded, so they cannot add segments or a query. */
  path: string;
  query: Record<string, Template>;
  headers: Record<string, Template>;
  /** undefined: no body. Sent as JSON. */
  body: Template | undefined;
}

/** Reuse of a step's successful answers (see cache.ts). */
export interface StepCacheOptions {
  ttlMs: number;
  /** Key template; null: the resolved call itself is the key. */
  key: string | null;
  maxEntries: number;
}

/** The call that undoes a step when the flow fails (saga compensation). */
export interface Compensation {
  call: HttpCall;
  /** Per try. */
  timeoutMs: number;
  retry: RetryPolicy;
}

interface StepBase {
  name: string;
  /** JMESPath condition; a step whose condition is falsy is skipped and yields null. */
  when: string | null;
  /** Extra ordering for side effects, on top of the inferred data dependencies. */
  after: string[];
  /** 0: only the flow's remaining deadline applies. */
  timeoutMs: number;
  /** A failed optional step yields `fallback` (or null) and an entry in the error list. */
  optional: boolean;
  /** The value used instead of the result when the step fails (implies optional). */
  fallback: Template | undefined;
  retry: RetryPolicy;
  /** Retry even non-idempotent calls (the author vouches for the upstream). */
  idempotent: boolean;
  /** Position in the file, for messages. */
  index: number;
  /** http and forEach steps only. */
  cache: StepCacheOptions | null;
}

export interface HttpStep extends StepBase {
  kind: 'http';
  call: HttpCall;
  compensate: Compensation | null;
}

export interface TransformStep extends StepBase {
  kind: 'transform';
  value: Template;
}

/**
 * How a forEach step batches: one call for up to `maxSize` elements instead of one per element.
 * Results are matched back to elements by key, so each element still gets `{status, headers, body}`.
 */
export interface BatchOptions {
  /** Most elements per batch call. */
  maxSize: number;
  /** JMESPath expression over the batch response body giving the array of results (`@`: the body). */
  results: string;
  /** JMESPath expression evaluated on each result element. */
  key: string;
  /** JMESPath expression evaluated per element (with the element under `as` and `index` in scope); matched to `key`. */
  itemKey: string;
}

export interface ForEachStep extends StepBase {
  kind: 'forEach';
  /** JMESPath expression giving the array to fan out over. */
  items: string;
  /** Name under which each element is visible to `call` (default `item`); `index` is its position. */
  as: string;
  /** Most calls (or batch calls) in flight at once for this step. */
  concurrency: number;
  /**
   * Made once per element; with `batch`, once per batch of elements, and then its templates see
   * `items` (the batch's elements) instead of the element and `index`.
   */
  call: HttpCall;
  /** Set when the step batches its elements. */
  batch: BatchOptions | null;
}

export type Step = HttpStep | TransformStep | ForEachStep;

export interface FlowConfig {
  name: string;
  method: string;
  /** Route path pattern (`/shop/orders/:orderId/details`). */
  path: string;
  steps: Step[];
  /** The response body template. */
  response: Template;
  /** Status of a successful answer (default 200). */
  status: number;
  /** The whole flow's deadline. */
  timeoutMs: number;
  /** async: always answer 202 with a job; sync: unless the client prefers respond-async. */
  mode: 'sync' | 'async';
  /** Idempotency-Key handling; null: off. */
  idempotency: { ttlMs: number; required: boolean } | null;
  plugins: PluginConfig[];
  index: number;
}

/**
 * What a template sees: `request` (params, query, headers, body), `steps.<name>` (each finished
 * step's result: `{status, headers, body}` for http, the value for transform, an array of
 * results for forEach), and inside forEach the current element and `index`.
 */
export interface FlowContext {
  request: {
    method: string;
    path: string;
    params: Record<string, string>;
    query: Record<string, string | string[]>;
    headers: Record<string, string | string[] | undefined>;
    body: unknown;
  };
  steps: Record<string, unknown>;
  [name: string]: unknown;
}

/** `cancelled`: stopped in flight when the flow ended; `not-started`: the flow ended before its inputs were ready. */
export type StepStatus = 'ok' | 'failed' | 'skipped' | 'cancelled' | 'not-started';

/** One step's run, enough to draw the request's waterfall. */
export interface StepRecord {
  name: string;
  status: StepStatus;
  /** ms since the flow started. */
  startMs: number;
  durationMs: number;
  /** Upstream calls made (retries, fan-out and batches included; calls that joined another's request too). */
  calls: number;
  /** Of `calls`, how many joined an identical request already in flight instead of sending their own. */
  coalesced?: number;
  /** Batch calls started, for a forEach step with `batch` (retries not counted). */
  batches?: number;
  /** HTTP status of the step's (last) call, when it made one. */
  httpStatus?: number;
  /** A step with `cache`: 'hit' when its answer came from the cache (for forEach: every element). */
  cache?: 'hit' | 'miss' | 'partial';
  /** Set on a compensation's record: the step it undid. */
  compensates?: string;
  error?: { code: string; message: string };
}
