/**
 * Request coalescing: identical GET/HEAD calls in flight at the same moment share one upstream
 * request — within a flow (a fan-out over repeated ids) and across concurrent flows (a hundred
 * users opening the same product page). Identical means same service, method, path with query,
 * and headers, so calls carrying different credentials never share an answer.
 *
 * Each caller keeps its own signal: a caller that gives up (its step timeout, its flow ending)
 * stops waiting at once, but the shared request goes on while anyone else still waits for it; it
 * is aborted only when every waiter has gone. The answer handed to several callers is frozen.
 */
import { CallCancel, cancellableService, startUnder, type CallResult, type CallService, type ResolvedCall } from './call.js';

/** One caller waiting for a shared request. */
interface Waiter {
  readonly resolve: (result: CallResult) => void;
  readonly reject: (error: unknown) => void;
  readonly cancel: CallCancel;
  readonly onAbort: (reason: unknown) => void;
  /** Joined a request already in flight (so gets a result marked `coalesced`). */
  readonly joining: boolean;
}

interface Shared {
  readonly key: string;
  /** Cancels the request itself: when the last waiter gives up. */
  readonly cancel: CallCancel;
  /** Callers still waiting; when the last one leaves, the request is aborted. */
  readonly waiters: Waiter[];
  /** Callers that joined after the first: when above 0 the result is frozen. */
  joined: number;
}

/**
 * The table of requests in flight, shared by every CallService it wraps. One per gateway config
 * version (see handler.ts): a reload gets a new table, so a call never joins a request made
 * through the previous version's services.
 */
export class CallCoalescer {
  readonly #inFlight = new Map<string, Shared>();

  /** Requests in flight now (for tests and metrics). */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /**
   * `callService` with coalescing: the first of identical calls goes through it (so it carries
   * that caller's request id); later ones, while it is in flight, wait for its answer.
   */
  wrap(callService: CallService): CallService {
    return cancellableService((call, cancel, resolve, reject) => {
      const key = coalescingKey(call);
      if (key === undefined) return startUnder(callService, call, cancel, resolve, reject);
      if (cancel.aborted) return reject(cancel.reason);
      let shared = this.#inFlight.get(key);
      if (shared !== undefined) {
        shared.joined++;
        return this.#wait(shared, cancel, resolve, reject, true);
      }
      shared = { key, cancel: new CallCancel(), waiters: [], joined: 0 };
      this.#inFlight.set(key, shared);
      // Waiting first: the request may end before `#start` returns.
      this.#wait(shared, cancel, resolve, reject, false);
      this.#start(shared, call, callService);
    });
  }

  #start(shared: Shared, call: ResolvedCall, callService: CallService): void {
    // Leaves the table as soon as it settles, before any waiter hears of it: from then on no one
    // joins, so `joined` is final when deciding whether to freeze.
    const failed = (error: unknown): void => {
      this.#forget(shared);
      this.#release(shared, (waiter) => waiter.reject(error));
    };
    try {
      startUnder(
        callService,
        call,
        shared.cancel,
        (result) => {
          this.#forget(shared);
          if (shared.joined > 0) deepFreeze(result);
          this.#release(shared, (waiter) => waiter.resolve(waiter.joining ? Object.freeze({ ...result, coalesced: true }) : result));
        },
        failed,
      );
    } catch (error) {
      failed(error);
    }
  }

  #wait(shared: Shared, cancel: CallCancel, resolve: Waiter['resolve'], reject: Waiter['reject'], joining: boolean): void {
    const onAbort = (reason: unknown): void => {
      const i = shared.waiters.indexOf(waiter);
      if (i < 0) return;
      shared.waiters.splice(i, 1);
      reject(reason);
      if (shared.waiters.length === 0) {
        // Nobody wants the answer any more: stop the request, and let the next caller start afresh.
        this.#forget(shared);
        shared.cancel.abort(reason);
      }
    };
    const waiter: Waiter = { resolve, reject, cancel, onAbort, joining };
    shared.waiters.push(waiter);
    cancel.onAbort(onAbort);
  }

  /** Hands every waiter the outcome (the callbacks only settle promises) and empties the list. */
  #release(shared: Shared, settle: (waiter: Waiter) => void): void {
    const waiters = shared.waiters;
    for (const waiter of waiters) {
      waiter.cancel.offAbort(waiter.onAbort);
      settle(waiter);
    }
    waiters.length = 0;
  }

  #forget(shared: Shared): void {
    if (this.#inFlight.get(shared.key) === shared) this.#inFlight.delete(shared.key);
  }
}

/**
 * Wraps `callService` so that identical GET/HEAD calls in flight together share one request.
 * Pass a shared `coalescer` to coalesce across callers (concurrent flows); without one, only the
 * calls made through this wrapper are coalesced.
 * @example const call = coalescing(serviceCaller(services, requestId, 'x-request-id'), coalescerOf(settings));
 */
export function coalescing(callService: CallService, coalescer: CallCoalescer = new CallCoalescer()): CallService {
  return coalescer.wrap(callService);
}

/**
 * What makes two calls identical, or undefined for a call that is never shared: a method that
 * may change state, or one with a body.
 */
export function coalescingKey(call: ResolvedCall): string | undefined {
  if (call.body !== undefined) return undefined;
  let method = call.method;
  if (method !== 'GET' && method !== 'HEAD') {
    method = method.toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') return undefined;
  }
  // JSON strings end where their closing quote is, so the concatenation reads back one way only.
  const key = method + JSON.stringify(call.service) + JSON.stringify(call.path);
  const names = Object.keys(call.headers);
  if (names.length === 0) return key;
  const headers = names.map((name) => JSON.stringify(name.toLowerCase()) + JSON.stringify(call.headers[name]));
  return key + headers.sort().join('');
}

/** Freezes a value and everything reachable from it (JSON data: objects and arrays). */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  Object.freeze(value);
  for (const item of Object.values(value)) deepFreeze(item, seen);
  return value;
}
