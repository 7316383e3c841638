/**
 * A synthetic check as a team stores it (resource kind `check`): how often, what request to send
 * to this gateway's own traffic port, and what a good answer is. The schema is checked by the
 * admin API; `specProblems` adds what a schema cannot say, each with a JSON pointer.
 */
import { Type, type Static } from '@sinclair/typebox';
import { compile } from '@jmespath-community/jmespath';
import { duration } from '../config/schema.js';
import { durationMs } from '../config/units.js';
import type { Resource } from '../store/config-store.js';

const Method = Type.Union(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'].map((m) => Type.Literal(m)));

export const CheckSpec = Type.Object(
  {
    interval: duration('Time between runs: at least 10s (global.synthetic.minInterval).'),
    timeout: Type.Optional(duration('A run with no complete answer in this time fails with reason "timeout" (default 10s; at most the interval).')),
    enabled: Type.Optional(Type.Boolean({ description: 'false: kept but not run on schedule (run-now still works). Default true.' })),
    request: Type.Object(
      {
        method: Type.Optional(Method),
        path: Type.String({ pattern: '^/', maxLength: 8192, description: 'Path (and query) on this gateway\'s traffic port: a route or flow of the check\'s team (any, for system admins).' }),
        headers: Type.Optional(Type.Record(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" }), Type.String(), { description: 'Request headers; values may use ${secret:name} (an API key).' })),
        body: Type.Optional(Type.Unknown({ description: 'A string is sent as is; anything else as JSON.' })),
      },
      { additionalProperties: false },
    ),
    expect: Type.Optional(
      Type.Object(
        {
          status: Type.Optional(Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { minItems: 1, description: 'Statuses that pass (default: any 2xx).' })),
          body: Type.Optional(
            Type.Object(
              {
                jmespath: Type.String({ minLength: 1, description: 'A JMESPath expression on the JSON body.' }),
                equals: Type.Optional(Type.Unknown({ description: 'What it must equal; without it, the result must be truthy (not null, false, empty).' })),
              },
              { additionalProperties: false },
            ),
          ),
          maxLatency: Type.Optional(duration('A slower answer fails with reason "latency".')),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export type CheckSpecT = Static<typeof CheckSpec>;

/** A check ready to run: durations in ms, defaults filled in. */
export interface CheckDefinition {
  name: string;
  team: string;
  /** The resource's version: a changed check is rescheduled. */
  version: number;
  intervalMs: number;
  timeoutMs: number;
  enabled: boolean;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
  expect: { status: number[] | null; jmespath: string | null; equals: unknown; hasEquals: boolean; maxLatencyMs: number | null };
}

export const DEFAULT_TIMEOUT_MS = 10_000;

export function definitionOf(name: string, team: string, version: number, spec: CheckSpecT): CheckDefinition {
  const headers: Record<string, string> = Object.fromEntries(Object.entries(spec.request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  let body: string | undefined;
  if (typeof spec.request.body === 'string') body = spec.request.body;
  else if (spec.request.body !== undefined) {
    body = JSON.stringify(spec.request.body);
    headers['content-type'] ??= 'application/json';
  }
  const intervalMs = durationMs(spec.interval);
  return {
    name,
    team,
    version,
    intervalMs,
    timeoutMs: Math.min(intervalMs, spec.timeout === undefined ? DEFAULT_TIMEOUT_MS : durationMs(spec.timeout)),
    enabled: spec.enabled ?? true,
    method: spec.request.method ?? 'GET',
    path: spec.request.path,
    headers,
    body,
    expect: {
      status: spec.expect?.status ?? null,
      jmespath: spec.expect?.body?.jmespath ?? null,
      equals: spec.expect?.body?.equals,
      hasEquals: spec.expect?.body !== undefined && 'equals' in spec.expect.body,
      maxLatencyMs: spec.expect?.maxLatency === undefined ? null : durationMs(spec.expect.maxLatency),
    },
  };
}

export interface SpecProblem {
  pointer: string;
  message: string;
}

/** What the schema cannot say about a spec that passed it; pointers start at `/spec`. */
export function specProblems(spec: CheckSpecT, minIntervalMs: number): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const interval = durationMs(spec.interval);
  if (interval < minIntervalMs) problems.push({ pointer: '/spec/interval', message: `must be at least ${minIntervalMs} ms (global.synthetic.minInterval)` });
  const timeout = spec.timeout === undefined ? undefined : durationMs(spec.timeout);
  if (timeout !== undefined && (timeout < 1 || timeout > interval)) problems.push({ pointer: '/spec/timeout', message: `must be from 1 ms to the interval (${interval} ms)` });
  const maxLatency = spec.expect?.maxLatency === undefined ? undefined : durationMs(spec.expect.maxLatency);
  if (maxLatency !== undefined && maxLatency > (timeout ?? Math.min(interval, DEFAULT_TIMEOUT_MS))) {
    problems.push({ pointer: '/spec/expect/maxLatency', message: 'must not be more than the timeout (a slower answer already fails as a timeout)' });
  }
  const expression = spec.expect?.body?.jmespath;
  if (expression !== undefined) {
    try {
      compile(expression);
    } catch (err) {
      problems.push({ pointer: '/spec/expect/body/jmespath', message: `not a JMESPath expression: ${(err as Error).message}` });
    }
  }
  if (spec.request.body !== undefined && (spec.request.method ?? 'GET') === 'GET') problems.push({ pointer: '/spec/request/body', message: 'a GET request has no body: set request.method' });
  return problems;
}

/** The checks among `resources`, ready to run: `${secret:…}` filled in by `resolve` (pass the owners' secrets along). */
export function checkDefinitions(resources: readonly Resource[], resolve: (resources: readonly Resource[]) => { resources: Resource[] }): CheckDefinition[] {
  const { resources: resolved } = resolve(resources.filter((r) => r.kind === 'check' || r.kind === 'secret'));
  return resolved.filter((r) => r.kind === 'check').map((r) => definitionOf(r.name, r.teamId, r.version, r.body as unknown as CheckSpecT));
}
