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
import type { CallResult, CallService, ResolvedCall } from './call.js';

const COALESCED_METHODS = new Set(['GET', 'HEAD']);

interface Shared {
  readonly key: string;
  readonly controller: AbortController;
  /** Callers still waiting; at 0 the request is aborted. */
  waiters: number;
  /** Callers that joined after the first: when above 0 the result is frozen. */
  joined: number;
  readonly settled: Promise<CallResult>;
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
    return (call, signal) => {
      const key = coalescingKey(call);
      if (key === undefined) return callService(call, signal);
      if (signal.aborted) return Promise.reject(signal.reason);
      let shared = this.#inFlight.get(key);
      const joining = shared !== undefined;
      if (shared === undefined) {
        shared = this.#start(key, call, callService);
        this.#inFlight.set(key, shared);
      } else {
        shared.joined++;
      }
      return this.#wait(shared, signal, joining);
    };
  }

  #start(key: string, call: ResolvedCall, callService: CallService): Shared {
    const controller = new AbortController();
    let pending: Promise<CallResult>;
    try {
      pending = callService(call, controller.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    const shared: Shared = {
      key,
      controller,
      waiters: 0,
      joined: 0,
      // Leaves the table as soon as it settles, before any waiter sees it: from then on no one
      // joins, so `joined` is final when deciding whether to freeze.
      settled: pending.then(
        (result) => {
          this.#forget(shared);
          return shared.joined > 0 ? deepFreeze(result) : result;
        },
        (error: unknown) => {
          this.#forget(shared);
          throw error;
        },
      ),
    };
    // Every waiter may be gone by the time it settles: nobody would handle the rejection.
    shared.settled.catch(() => {});
    return shared;
  }

  #wait(shared: Shared, signal: AbortSignal, joining: boolean): Promise<CallResult> {
    shared.waiters++;
    return new Promise<CallResult>((resolve, reject) => {
      let done = false;
      const leave = (): boolean => {
        if (done) return false;
        done = true;
        signal.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = (): void => {
        if (!leave()) return;
        reject(signal.reason);
        if (--shared.waiters === 0) {
          // Nobody wants the answer any more: stop the request, and let the next caller start afresh.
          this.#forget(shared);
          shared.controller.abort(signal.reason);
        }
      };
      signal.addEventListener('abort', onAbort, { once: true });
      shared.settled.then(
        (result) => {
          if (!leave()) return;
          shared.waiters--;
          resolve(joining ? Object.freeze({ ...result, coalesced: true }) : result);
        },
        (error: unknown) => {
          if (!leave()) return;
          shared.waiters--;
          reject(error);
        },
      );
    });
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
  const method = call.method.toUpperCase();
  if (!COALESCED_METHODS.has(method) || call.body !== undefined) return undefined;
  const headers = Object.entries(call.headers)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([call.service, method, call.path, headers]);
}

/** Freezes a value and everything reachable from it (JSON data: objects and arrays). */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  seen.add(value);
  Object.freeze(value);
  for (const item of Object.values(value)) deepFreeze(item, seen);
  return value;
}
