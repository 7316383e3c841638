import { after, before, describe, it } from 'node:test';
import type { CallRecord } from '../../src/calls/record.js';
import assert from 'node:assert/strict';
import { startUpstream, echo, type TestUpstream } from '../support/upstream.js';
import { until } from '../support/cli.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from '../admin/render.js';

/** A call as the admin API shows it. */
type Call = Omit<CallRecord, 'at'> & { at: string };

const HOLD_MS = 40;

describe('call log: every request recorded, queryable through the admin API', () => {
  let upstream: TestUpstream;
  let flaky: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let flakyCalls = 0;
  const coverage = operationCoverage();

  /** Every record written so far (the writer flushed first). */
  const calls = async (query = ''): Promise<Call[]> => {
    await weir.node.calls!.flush();
    const out: Call[] = [];
    let next: string | null = null;
    do {
      const res = await admin('GET', `/api/v1/calls?limit=100${query}${next === null ? '' : `&after=${next}`}`);
      assert.equal(res.status, 200, res.body);
      out.push(...res.json().items);
      next = res.json().next;
    } while (next !== null);
    return out;
  };

  before(async () => {
    upstream = await startUpstream(async (req, res, body) => {
      if (req.url!.startsWith('/slow/')) await new Promise((r) => setTimeout(r, HOLD_MS));
      echo(req, res, body);
    });
    flaky = await startUpstream((req, res, body) => {
      if (flakyCalls++ % 2 === 0) {
        res.writeHead(503, { 'content-length': '0' });
        return void res.end();
      }
      echo(req, res, body);
    });
    weir = await startWeir(`
global:
  callLog: { flushInterval: 5ms }
  limits: { maxBodySize: 1kb }
services:
  backend: { targets: [{ url: ${upstream.url} }] }
  flaky: { targets: [{ url: ${flaky.url} }] }
  dead: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - { name: items, path: /items/*, service: backend }
  - { name: flaky, path: /flaky, service: flaky }
  - { name: down, path: /down, service: dead }
flows:
  - name: waterfall
    path: /wf
    steps:
      a: { service: backend, path: /slow/a }
      b: { service: backend, path: /b }
      c: { service: backend, path: "/c{{ steps.a.body.url }}" }
    response:
      c: "{{ steps.c.body.url }}"
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
  });

  after(async () => {
    await weir?.close();
    await upstream?.close();
    await flaky?.close();
    assert.deepEqual(coverage.missing({ only: ['calls'] }), [], 'call log operations no test called');
  });

  it('writes exactly one record per request, with what happened', async () => {
    const sent: Array<{ id: string; bytesOut: number }> = [];
    for (let i = 0; i < 25; i++) {
      const res = await call(`${weir.url}/items/${i}?q=${i}`, { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain', 'x-request-id': `items-${i}` } });
      assert.equal(res.status, 200);
      sent.push({ id: `items-${i}`, bytesOut: Buffer.byteLength(res.body) });
    }
    const records = await calls('&route=items');
    assert.equal(records.length, 25, 'exactly N records');
    assert.deepEqual(records.map((r) => r.id).sort(), sent.map((s) => s.id).sort());
    for (const r of records) {
      const mine = sent.find((s) => s.id === r.id)!;
      assert.equal(r.status, 200);
      assert.equal(r.kind, 'proxy');
      assert.equal(r.method, 'POST');
      assert.match(r.path, /^\/items\/\d+$/);
      assert.equal(r.bytesIn, 5);
      assert.equal(r.bytesOut, mine.bytesOut, 'bytes out are what the client received');
      assert.deepEqual(r.targets, [upstream.url]);
      assert.equal(r.attempts, 1);
      assert.equal(r.retries, 0);
      assert.equal(r.errorCode, null);
      assert.equal(r.clientIp, '127.0.0.1');
      assert.equal(r.worker, 0);
      assert.ok(r.upstreamMs > 0 && r.upstreamMs <= r.durationMs);
      assert.ok(Math.abs(r.gatewayMs + r.upstreamMs - r.durationMs) < 1e-6);
      assert.equal(r.team, null, 'a file route belongs to no team');
    }
    assert.equal(upstream.requests.filter((q) => q.url.startsWith('/items/')).length, 25);
  });

  it('records retries and the targets tried', async () => {
    const res = await call(`${weir.url}/flaky`, { headers: { 'x-request-id': 'flaky-1' } });
    assert.equal(res.status, 200);
    assert.equal(flaky.requests.length, 2, 'the upstream saw the first attempt and the retry');
    const [record] = await calls('&requestId=flaky-1');
    assert.equal(record!.attempts, 2);
    assert.equal(record!.retries, 1);
    assert.deepEqual(record!.targets, [flaky.url, flaky.url]);
    assert.equal(record!.status, 200);
  });

  it('records a failed request with its error code and every attempt', async () => {
    const down = await call(`${weir.url}/down`, { headers: { 'x-request-id': 'down-1' } });
    assert.equal(down.status, 502);
    const [record] = await calls('&requestId=down-1');
    assert.equal(record!.status, 502);
    assert.equal(record!.errorCode, 'WEIR_UPSTREAM_ERROR');
    assert.equal(record!.attempts, 2, 'a refused connection is retried');
    assert.deepEqual(record!.targets, ['http://127.0.0.1:1', 'http://127.0.0.1:1']);
  });

  it('records requests the gateway refused before any route handled them', async () => {
    assert.equal((await call(`${weir.url}/nowhere`, { headers: { 'x-request-id': 'no-route' } })).status, 404);
    const [noRoute] = await calls('&requestId=no-route');
    assert.equal(noRoute!.status, 404);
    assert.equal(noRoute!.errorCode, 'WEIR_NO_ROUTE');
    assert.equal(noRoute!.route, '');
    assert.equal(noRoute!.path, '/nowhere');
    assert.equal(noRoute!.attempts, 0);
    const large = await call(`${weir.url}/items/big`, { method: 'POST', body: 'x'.repeat(2000), headers: { 'x-request-id': 'too-large' } });
    assert.equal(large.status, 413);
    const [tooLarge] = await calls('&requestId=too-large');
    assert.equal(tooLarge!.errorCode, 'WEIR_BODY_TOO_LARGE');
    assert.equal(tooLarge!.route, 'items', 'it matched a route first');
  });

  it("records a flow's steps with offsets that agree with what the upstreams saw", async () => {
    const res = await call(`${weir.url}/wf`, { headers: { 'x-request-id': 'flow-1' } });
    assert.equal(res.status, 200, res.body);
    // Recorded when the response closes, which may be just after the client has it.
    await until(async () => ((await calls('&requestId=flow-1')).length === 1 ? true : undefined), 5000, 'the flow\'s record');
    const got = await admin('GET', '/api/v1/calls/flow-1');
    assert.equal(got.status, 200);
    const record = got.json() as Call;
    assert.equal(record.kind, 'flow');
    assert.equal(record.route, 'waterfall');
    assert.equal(record.status, 200);
    assert.equal(record.attempts, 3);
    const steps = new Map(record.steps!.map((s) => [s.name, s]));
    assert.deepEqual([...steps.keys()], ['a', 'b', 'c']);
    for (const s of steps.values()) {
      assert.equal(s.status, 'ok');
      assert.equal(s.attempts, 1);
      assert.equal(s.httpStatus, 200);
    }
    const seen = (path: string) => upstream.requests.find((q) => q.url === path) ?? assert.fail(`the upstream never saw ${path}: ${upstream.requests.map((q) => q.url).join(' ')}`);
    const a = steps.get('a')!;
    const b = steps.get('b')!;
    const c = steps.get('c')!;
    const upstreamA = seen('/slow/a');
    assert.ok(a.durationMs >= upstreamA.endedAt - upstreamA.startedAt, 'a lasted at least as long as the upstream held it');
    assert.ok(c.startMs >= a.startMs + a.durationMs - 0.01, 'c started when a ended');
    assert.ok(seen('/c%2Fslow%2Fa').startedAt >= upstreamA.endedAt, 'the upstream saw c only after answering a');
    assert.ok(b.startMs < a.startMs + a.durationMs, 'b ran alongside a');
    assert.ok(seen('/b').startedAt < upstreamA.endedAt, 'the upstream saw b while it held a');
    assert.ok(record.durationMs >= c.startMs + c.durationMs);
    assert.ok(record.upstreamMs >= a.durationMs + c.durationMs - 0.01, 'upstream time covers the critical path');
    assert.ok(record.upstreamMs <= record.durationMs);
  });

  it('filters by status, class, latency, path, error code and time, and pages without repeats', async () => {
    const all = await calls();
    assert.ok(all.length >= 28);
    const ids = (list: Call[]) => list.map((r) => r.id).sort();
    assert.deepEqual(ids(await calls('&status=502')), ids(all.filter((r) => r.status === 502)));
    assert.deepEqual(ids(await calls('&status=5xx')), ids(all.filter((r) => r.status >= 500)));
    assert.deepEqual(ids(await calls('&status=2xx&route=waterfall')), ['flow-1']);
    assert.deepEqual(ids(await calls(`&minLatency=${HOLD_MS}`)), ids(all.filter((r) => r.durationMs >= HOLD_MS)));
    assert.ok((await calls(`&minLatency=${HOLD_MS}`)).some((r) => r.id === 'flow-1'));
    assert.deepEqual(ids(await calls('&maxLatency=1000000&path=%2Fitems%2F1')), ids(all.filter((r) => r.path.includes('/items/1'))));
    assert.deepEqual(ids(await calls('&errorCode=WEIR_UPSTREAM_ERROR')), ['down-1']);
    const flowAt = Date.parse(all.find((r) => r.id === 'flow-1')!.at);
    assert.deepEqual(ids(await calls(`&from=${new Date(flowAt).toISOString()}&to=${flowAt + 1}`)), ids(all.filter((r) => Date.parse(r.at) >= flowAt && Date.parse(r.at) < flowAt + 1)));
    const firstPage = await admin('GET', '/api/v1/calls?limit=10');
    assert.equal(firstPage.json().items.length, 10);
    await call(`${weir.url}/items/late`, { headers: { 'x-request-id': 'late' } });
    await weir.node.calls!.flush();
    const pages = [...firstPage.json().items];
    let next = firstPage.json().next;
    while (next !== null) {
      const page = await admin('GET', `/api/v1/calls?limit=10&after=${next}`);
      pages.push(...page.json().items);
      next = page.json().next;
    }
    assert.deepEqual(pages.map((r: Call) => r.id), all.map((r) => r.id), 'the same records in the same order; the late one is not slipped in');
    for (const bad of ['status=6xx', 'from=yesterday', 'minLatency=-1', 'limit=0']) {
      const res = await admin('GET', `/api/v1/calls?${bad}`);
      assert.equal(res.status, 422, bad);
      assert.equal(res.json().code, 'WEIR_VALIDATION_FAILED');
    }
    assert.equal((await admin('GET', '/api/v1/calls/no-such-request')).json().code, 'WEIR_NOT_FOUND');
  });

  it('exports NDJSON and CSV, streamed, with the same filters', async () => {
    const all = await calls('&route=items');
    const nd = await admin('GET', '/api/v1/calls/export?route=items');
    assert.equal(nd.status, 200);
    assert.match(String(nd.headers['content-type']), /application\/x-ndjson/);
    assert.equal(nd.headers['content-length'], undefined, 'streamed');
    const lines = nd.body.trim().split('\n').map((l) => JSON.parse(l) as Call);
    assert.deepEqual(lines.map((r) => r.id), all.map((r) => r.id));
    const csv = await admin('GET', '/api/v1/calls/export?route=items&format=csv&max=5');
    assert.match(String(csv.headers['content-type']), /text\/csv/);
    const rows = csv.body.trim().split('\r\n');
    assert.equal(rows[0], 'id,at,node,worker,team,api,apiVersion,route,kind,consumer,clientIp,method,path,status,errorCode,bytesIn,bytesOut,durationMs,gatewayMs,upstreamMs,targets,attempts,retries,cache,traceId');
    assert.equal(rows.length, 6, 'a header and max rows');
    const first = rows[1]!.split(',');
    assert.equal(first[0], all[0]!.id);
    assert.equal(first[7], 'items');
    assert.equal(first[13], String(all[0]!.status));
    assert.equal((await admin('GET', '/api/v1/calls/export?format=xml')).status, 422);
  });

  it('reports its counters on /healthz and the runtime endpoint', async () => {
    await weir.node.calls!.flush();
    const stats = (await admin('GET', '/api/v1/runtime/call-log')).json();
    assert.equal(stats.store, 'sqlite');
    assert.equal(stats.dropped, 0);
    assert.equal(stats.failed, 0);
    assert.equal(stats.written, (await calls()).length);
    const health = (await call(`${weir.adminUrl}/healthz`)).json();
    assert.equal(health.callLog.dropped, 0);
    assert.equal(health.callLog.written, stats.written);
  });
});
