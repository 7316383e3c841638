/**
 * Test fixtures for the flow engine (`*.case.ts` is left out of the build): step and flow
 * builders with the loader's defaults, and a fake CallService that records when each call
 * started and ended, so tests prove concurrency from timestamps rather than total wall time.
 */
import { CallError, type CallResult, type CallService, type ResolvedCall } from './run.js';
import type { BatchOptions, FlowConfig, FlowContext, ForEachStep, HttpCall, HttpStep, Step, TransformStep } from './types.js';

const NO_RETRY = { attempts: 0, initialBackoffMs: 1, maxBackoffMs: 1, onStatuses: [] };

type StepOptions = Partial<Omit<HttpStep, 'kind' | 'call' | 'compensate'>> & { call?: Partial<HttpCall> };

function base(name: string, options: StepOptions) {
  const { call: _, ...rest } = options;
  return { name, when: null, after: [], timeoutMs: 0, optional: false, fallback: undefined, retry: NO_RETRY, idempotent: false, index: 0, cache: null, ...rest };
}

function call(service: string, path: string, options: StepOptions): HttpCall {
  return { service, method: 'GET', path, query: {}, headers: {}, body: undefined, ...options.call };
}

/** An http step calling `service` at `path` (GET unless `call.method` says otherwise). */
export function httpStep(name: string, service: string, path: string, options: StepOptions & { compensate?: HttpStep['compensate'] } = {}): HttpStep {
  const { compensate = null, ...rest } = options;
  return { ...base(name, rest), kind: 'http', call: call(service, path, rest), compensate };
}

export function transformStep(name: string, value: unknown, options: StepOptions = {}): TransformStep {
  return { ...base(name, options), kind: 'transform', value };
}

export function forEachStep(
  name: string,
  items: string,
  service: string,
  path: string,
  options: StepOptions & { as?: string; concurrency?: number } = {},
): ForEachStep {
  const { as = 'item', concurrency = 4, ...rest } = options;
  return { ...base(name, rest), kind: 'forEach', items, as, concurrency, call: call(service, path, rest), batch: null };
}

/**
 * A batched forEach step: `path` (and `call`) are the batch call's, whose templates see `items`.
 * @example batchedStep('products', 'request.body', 'catalog', '/products', { maxSize: 3, key: 'id', itemKey: 'item' })
 */
export function batchedStep(
  name: string,
  items: string,
  service: string,
  path: string,
  batch: Omit<BatchOptions, 'results'> & { results?: string },
  options: StepOptions & { as?: string; concurrency?: number } = {},
): ForEachStep {
  return { ...forEachStep(name, items, service, path, options), batch: { results: '@', ...batch } };
}

export function flowOf(steps: Step[], response: unknown = null, extra: Partial<FlowConfig> = {}): FlowConfig {
  return {
    name: 'test',
    method: 'GET',
    path: '/test',
    steps: steps.map((step, index) => ({ ...step, index })),
    response,
    status: 200,
    timeoutMs: 5000,
    mode: 'sync',
    idempotency: null,
    plugins: [],
    index: 0,
    ...extra,
  };
}

export function contextOf(request: Partial<FlowContext['request']> = {}): FlowContext {
  return { request: { method: 'GET', path: '/test', params: {}, query: {}, headers: {}, body: null, ...request }, steps: {} };
}

/** What the fake answers: after `delayMs`, a status and body, or a thrown CallError. */
export interface Reply {
  delayMs?: number;
  status?: number;
  body?: unknown;
  error?: CallError;
}

export interface SeenCall {
  call: ResolvedCall;
  /** performance.now() at the call and when it answered, failed or was aborted. */
  start: number;
  end: number | undefined;
  aborted: boolean;
}

export interface FakeService {
  callService: CallService;
  calls: SeenCall[];
  /** The calls to one service, in start order. */
  to(service: string): SeenCall[];
  /** The most calls in flight at once, over all services. */
  maxInFlight: number;
}

/**
 * A fake upstream. `reply` decides per call; `attempt` counts earlier calls with the same service
 * and path (so a test can fail the first tries). The default body echoes the call.
 */
export function fakeService(reply: (call: ResolvedCall, attempt: number) => Reply): FakeService {
  const calls: SeenCall[] = [];
  const attempts = new Map<string, number>();
  let inFlight = 0;
  const fake: FakeService = {
    calls,
    maxInFlight: 0,
    to: (service) => calls.filter((c) => c.call.service === service),
    callService: (call, signal) =>
      new Promise<CallResult>((resolve, reject) => {
        const key = `${call.service} ${call.path}`;
        const attempt = attempts.get(key) ?? 0;
        attempts.set(key, attempt + 1);
        const { delayMs = 10, status = 200, body = { service: call.service, path: call.path, headers: call.headers, body: call.body }, error } = reply(call, attempt);
        if (!Number.isFinite(delayMs)) throw new Error(`fake service: delay ${delayMs} for ${key}`);
        const seen: SeenCall = { call, start: performance.now(), end: undefined, aborted: false };
        calls.push(seen);
        fake.maxInFlight = Math.max(fake.maxInFlight, ++inFlight);
        const settle = () => {
          seen.end = performance.now();
          inFlight--;
          signal.removeEventListener('abort', onAbort);
        };
        const onAbort = () => {
          clearTimeout(timer);
          seen.aborted = true;
          settle();
          reject(new CallError('WEIR_UPSTREAM_ERROR', 'aborted', false, { cause: signal.reason }));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const timer = setTimeout(() => {
          settle();
          if (error) reject(error);
          else resolve({ status, headers: { 'content-type': 'application/json' }, body });
        }, delayMs);
      }),
  };
  return fake;
}
