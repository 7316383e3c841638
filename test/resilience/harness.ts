/**
 * What the resilience tests share: a one-service gateway config built as typed data (JSON is
 * YAML, so it goes straight to startWeir), the settings that switch off the mechanisms a test is
 * not about, and ways to read what upstreams and the gateway observed.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { RawConfig, RawService } from '../../src/config/schema.js';
import { PROBLEM_CONTENT_TYPE, type ErrorCode, type Problem } from '../../src/errors.js';
import { delay, startUpstream, type TestUpstream, type UpstreamHandler } from '../support/upstream.js';
import { startWeir, type Reply, type TestWeir } from '../support/weir.js';

/** No retries, no breaker, no passive health: each request is exactly one upstream attempt. */
export const PLAIN = {
  retries: { attempts: 0 },
  circuitBreaker: false,
  healthCheck: { passive: false },
} as const satisfies Partial<RawService>;

/** A gateway routing every path under `/` to the one service `svc`; closed when the test ends. */
export async function startGateway(t: TestContext, service: RawService): Promise<TestWeir> {
  const config: RawConfig = { services: { svc: service }, routes: [{ path: '/*', service: 'svc' }] };
  const weir = await startWeir(JSON.stringify(config, null, 2));
  t.after(() => weir.close());
  return weir;
}

/** Test upstreams, closed when the test ends. */
export async function upstreams(t: TestContext, ...handlers: UpstreamHandler[]): Promise<TestUpstream[]> {
  const started = await Promise.all(handlers.map((h) => startUpstream(h)));
  t.after(() => Promise.all(started.map((u) => u.close())));
  return started;
}

/** Answers every request with `status` and a short body. */
export function answer(status: number, body = `status ${status}`): UpstreamHandler {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** A handler that holds each request until `release()`, then answers 200. */
export function held(): { handler: UpstreamHandler; release(): void } {
  const waiting: Array<() => void> = [];
  let released = false;
  return {
    handler: (_req, res) =>
      new Promise<void>((resolve) => {
        const reply = (): void => {
          res.writeHead(200, { 'content-length': 4 });
          res.end('done');
          resolve();
        };
        if (released) reply();
        else waiting.push(reply);
      }),
    release() {
      released = true;
      for (const reply of waiting.splice(0)) reply();
    },
  };
}

/** Proxied requests an upstream received, leaving out active health probes. */
export function hits(upstream: TestUpstream, probePath = '/health'): number {
  return upstream.requests.filter((r) => r.url !== probePath).length;
}

/**
 * Resolves once `condition` holds, polling; the deadline only turns a hang into a clear failure
 * and is never what a test measures.
 */
export async function waitFor(condition: () => boolean, what: string, deadlineMs = 5_000): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/** Log lines with this message. */
export function logLines(weir: TestWeir, msg: string): Array<Record<string, unknown>> {
  return weir.logs.filter((line) => line['msg'] === msg);
}

/** Asserts the reply is the problem+json of `code` (status, content type, body) and returns it. */
export function assertProblem(reply: Reply, code: ErrorCode, status: number): Problem {
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status}: ${reply.body}`);
  assert.equal(reply.headers['content-type'], PROBLEM_CONTENT_TYPE);
  const problem = reply.json<Problem>();
  assert.equal(problem.code, code);
  assert.equal(problem.status, status);
  return problem;
}
