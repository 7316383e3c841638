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
  /**
   * W3C Trace Context sent with the call (set per step when tracing is on), over any template
   * header of the same name. Not part of what makes calls identical (coalescing, step cache).
   */
  traceparent?: string;
  tracestate?: string;
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

/**
 * Makes one call to a service; throws `CallError` when no answer came back. A service may also
 * offer `cancellable`: the same call, cancelled through a `CallCancel` instead of an AbortSignal
 * and answered through callbacks instead of a promise of its own. `serviceCaller` and
 * `coalescing` do, and a step's try uses it when it is there: per call, one small object and
 * one promise instead of an AbortController, an event listener and a promise per layer.
 */
export type CallService = ((call: ResolvedCall, signal: AbortSignal) => Promise<CallResult>) & {
  readonly cancellable?: CancellableCall;
};

/**
 * Starts the call; exactly one of `resolve` and `reject` is called, once, possibly before this
 * returns — and `reject(cancel.reason)` as soon as `cancel` aborts, whatever the request does.
 */
export type CancellableCall = (call: ResolvedCall, cancel: CallCancel, resolve: (result: CallResult) => void, reject: (error: unknown) => void) => void;

type AbortCallback = (reason: unknown) => void;

/**
 * What cancels one call on the hot path: a flag, a reason and a few callbacks, aborted by the
 * step's try (its timeout, the flow giving up) or by the coalescer (every waiter gone). An
 * AbortSignal is made only for a service that asks for one (`signal`).
 */
export class CallCancel {
  aborted = false;
  reason: unknown = undefined;
  /** Usually one callback (the call's), so no list until a second comes. */
  #callback: AbortCallback | null = null;
  #more: AbortCallback[] | null = null;
  #controller: AbortController | undefined;
  #following: Set<CallCancel> | undefined;

  /** Runs `callback` when this aborts (at once if it has). */
  onAbort(callback: AbortCallback): void {
    if (this.aborted) callback(this.reason);
    else if (this.#callback === null) this.#callback = callback;
    else (this.#more ??= []).push(callback);
  }

  offAbort(callback: AbortCallback): void {
    if (this.#callback === callback) this.#callback = null;
    else if (this.#more !== null) {
      const i = this.#more.indexOf(callback);
      if (i >= 0) this.#more.splice(i, 1);
    }
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const first = this.#callback;
    const more = this.#more;
    this.#callback = this.#more = null;
    if (first !== null) runCallback(first, reason);
    if (more !== null) for (const callback of more) runCallback(callback, reason);
  }

  /** An AbortSignal that aborts with this, for a service without `cancellable` (made once, on first use). */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = (this.#controller = new AbortController());
      this.onAbort((reason) => controller.abort(reason));
    }
    return this.#controller.signal;
  }

  /**
   * Aborts this when `signal` does, until `unfollow()`. Every CallCancel following one signal
   * shares a single listener on it (a flow's signal is followed by each of its calls; adding and
   * removing an event listener per call costs more than the call's own work).
   */
  follow(signal: AbortSignal): void {
    if (signal.aborted) return this.abort(signal.reason);
    let followers = FOLLOWERS.get(signal);
    if (followers === undefined) {
      const set = (followers = new Set<CallCancel>());
      FOLLOWERS.set(signal, set);
      signal.addEventListener(
        'abort',
        () => {
          for (const cancel of set) cancel.abort(signal.reason);
          set.clear();
        },
        { once: true },
      );
    }
    followers.add(this);
    this.#following = followers;
  }

  unfollow(): void {
    this.#following?.delete(this);
    this.#following = undefined;
  }
}

const FOLLOWERS = new WeakMap<AbortSignal, Set<CallCancel>>();

/** As an AbortSignal listener's would be, an exception is reported and the other callbacks still run. */
function runCallback(callback: AbortCallback, reason: unknown): void {
  try {
    callback(reason);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * A CallService from its cancellable form. Called with an AbortSignal, it makes a CallCancel that
 * follows the signal for as long as the call runs.
 */
export function cancellableService(cancellable: CancellableCall): CallService {
  const service = (call: ResolvedCall, signal: AbortSignal): Promise<CallResult> => {
    const cancel = new CallCancel();
    cancel.follow(signal);
    const pending = new Promise<CallResult>((resolve, reject) => cancellable(call, cancel, resolve, reject));
    const unfollow = () => cancel.unfollow();
    pending.then(unfollow, unfollow);
    return pending;
  };
  return Object.assign(service, { cancellable });
}

/**
 * Calls `callService` under `cancel`: through `cancellable` when it has it, otherwise with an
 * AbortSignal, and then the promise still rejects as soon as `cancel` aborts, even if the service
 * ignores its signal.
 */
export function callUnder(callService: CallService, call: ResolvedCall, cancel: CallCancel): Promise<CallResult> {
  return new Promise((resolve, reject) => startUnder(callService, call, cancel, resolve, reject));
}

/** `callUnder` for a caller that wants callbacks rather than a promise. */
export function startUnder(callService: CallService, call: ResolvedCall, cancel: CallCancel, resolve: (result: CallResult) => void, reject: (error: unknown) => void): void {
  const cancellable = callService.cancellable;
  if (cancellable !== undefined) return cancellable(call, cancel, resolve, reject);
  const onAbort = (reason: unknown) => reject(reason);
  cancel.onAbort(onAbort);
  let pending: Promise<CallResult>;
  try {
    pending = callService(call, cancel.signal);
  } catch (error) {
    pending = Promise.reject(error);
  }
  pending.then(
    (result) => (cancel.offAbort(onAbort), resolve(result)),
    (error: unknown) => (cancel.offAbort(onAbort), reject(error)),
  );
}

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
