/**
 * One run of a synthetic check: a real HTTP request (undici) to the gateway's own traffic port,
 * so it goes through the whole pipeline — router, plugins, upstreams, flows — as a client's
 * would. The answer is judged in a fixed order: no answer (timeout, error), then its status, then
 * the body assertion, then its latency; the first failure is the run's reason.
 */
import { isDeepStrictEqual } from 'node:util';
import { search, type JSONValue } from '@jmespath-community/jmespath';
import { request, type Dispatcher } from 'undici';
import type { CheckDefinition } from './spec.js';
import type { CheckRun, FailureReason, StepTiming } from './store.js';

/** Sent with every run, so upstreams and the call log can tell checks from clients. */
export const CHECK_HEADER = 'x-weir-check';

/** Most of an answer's body a run reads (the assertion needs it; more is not a check's job). */
const MAX_BODY = 1024 * 1024;

export async function runCheck(check: CheckDefinition, baseUrl: string, dispatcher: Dispatcher, node: string): Promise<CheckRun> {
  const at = Date.now();
  const started = performance.now();
  const result = (ok: boolean, reason: FailureReason | null, detail: string | null, status: number | null, steps: StepTiming[] | null = null): CheckRun => ({
    check: check.name,
    team: check.team,
    at,
    ok,
    reason,
    detail,
    status,
    latencyMs: Math.round((performance.now() - started) * 100) / 100,
    steps,
    node,
  });
  const signal = AbortSignal.timeout(check.timeoutMs);
  let status: number;
  let text: string;
  let steps: StepTiming[] | null;
  try {
    const answer = await request(new URL(check.path, baseUrl), {
      method: check.method as Dispatcher.HttpMethod,
      headers: { 'user-agent': 'weir-synthetic/1', ...check.headers, [CHECK_HEADER]: check.name },
      body: check.body,
      signal,
      dispatcher,
    });
    status = answer.statusCode;
    steps = stepsOf(answer.headers['server-timing']);
    text = await readCapped(answer.body);
  } catch (err) {
    if (signal.aborted) return result(false, 'timeout', `no complete answer in ${check.timeoutMs} ms`, null);
    return result(false, 'error', `the request failed: ${(err as Error).message}`, null);
  }
  const done = (ok: boolean, reason: FailureReason | null, detail: string | null) => result(ok, reason, detail, status, steps);
  const statusOk = check.expect.status === null ? status >= 200 && status < 300 : check.expect.status.includes(status);
  if (!statusOk) return done(false, 'status', `status ${status}, expected ${check.expect.status?.join(', ') ?? '2xx'}`);
  if (check.expect.jmespath !== null) {
    const failure = assertion(check, text);
    if (failure !== null) return done(false, 'assertion', failure);
  }
  const latency = performance.now() - started;
  const max = check.expect.maxLatencyMs;
  if (max !== null && latency > max) return done(false, 'latency', `took ${Math.round(latency)} ms, more than ${max} ms`);
  return done(true, null, null);
}

/** Why the body assertion failed, or null when it holds. */
function assertion(check: CheckDefinition, text: string): string | null {
  let json: JSONValue;
  try {
    json = JSON.parse(text) as JSONValue;
  } catch {
    return 'the body is not JSON';
  }
  let value: JSONValue;
  try {
    value = search(json, check.expect.jmespath!);
  } catch (err) {
    return `${check.expect.jmespath} failed: ${(err as Error).message}`;
  }
  if (check.expect.hasEquals) {
    return isDeepStrictEqual(value, check.expect.equals) ? null : `${check.expect.jmespath} is ${JSON.stringify(value)}, expected ${JSON.stringify(check.expect.equals)}`;
  }
  return truthy(value) ? null : `${check.expect.jmespath} is ${JSON.stringify(value)} (not truthy)`;
}

/** JMESPath's truth: null, false, "", [] and {} are false. */
function truthy(value: JSONValue): boolean {
  if (value === null || value === false || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    if (size < MAX_BODY) chunks.push(chunk);
    size += chunk.length;
  }
  return Buffer.concat(chunks).subarray(0, MAX_BODY).toString('utf8');
}

/** A flow's steps from its `Server-Timing` header (`name;dur=1.2;desc="ok 200", …, total;dur=…`). */
export function stepsOf(header: string | string[] | undefined): StepTiming[] | null {
  if (header === undefined) return null;
  const text = Array.isArray(header) ? header.join(', ') : header;
  const steps: StepTiming[] = [];
  for (const entry of text.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    const [name, ...params] = entry.trim().split(';');
    if (name === undefined || name === '' || name === 'total') continue;
    let durationMs = 0;
    let desc: string | null = null;
    for (const param of params) {
      const eq = param.indexOf('=');
      const key = param.slice(0, eq).trim();
      const value = param.slice(eq + 1).trim();
      if (key === 'dur') durationMs = Number(value) || 0;
      else if (key === 'desc') desc = value.startsWith('"') ? value.slice(1, -1).replace(/\\(.)/g, '$1') : value;
    }
    steps.push({ name, durationMs, desc });
  }
  return steps.length === 0 ? null : steps;
}
