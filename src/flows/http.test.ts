/**
 * Step calls over the wire (http.ts, through coalesce.ts and attempt.ts): against real loopback
 * upstreams, what the upstream receives, what the step gets back, and that a call given up on —
 * by its caller, its step timeout or its flow — really closes the upstream request.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startUpstream, type TestUpstream } from '../../test/support/upstream.js';
import { parseConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { UpstreamService } from '../upstream/service.js';
import { callWithRetries, type StepProgress } from './attempt.js';
import { CallCancel, callUnder, type ResolvedCall } from './call.js';
import { CallCoalescer, coalescing } from './coalesce.js';
import { CallError } from './errors.js';
import { serviceCaller } from './http.js';
import { planFlow } from './plan.js';
import { runFlow } from './run.js';
import type { FlowContext } from './types.js';

/** Requests the upstream saw end before it answered (the caller closed the connection). */
interface Hanging {
  upstream: TestUpstream;
  /** Requests that arrived and are still unanswered, by url. */
  open: Map<string, ServerResponse>;
  /** Urls whose connection closed before an answer. */
  closed: string[];
}

/** An upstream that answers `/slow…` never (until the connection closes) and anything else at once. */
async function hangingUpstream(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<Hanging> {
  const open = new Map<string, ServerResponse>();
  const closed: string[] = [];
  const upstream = await startUpstream((req, res) => {
    if (!req.url!.startsWith('/slow')) return answer(req, res);
    open.set(req.url!, res);
    res.on('close', () => {
      open.delete(req.url!);
      if (!res.writableFinished) closed.push(req.url!);
    });
  });
  return { upstream, open, closed };
}

function servicesFor(yaml: string): { config: Config; services: Map<string, UpstreamService> } {
  const parsed = parseConfig(yaml, 'http.test.yaml');
  if (!parsed.ok) throw new Error(parsed.issues.map((i) => i.message).join('; '));
  const services = new Map<string, UpstreamService>();
  for (const [name, service] of parsed.config.services) services.set(name, new UpstreamService(service));
  return { config: parsed.config, services };
}

const get = (path: string, headers: Record<string, string> = {}): ResolvedCall => ({ service: 'up', method: 'GET', path, headers, body: undefined });

async function until(condition: () => boolean, what: string): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > 2000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

describe('step calls over the wire', () => {
  let hanging: Hanging;
  let services: Map<string, UpstreamService>;
  let config: Config;

  before(async () => {
    hanging = await hangingUpstream((req, res) => {
      if (req.url === '/text') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('plain words');
      if (req.url === '/empty') return void res.writeHead(204).end();
      if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'application/json', 'x-twice': ['a', 'b'] });
        res.write('{"parts":');
        return void setTimeout(() => res.end('[1,2]}'), 5);
      }
      if (req.url === '/bad-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{nope');
      if (req.url === '/fail') return void res.writeHead(503, { 'content-type': 'application/json' }).end('{}');
      const text = JSON.stringify({ url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
    });
    ({ config, services } = servicesFor(`
services:
  up: { targets: [{ url: ${hanging.upstream.url} }], pool: { connections: 2 }, retries: { attempts: 0 } }
routes: []
flows:
  - name: failing
    path: /failing
    steps:
      slow: { service: up, path: /slow/flow }
      fast: { service: up, path: /fail }
    response: "{{ steps.slow.body }}"
  - name: fan-out
    path: /fan-out
    timeout: 150ms
    steps:
      items: { forEach: "[\`1\`, \`2\`, \`3\`]", service: up, path: "/slow/item/{{ item }}", concurrency: 3 }
    response: "{{ steps.items }}"
`));
  });
  after(async () => {
    for (const service of services.values()) await service.close?.();
    await hanging.upstream.close();
  });

  const target = () => services.get('up')!.targets[0]!;

  it('sends the target host, the request id and accept; answers status, lower-case headers and the parsed body', async () => {
    const call = serviceCaller(services, 'req-1', 'x-request-id');
    const result = await call(get('/json/1', { authorization: 'Bearer a', host: 'evil.example' }), new AbortController().signal);
    assert.equal(result.status, 200);
    assert.equal(result.headers['content-type'], 'application/json');
    const body = result.body as { url: string; headers: Record<string, string> };
    assert.equal(body.url, '/json/1');
    assert.equal(body.headers.host, `127.0.0.1:${hanging.upstream.port}`, 'a template never picks the host');
    assert.equal(body.headers['x-request-id'], 'req-1');
    assert.equal(body.headers.accept, 'application/json');
    assert.equal(body.headers.authorization, 'Bearer a');
    assert.equal(target().active, 0);
  });

  it('reads chunked bodies, repeated headers, text and empty bodies; refuses JSON that does not parse', async () => {
    const call = serviceCaller(services, 'req-2', 'x-request-id');
    const signal = new AbortController().signal;
    const chunked = await call(get('/chunked'), signal);
    assert.deepEqual(chunked.body, { parts: [1, 2] });
    assert.deepEqual(chunked.headers['x-twice'], ['a', 'b']);
    assert.equal((await call(get('/text'), signal)).body, 'plain words');
    const empty = await call(get('/empty'), signal);
    assert.deepEqual([empty.status, empty.body], [204, null]);
    await assert.rejects(call(get('/bad-json'), signal), (e: CallError) => e.code === 'WEIR_UPSTREAM_ERROR' && !e.retryable);
  });

  it('a cancelled call rejects at once, and the upstream sees its connection close', async () => {
    const call = serviceCaller(services, 'req-3', 'x-request-id');
    const cancel = new CallCancel();
    const pending = callUnder(call, get('/slow/cancel'), cancel);
    await until(() => hanging.open.has('/slow/cancel'), 'the request to arrive');
    cancel.abort(new Error('gave up'));
    await assert.rejects(pending, /gave up/);
    await until(() => hanging.closed.includes('/slow/cancel'), 'the upstream to see the close');
    assert.equal(target().active, 0);
  });

  it('a call cancelled while it waits for a connection never reaches the upstream', async () => {
    const call = serviceCaller(services, 'req-4', 'x-request-id');
    const busy = [new CallCancel(), new CallCancel()];
    const holding = busy.map((cancel, i) => callUnder(call, get(`/slow/busy-${i}`), cancel).catch(() => undefined));
    await until(() => hanging.open.size === 2, 'both connections to be taken');
    const queued = new AbortController();
    const pending = call(get('/slow/queued'), queued.signal);
    queued.abort(new Error('not any more'));
    await assert.rejects(pending, /not any more/);
    for (const cancel of busy) cancel.abort(new Error('done'));
    await Promise.all(holding);
    await until(() => target().active === 0, 'every request to end');
    assert.equal(hanging.upstream.requests.some((r) => r.url === '/slow/queued'), false);
  });

  it('a step timeout closes the upstream request', async () => {
    const progress: StepProgress = { calls: 0, httpStatus: undefined, coalesced: 0 };
    const step = { ...config.flows[0]!.steps[0]!, timeoutMs: 30 };
    const outcome = await callWithRetries(get('/slow/timeout'), step, serviceCaller(services, 'req-5', 'x-request-id'), new AbortController().signal, () => 5000, progress);
    assert.deepEqual([outcome.kind, outcome.kind === 'failed' && outcome.code], ['failed', 'WEIR_UPSTREAM_TIMEOUT']);
    await until(() => hanging.closed.includes('/slow/timeout'), 'the upstream to see the close');
  });

  it('a coalesced request is closed only when every caller has given up', async () => {
    const coalescer = new CallCoalescer();
    const call = coalescing(serviceCaller(services, 'req-6', 'x-request-id'), coalescer);
    const [one, two] = [new CallCancel(), new CallCancel()];
    const first = callUnder(call, get('/slow/shared'), one);
    const second = callUnder(call, get('/slow/shared'), two);
    await until(() => hanging.open.has('/slow/shared'), 'the request to arrive');
    one.abort(new Error('one left'));
    await assert.rejects(first, /one left/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual([hanging.closed.includes('/slow/shared'), coalescer.inFlight], [false, 1], 'still wanted by the second caller');
    two.abort(new Error('two left'));
    await assert.rejects(second, /two left/);
    await until(() => hanging.closed.includes('/slow/shared'), 'the upstream to see the close');
    assert.equal(coalescer.inFlight, 0);
    assert.equal(hanging.upstream.requests.filter((r) => r.url === '/slow/shared').length, 1);
  });

  const run = (flow: number, coalescer = new CallCoalescer()) => {
    const ctx: FlowContext = { request: { method: 'GET', path: '/', params: {}, query: {}, headers: {}, body: null }, steps: {} };
    const plan = planFlow(config.flows[flow]!);
    return runFlow(plan, ctx, coalescing(serviceCaller(services, 'flow', 'x-request-id'), coalescer), { timeoutMs: config.flows[flow]!.timeoutMs });
  };

  it('a flow that fails closes the requests its other steps still have in flight', async () => {
    const outcome = await run(0);
    assert.equal(outcome.status, 502);
    assert.equal(outcome.failedStep, 'fast');
    await until(() => hanging.closed.includes('/slow/flow'), 'the upstream to see the close');
    await until(() => target().active === 0, 'every request to end');
  });

  it('a flow past its deadline closes every request of its fan-out', async () => {
    const coalescer = new CallCoalescer();
    const outcome = await run(1, coalescer);
    assert.equal(outcome.code, 'WEIR_FLOW_TIMEOUT');
    await until(() => ['/slow/item/1', '/slow/item/2'].every((url) => hanging.closed.includes(url)), 'the upstream to see both connections close');
    await until(() => target().active === 0 && coalescer.inFlight === 0, 'every request to end');
  });
});
