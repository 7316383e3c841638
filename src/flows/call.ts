/**
 * An HTTP call of a step: compiled once from its templates, resolved per request into the
 * concrete call handed to the `CallService` (which owns hosts, pools, breakers and the wire).
 */
import { pointerSegment, type TemplateError } from './errors.js';
import {
  compileCollecting,
  compilePathTemplate,
  compileTemplate,
  headerValue,
  toText,
  type Compiled,
} from './template.js';
import type { FlowContext, HttpCall } from './types.js';

export interface ResolvedCall {
  service: string;
  method: string;
  /** Percent-encoded path with `?query` appended. */
  path: string;
  headers: Record<string, string>;
  /** undefined: no body; otherwise sent as JSON. */
  body: unknown | undefined;
}

export interface CallResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /**
   * Set by `coalescing()` when this call joined an identical request already in flight: the
   * result is shared with other callers and frozen. Never mutate a result either way.
   */
  coalesced?: boolean;
}

/** Makes one call to a service; throws `CallError` when no answer came back. */
export type CallService = (call: ResolvedCall, signal: AbortSignal) => Promise<CallResult>;

export interface CompiledCall {
  readonly service: string;
  readonly method: string;
  readonly path: Compiled;
  readonly query: ReadonlyArray<readonly [string, Compiled]>;
  readonly headers: ReadonlyArray<readonly [string, Compiled]>;
  readonly body: Compiled | undefined;
}

/**
 * Compiles every template of a call; `at` is the call's JSON pointer, used in errors. Errors go
 * to `problems` (all of them, not just the first); the call is unusable if any were added.
 */
export function compileCall(call: HttpCall, at: string, problems: TemplateError[]): CompiledCall {
  const each = (record: Record<string, unknown>, field: string) =>
    Object.entries(record).map(([name, template]) => {
      const pointer = `${at}/${field}/${pointerSegment(name)}`;
      return [name, compileCollecting(problems, () => compileTemplate(template, pointer))] as const;
    });
  const body = call.body;
  return {
    service: call.service,
    method: call.method.toUpperCase(),
    path: compileCollecting(problems, () => compilePathTemplate(call.path, `${at}/path`)),
    query: each(call.query, 'query'),
    headers: each(call.headers, 'headers'),
    body: body === undefined ? undefined : compileCollecting(problems, () => compileTemplate(body, `${at}/body`)),
  };
}

/** Every template of the call, for collecting what it reads. */
export function callTemplates(call: CompiledCall): Compiled[] {
  const out = [call.path, ...call.query.map(([, c]) => c), ...call.headers.map(([, c]) => c)];
  if (call.body) out.push(call.body);
  return out;
}

/**
 * The concrete call for this request. Query and header values that are null or undefined are
 * left out, so an absent request field does not become an empty parameter.
 */
export function resolveCall(call: CompiledCall, ctx: FlowContext): ResolvedCall {
  let path = call.path.evaluate(ctx) as string;
  let separator = '?';
  for (const [name, template] of call.query) {
    const value = template.evaluate(ctx);
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item === null || item === undefined) continue;
      path += `${separator}${encodeURIComponent(name)}=${encodeURIComponent(toText(item))}`;
      separator = '&';
    }
  }
  const headers: Record<string, string> = {};
  for (const [name, template] of call.headers) {
    const value = template.evaluate(ctx);
    if (value !== null && value !== undefined) headers[name] = headerValue(value, `header ${name}`);
  }
  return { service: call.service, method: call.method, path, headers, body: call.body?.evaluate(ctx) };
}
