/**
 * `flows:` in weir.yaml: normalisation to `FlowConfig` and the checks the schema cannot express
 * (step kinds, service names, and the DAG itself: unknown steps, cycles), each located in the file.
 */
import type { Compensation, FlowConfig, HttpCall, RetryPolicy, Step } from '../flows/types.js';
import { enabledPlugins } from './plugins.js';
import { planFlowProblems } from '../flows/plan.js';
import type { RawFlow, RawFlowStep, RawRoute } from './schema.js';
import { pointerOf, type Problem } from './locate.js';
import { durationMs, optional } from './units.js';
import { pathPatternError, patternShape } from './path-pattern.js';

export const FLOW_DEFAULTS = {
  method: 'GET',
  timeoutMs: 10_000,
  status: 200,
  stepMethod: 'GET',
  retry: { attempts: 0, initialBackoffMs: 50, maxBackoffMs: 1_000, onStatuses: [502, 503, 504] },
  concurrency: 10,
  as: 'item',
  batchResults: '@',
  cacheMaxEntries: 1000,
  compensate: { timeoutMs: 5_000, retry: { attempts: 3, initialBackoffMs: 100, maxBackoffMs: 2_000, onStatuses: [408, 429, 500, 502, 503, 504] } },
  idempotencyTtlMs: 24 * 3600_000,
} as const;

export function normalizeFlows(raw: RawFlow[] | undefined): FlowConfig[] {
  return (raw ?? []).map((flow, index) => {
    const method = flow.method ?? FLOW_DEFAULTS.method;
    return {
      name: flow.name ?? `flow ${method} ${flow.path}`,
      method,
      path: flow.path,
      steps: Object.entries(flow.steps).map(([name, step], i) => normalizeStep(name, step, i)),
      response: flow.response,
      status: flow.status ?? FLOW_DEFAULTS.status,
      timeoutMs: optional(flow.timeout, durationMs) ?? FLOW_DEFAULTS.timeoutMs,
      mode: flow.mode ?? 'sync',
      idempotency: normalizeIdempotency(method, flow.idempotency),
      plugins: enabledPlugins(flow.plugins),
      index,
    };
  });
}

function normalizeIdempotency(method: string, raw: RawFlow['idempotency']): FlowConfig['idempotency'] {
  if (raw === false || (raw === undefined && (method === 'GET' || method === 'HEAD'))) return null;
  return { ttlMs: optional(raw?.ttl, durationMs) ?? FLOW_DEFAULTS.idempotencyTtlMs, required: raw?.required ?? false };
}

function normalizeRetry(raw: RawFlowStep['retry'], defaults: RetryPolicy): RetryPolicy {
  return {
    attempts: raw?.attempts ?? defaults.attempts,
    initialBackoffMs: optional(raw?.backoff?.initial, durationMs) ?? defaults.initialBackoffMs,
    maxBackoffMs: optional(raw?.backoff?.max, durationMs) ?? defaults.maxBackoffMs,
    onStatuses: raw?.onStatuses ?? defaults.onStatuses,
  };
}

function normalizeCompensation(step: RawFlowStep): Compensation | null {
  const raw = step.compensate;
  if (raw === undefined) return null;
  const defaults = FLOW_DEFAULTS.compensate;
  return {
    call: {
      service: raw.service ?? step.service!,
      method: raw.method ?? 'POST',
      path: raw.path,
      query: raw.query ?? {},
      headers: lowerCaseKeys(raw.headers),
      body: raw.body,
    },
    timeoutMs: optional(raw.timeout, durationMs) ?? defaults.timeoutMs,
    retry: normalizeRetry(raw.retry, { ...defaults.retry, onStatuses: [...defaults.retry.onStatuses] }),
  };
}

function normalizeStep(name: string, raw: RawFlowStep, index: number): Step {
  const base = {
    name,
    when: raw.when ?? null,
    after: raw.after ?? [],
    timeoutMs: optional(raw.timeout, durationMs) ?? 0,
    optional: raw.optional === true || raw.fallback !== undefined,
    fallback: raw.fallback,
    retry: normalizeRetry(raw.retry, { ...FLOW_DEFAULTS.retry, onStatuses: [...FLOW_DEFAULTS.retry.onStatuses] }),
    idempotent: raw.idempotent ?? false,
    index,
    cache:
      raw.cache === undefined
        ? null
        : { ttlMs: durationMs(raw.cache.ttl), key: raw.cache.key ?? null, maxEntries: raw.cache.maxEntries ?? FLOW_DEFAULTS.cacheMaxEntries },
  };
  if (raw.transform !== undefined) return { ...base, kind: 'transform', value: raw.transform };
  const method = raw.method ?? FLOW_DEFAULTS.stepMethod;
  const batch = raw.forEach === undefined ? undefined : raw.batch;
  // With a batch, the call is the batch's: the step's own path, query and body describe the
  // one-by-one call and are not used, but the step's headers (Authorization …) go on every call.
  const source = batch ?? raw;
  const call: HttpCall = {
    service: raw.service!,
    method: batch?.method ?? method,
    path: source.path!,
    query: source.query ?? {},
    headers: { ...lowerCaseKeys(raw.headers), ...(batch === undefined ? {} : lowerCaseKeys(batch.headers)) },
    body: source.body,
  };
  if (raw.forEach !== undefined) {
    return {
      ...base,
      kind: 'forEach',
      items: raw.forEach,
      as: raw.as ?? FLOW_DEFAULTS.as,
      concurrency: raw.concurrency ?? FLOW_DEFAULTS.concurrency,
      call,
      batch: batch === undefined ? null : { maxSize: batch.maxSize, results: batch.results ?? FLOW_DEFAULTS.batchResults, key: batch.key, itemKey: batch.itemKey },
    };
  }
  return { ...base, kind: 'http', call, compensate: normalizeCompensation(raw) };
}

