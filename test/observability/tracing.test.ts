import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, configProblems, startWeir, type TestWeir } from '../support/weir.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWeirProcess, until } from '../support/cli.js';
import { metrics } from '../../src/observability/metrics.js';
import { parseTraceparent, startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp.js';

const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const TRACEPARENT = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`;
const SERVER = 2;
const CLIENT = 3;
const INTERNAL = 1;

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** A gateway with a proxied route (whose first attempt gets a 503, then is retried) and a two-step flow. */
function config(upstream: TestUpstream, tracing: string): string {
  return `
global:
${tracing}
services:
  api: { targets: [{ url: ${upstream.url} }], retries: { attempts: 2, onStatuses: [503], backoff: { initial: 1ms, max: 1ms } }, circuitBreaker: false, healthCheck: { passive: false } }
routes:
  - name: items
    path: /items/:id
    service: api
flows:
  - name: profile
    path: /profile/:id
    steps:
      user:
        service: api
        path: /users/{{ request.params.id }}
      orders:
        service: api
        path: /orders
        query: { user: "{{ steps.user.body.id }}" }
    response: { user: "{{ steps.user.body }}", orders: "{{ steps.orders.body }}" }
  - name: saga
    method: POST
    path: /saga
    idempotency: false
    steps:
      hold: { service: api, method: POST, path: /holds, compensate: { method: DELETE, path: /holds/1 } }
      charge: { service: api, method: POST, path: /charge, after: [hold] }
    response: { ok: true }
`;
}

/** This process's `weir_spans_total{outcome}` (0 before any), or with 'queued' its `weir_span_queue_spans`. */
async function spanCount(outcome: 'exported' | 'failed' | 'queued'): Promise<number> {
  const text = await metrics.registry.metrics();
  const line = outcome === 'queued' ? /^weir_span_queue_spans (\S+)$/m.exec(text) : new RegExp(`^weir_spans_total\\{outcome="${outcome}"\\} (\\S+)$`, 'm').exec(text);
  return line === null ? 0 : Number(line[1]);
}

describe('tracing: W3C Trace Context and OTLP/HTTP export', () => {
  let upstream: TestUpstream;
  let receiver: OtlpReceiver;
  let flaky = 0;

  before(async () => {
    upstream = await startUpstream((req, res) => {
      if (req.url === '/items/flaky' && flaky++ === 0) return json(res, 503, { error: 'busy' });
      if (req.url!.startsWith('/users/')) return json(res, 200, { id: req.url!.split('/')[2] });
      if (req.url === '/charge') return json(res, 402, { error: 'declined' });
      json(res, 200, { url: req.url });
    });
    receiver = await startOtlpReceiver();
  });

  after(async () => {
    await upstream.close();
    await receiver.close();
  });

  const spansOf = (traceId: string, count: number): Promise<ReceivedSpan[]> =>
    until(() => {
      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      return spans.length >= count ? spans : undefined;
    }, 10_000, `${count} spans of trace ${traceId}`);

  describe('enabled', () => {
    let weir: TestWeir;
    before(async () => {
      weir = await startWeir(config(upstream, `  tracing: { enabled: true, endpoint: "${receiver.url}", serviceName: edge-gw, headers: { x-api-key: k1 } }`));
    });
    after(() => weir.close());

    it('continues the client trace: a server span under its traceparent, a client span per attempt (retry visible), each upstream request parented by its attempt', async () => {
      const from = upstream.requests.length;
      const res = await call(`${weir.url}/items/flaky`, { headers: { traceparent: TRACEPARENT, tracestate: 'vendor=abc' } });
      assert.equal(res.status, 200);
      const seen = upstream.requests.slice(from).map((r) => ({ ...parseTraceparent(r.headers.traceparent), tracestate: r.headers.tracestate }));
      assert.equal(seen.length, 2, 'one 503, one retry');
      for (const s of seen) {
        assert.equal(s.traceId, CLIENT_TRACE);
        assert.notEqual(s.parentId, CLIENT_SPAN, "the upstream's parent is Weir's span, not the client's");
        assert.equal(s.flags, '01');
        assert.equal(s.tracestate, 'vendor=abc');
      }
      assert.notEqual(seen[0]!.parentId, seen[1]!.parentId, 'each attempt is its own span');

      const spans = await spansOf(CLIENT_TRACE, 3);
      const server = spans.filter((s) => s.kind === SERVER);
      assert.equal(server.length, 1);
      assert.equal(server[0]!.parentSpanId, CLIENT_SPAN);
      assert.equal(server[0]!.name, 'GET /items/:id');
      assert.equal(server[0]!.serviceName, 'edge-gw');
      assert.equal(server[0]!.attributes['http.request.method'], 'GET');
      assert.equal(server[0]!.attributes['http.route'], '/items/:id');
      assert.equal(server[0]!.attributes['url.path'], '/items/flaky');
      assert.equal(server[0]!.attributes['http.response.status_code'], 200);
      const attempts = spans.filter((s) => s.kind === CLIENT);
      assert.deepEqual(attempts.map((s) => s.parentSpanId), [server[0]!.spanId, server[0]!.spanId]);
      assert.deepEqual(new Set(attempts.map((s) => s.spanId)), new Set(seen.map((s) => s.parentId)), 'the upstream saw the attempt spans');
      const byStatus = Object.fromEntries(attempts.map((s) => [s.attributes['http.response.status_code'], s]));
      assert.equal(byStatus[503]!.status.code, 2, 'the refused attempt is an error');
      assert.equal(byStatus[200]!.attributes['http.request.resend_count'], 1, 'the retry says it is one');
      assert.equal(byStatus[200]!.attributes['weir.target'], upstream.url);
      // The exporter sent the configured headers.
      assert.equal(receiver.upstream.requests.at(-1)!.headers['x-api-key'], 'k1');
      // The call log's record names the trace.
      await weir.node.calls!.flush();
      const admin = await adminClient(weir.adminUrl);
      const record = await admin('GET', `/api/v1/calls/${String(res.headers['x-request-id'])}`);
      assert.equal(record.json<{ traceId: string }>().traceId, CLIENT_TRACE);
    });

    it('starts a new trace for a malformed traceparent (and drops its tracestate)', async () => {
      const from = upstream.requests.length;
      const bad = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-zz`;
      await call(`${weir.url}/items/1`, { headers: { traceparent: bad, tracestate: 'vendor=abc' } });
      const sent = upstream.requests[from]!;
      const { traceId, flags } = parseTraceparent(sent.headers.traceparent);
      assert.notEqual(traceId, CLIENT_TRACE);
      assert.equal(flags, '01', 'sampleRatio defaults to 1');
      assert.equal(sent.headers.tracestate, undefined);
      const spans = await spansOf(traceId, 2);
      const server = spans.find((s) => s.kind === SERVER)!;
      assert.equal(server.parentSpanId, undefined, 'a root span');
    });

    it('gives a request no route took a server span of its own (404)', async () => {
      const trace = 'd'.repeat(32);
      const res = await call(`${weir.url}/nowhere`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } });
      assert.equal(res.status, 404);
      const [span] = await spansOf(trace, 1);
      assert.equal(span!.kind, SERVER);
      assert.equal(span!.name, 'GET');
      assert.equal(span!.parentSpanId, CLIENT_SPAN);
      assert.equal(span!.attributes['http.response.status_code'], 404);
      assert.equal(span!.attributes['weir.error_code'], 'WEIR_NO_ROUTE');
      assert.equal(span!.status.code ?? 0, 0, 'a 4xx is not a server error');
    });

    it('traces a flow: a span per step under the request span, each step call parented by its step', async () => {
      const from = upstream.requests.length;
      const res = await call(`${weir.url}/profile/7`, { headers: { traceparent: TRACEPARENT.replace(CLIENT_TRACE, 'a'.repeat(32)) } });
      assert.equal(res.status, 200);
      const calls = upstream.requests.slice(from);
      assert.equal(calls.length, 2);
      const spans = await spansOf('a'.repeat(32), 3);
      const server = spans.find((s) => s.kind === SERVER)!;
      assert.equal(server.parentSpanId, CLIENT_SPAN);
      assert.equal(server.name, 'GET /profile/:id');
      const steps = spans.filter((s) => s.kind === INTERNAL);
      assert.deepEqual(steps.map((s) => s.attributes['weir.step.name']).sort(), ['orders', 'user']);
      for (const step of steps) {
        assert.equal(step.parentSpanId, server.spanId);
        assert.equal(step.attributes['weir.step.service'], 'api');
        assert.equal(step.attributes['weir.step.status'], 'ok');
        assert.equal(step.attributes['weir.step.attempts'], 1);
        assert.equal(step.attributes['http.response.status_code'], 200);
      }
      const stepOf = (name: string) => steps.find((s) => s.attributes['weir.step.name'] === name)!;
      const userCall = calls.find((c) => c.url === '/users/7')!;
      const ordersCall = calls.find((c) => c.url === '/orders?user=7')!;
      assert.equal(parseTraceparent(userCall.headers.traceparent).parentId, stepOf('user').spanId);
      assert.equal(parseTraceparent(ordersCall.headers.traceparent).parentId, stepOf('orders').spanId);
      assert.equal(parseTraceparent(ordersCall.headers.traceparent).traceId, 'a'.repeat(32));
    });

  it("parents a failed flow's compensation calls by the request span", async () => {
      const trace = 'e'.repeat(32);
      const from = upstream.requests.length;
      const res = await call(`${weir.url}/saga`, { method: 'POST', headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } });
      assert.equal(res.status, 402, "the failed step's answer");
      const undo = upstream.requests.slice(from).find((r) => r.method === 'DELETE')!;
      const spans = await spansOf(trace, 3);
      const server = spans.find((s) => s.kind === SERVER)!;
      assert.equal(parseTraceparent(undo.headers.traceparent).parentId, server.spanId);
      const charge = spans.find((s) => s.attributes['weir.step.name'] === 'charge')!;
      assert.equal(charge.attributes['weir.step.status'], 'failed');
      assert.equal(charge.status.code, 2);
    });
  });

  it('logs a collector that cannot be reached (at most once a minute), and requests go on', async () => {
    const failedBefore = await spanCount('failed');
    const weir = await startWeir(config(upstream, '  tracing: { enabled: true, endpoint: "http://127.0.0.1:1/v1/traces" }'));
    try {
      for (let i = 0; i < 3; i++) assert.equal((await call(`${weir.url}/items/${i}`)).status, 200);
      const line = await until(() => weir.logs.find((l) => typeof l['msg'] === 'string' && l['msg'].startsWith('exporting spans failed')), 20_000, 'the export failure line');
      assert.equal(line['level'], 40);
      // Three requests, a server span and an attempt span each: all counted as failed in metrics.
      await until(async () => ((await spanCount('failed')) === failedBefore + 6 ? true : undefined), 20_000, '6 failed spans in weir_spans_total');
    } finally {
      await weir.close();
    }
  });

  it('sampleRatio 0: nothing is exported, yet upstreams get a new context with the sampled flag off; a sampled client trace is still followed (parent-based)', async () => {
    const before = receiver.spans().length;
    const weir = await startWeir(config(upstream, `  tracing: { enabled: true, endpoint: "${receiver.url}", sampleRatio: 0 }`));
    const from = upstream.requests.length;
    await call(`${weir.url}/items/2`);
    await call(`${weir.url}/profile/3`);
    const unsampled = upstream.requests.slice(from).map((r) => parseTraceparent(r.headers.traceparent));
    assert.equal(unsampled.length, 3);
    for (const t of unsampled) assert.equal(t.flags, '00');
    const sampledTrace = 'b'.repeat(32);
    await call(`${weir.url}/items/3`, { headers: { traceparent: `00-${sampledTrace}-${CLIENT_SPAN}-01` } });
    await weir.close(); // flushes what was batched
    const spans = receiver.spans().slice(before);
    assert.deepEqual(new Set(spans.map((s) => s.traceId)), new Set([sampledTrace]), 'only the client-sampled trace is exported');
    assert.equal(spans.length, 2);
  });

  it('disabled: traceparent and tracestate reach proxied and flow upstreams untouched, and nothing is exported', async () => {
    const before = receiver.spans().length;
    const weir = await startWeir(config(upstream, `  tracing: { enabled: false, endpoint: "${receiver.url}" }`));
    const from = upstream.requests.length;
    const unusual = `00-${CLIENT_TRACE}-${CLIENT_SPAN}-03`;
    await call(`${weir.url}/items/4`, { headers: { traceparent: unusual, tracestate: 'a=1,b=2' } });
    await call(`${weir.url}/profile/5`, { headers: { traceparent: unusual, tracestate: 'a=1,b=2' } });
    const malformed = 'not-a-traceparent';
    await call(`${weir.url}/items/5`, { headers: { traceparent: malformed } });
    const seen = upstream.requests.slice(from);
    assert.equal(seen.length, 4);
    for (const r of seen.slice(0, 3)) {
      assert.equal(r.headers.traceparent, unusual);
      assert.equal(r.headers.tracestate, 'a=1,b=2');
    }
    assert.equal(seen[3]!.headers.traceparent, malformed, 'off, Weir does not judge the header');
    await call(`${weir.url}/items/6`);
    assert.equal(upstream.requests.at(-1)!.headers.traceparent, undefined, 'and adds none');
    await weir.node.calls!.flush();
    const admin = await adminClient(weir.adminUrl);
    const traceIds = (await admin('GET', '/api/v1/calls?limit=10')).json<{ items: Array<{ path: string; traceId: string | null }> }>().items.map((r) => [r.path, r.traceId]);
    assert.deepEqual(traceIds.sort(), [['/items/4', CLIENT_TRACE], ['/items/5', null], ['/items/6', null], ['/profile/5', CLIENT_TRACE]], "off, the call log keeps the client's trace id when it is valid");
    await weir.close();
    assert.equal(receiver.spans().length, before);
  });

  it('shutdown flushes the spans still batched', async () => {
    const weir = await startWeir(config(upstream, `  tracing: { enabled: true, endpoint: "${receiver.url}" }`));
    const trace = 'c'.repeat(32);
    const exportedBefore = await spanCount('exported');
    await call(`${weir.url}/items/7`, { headers: { traceparent: `00-${trace}-${CLIENT_SPAN}-01` } });
    await until(async () => ((await spanCount('queued')) === 2 ? true : undefined), 5_000, 'both spans waiting for the next batch (weir_span_queue_spans)');
    await weir.close(); // well within the 1 s batch delay
    assert.equal(receiver.spans().filter((s) => s.traceId === trace).length, 2);
    assert.equal(await spanCount('exported'), exportedBefore + 2, 'weir_spans_total counts what was exported');
  });

  it('in a cluster, each worker exports its own spans, and SIGTERM flushes them before the workers exit', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-tracing-'));
    writeFileSync(join(dir, 'weir.yaml'), config(upstream, `  tracing: { enabled: true, endpoint: "${receiver.url}" }`));
    const weir = await startWeirProcess(['--config', join(dir, 'weir.yaml'), '--data', join(dir, 'data'), '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
    const traces = Array.from({ length: 6 }, (_, i) => String(i + 1).repeat(32));
    await Promise.all(traces.map((t) => call(`http://127.0.0.1:${weir.port}/items/x`, { headers: { traceparent: `00-${t}-${CLIENT_SPAN}-01` } })));
    weir.child.kill('SIGTERM');
    assert.equal(await weir.exited, 0);
    const spans = receiver.spans().filter((s) => traces.includes(s.traceId));
    assert.equal(spans.filter((s) => s.kind === SERVER).length, 6, 'every request span was exported');
    assert.equal(spans.filter((s) => s.kind === CLIENT).length, 6);
  });

  it('refuses bad tracing settings at load, with their lines', () => {
    const yaml = (tracing: string) => `global:\n  tracing:\n${tracing}\nservices: {}\nroutes: []\n`;
    assert.deepEqual(configProblems(yaml('    sampleRatio: 1.5')).map((p) => p.split(':').slice(0, 2).join(':')), ['3: /global/tracing/sampleRatio']);
    assert.match(configProblems(yaml('    enabled: true\n    endpoint: ftp://collector:4318'))[0]!, /^4: \/global\/tracing\/endpoint/);
    assert.match(configProblems(yaml('    serviceName: ""'))[0]!, /^3: \/global\/tracing\/serviceName/);
    assert.match(configProblems(yaml('    sample: 0.5'))[0]!, /^3: \/global\/tracing/);
    assert.match(configProblems('global:\n  accessLog: yes-please\nservices: {}\nroutes: []\n')[0]!, /^2: \/global\/accessLog/);
  });
});