function lowerCaseKeys(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

/**
 * Problems of the flows of a config whose shape passed the schema: step kinds, unknown services,
 * path patterns, and the plan (unknown steps, cycles, bad expressions).
 */
export function flowProblems(raw: RawFlow[] | undefined, services: ReadonlySet<string>, routes: readonly RawRoute[] = []): Problem[] {
  if (raw === undefined) return [];
  const problems: Problem[] = [];
  const claimed = new Map<string, string>();
  for (const route of routes) {
    if (route.hosts !== undefined || route.headers !== undefined) continue;
    for (const method of route.methods ?? ['*']) claimed.set(`${method} ${patternShape(route.path)}`, `route "${route.name ?? route.path}"`);
  }
  raw.forEach((flow, f) => {
    const at = (...segments: Array<string | number>): string => pointerOf('flows', f, ...segments);
    const problemsBefore = problems.length;
    const patternError = pathPatternError(flow.path);
    if (patternError !== null) problems.push({ path: at('path'), message: patternError });
    const method = flow.method ?? FLOW_DEFAULTS.method;
    const shape = patternShape(flow.path);
    const owner = claimed.get(`${method} ${shape}`) ?? claimed.get(`* ${shape}`);
    if (owner !== undefined) problems.push({ path: at('path'), message: `${owner} already answers ${method} ${flow.path}; give the flow its own path` });
    else claimed.set(`${method} ${shape}`, `flow "${flow.name ?? flow.path}"`);
    const names = Object.keys(flow.steps);
    for (const [name, step] of Object.entries(flow.steps)) {
      const kinds = [step.transform !== undefined ? 'transform' : null, step.service !== undefined ? 'service' : null].filter((k) => k !== null);
      if (kinds.length !== 1) {
        problems.push({ path: at('steps', name), message: `step "${name}" needs exactly one of "service" (an http or forEach call) or "transform"` });
        continue;
      }
      if (step.service !== undefined) {
        if (!services.has(step.service)) problems.push({ path: at('steps', name, 'service'), message: `unknown service "${step.service}" (defined services: ${[...services].join(', ') || 'none'})` });
        if (step.compensate !== undefined && step.forEach !== undefined) {
          problems.push({ path: at('steps', name, 'compensate'), message: `"compensate" belongs to http steps: a forEach step makes many calls, which one call cannot undo` });
        }
        if (step.batch !== undefined && step.forEach === undefined) {
          problems.push({ path: at('steps', name, 'batch'), message: `"batch" belongs to forEach steps: it groups the elements of "forEach" into fewer calls` });
        } else if (step.path === undefined && step.batch === undefined) {
          const needs = step.forEach === undefined ? 'a "path"' : 'a "path" (one call per element) or a "batch"';
          problems.push({ path: at('steps', name), message: `step "${name}" calls a service and needs ${needs}` });
        }
      } else {
        for (const key of ['path', 'query', 'headers', 'body', 'method', 'forEach', 'as', 'concurrency', 'batch', 'cache', 'compensate'] as const) {
          if (step[key] !== undefined) problems.push({ path: at('steps', name, key), message: `"${key}" belongs to calls; a transform step makes none` });
        }
      }
    }
    // A flow whose steps are malformed is not planned: its plan errors would only repeat them.
    if (problems.length > problemsBefore) return;
    const [normalized] = normalizeFlows([flow]);
    for (const problem of planFlowProblems(normalized!)) problems.push({ path: at() + rawPointer(problem.path, names), message: problem.message });
  });
  return problems;
}

/** Plan problems point into `steps` by index (FlowConfig keeps an array); the file has a mapping by name. */
function rawPointer(path: string, names: string[]): string {
  return path.replace(/^\/steps\/(\d+)(\/call(?=\/|$))?/, (_, i: string) => `/steps/${names[Number(i)] ?? i}`);
}
