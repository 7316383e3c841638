// GET /metrics on the admin port: what Prometheus scrapes. Counts are checked against what the
// tests sent and what the upstreams saw; a two-worker process proves the workers' metrics are
// summed by the primary and their process metrics kept apart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, startWeir, type TestWeir } from '../support/weir.js';
import { closedPort, startUpstream, type TestUpstream } from '../support/upstream.js';
import { startWeirProcess, type WeirProcess } from '../support/cli.js';

/** The value of the sample `name{…}` whose labels include `labels` (undefined when there is none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

const scrape = async (adminUrl: string): Promise<{ status: number; type: string; text: string }> => {
  const r = await call(`${adminUrl}/metrics`);
  return { status: r.status, type: String(r.headers['content-type']), text: r.body };
};

describe('GET /metrics (one process)', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let down: number;
  before(async () => {
    upstream = await startUpstream();
    down = await closedPort();
    weir = await startWeir(`
services:
  up: { targets: [{ url: ${upstream.url} }] }
  down: { targets: [{ url: "http://127.0.0.1:${down}" }], retries: { attempts: 0 }, circuitBreaker: { failureThreshold: 2, openFor: 30s } }
routes:
  - { name: "shop:products", path: /products/*, service: up }
  - { name: gone, path: /gone, service: down }
  - name: limited
    path: /limited
    service: up
    plugins:
      - name: rate-limit
        config: { policies: [{ name: tiny, limit: 1, window: 1m, by: [route] }] }
flows:
  - name: metrics-flow
    path: /composed
    steps:
      one: { service: up, path: /one }
    response: "{{ steps.one.body.url }}"
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('counts requests by route, API and status, with their latency, and every attempt at a target', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await call(`${weir.url}/products/${i}`)).status, 200);
    assert.equal((await call(`${weir.url}/nowhere`)).status, 404);
    assert.equal((await call(`${weir.url}/gone`)).status, 502);
    assert.equal((await call(`${weir.url}/gone`)).status, 502);
    assert.equal((await call(`${weir.url}/composed`)).status, 200);
    const { status, type, text } = await scrape(weir.adminUrl);
    assert.equal(status, 200);
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(text, 'weir_requests_total', { route: 'shop:products', api: 'shop', status: '200' }), 5);
    assert.equal(sample(text, 'weir_request_duration_seconds_count', { route: 'shop:products', api: 'shop' }), 5);
    assert.equal(sample(text, 'weir_request_duration_seconds_bucket', { route: 'shop:products', le: '+Inf' }), 5);
    assert.equal(sample(text, 'weir_requests_total', { route: '', status: '404' }), 1, 'unrouted requests count too');
    assert.equal(sample(text, 'weir_requests_total', { route: 'gone', status: '502' }), 2);
    assert.equal(sample(text, 'weir_requests_total', { route: 'metrics-flow', status: '200' }), 1, 'flows are counted by their name');
    // The upstream saw 5 proxied requests and 1 flow step: 6 answered attempts, each timed.
    assert.equal(upstream.requests.length, 6);
    assert.equal(sample(text, 'weir_upstream_attempts_total', { service: 'up', target: upstream.url, outcome: '2xx' }), 6);
    assert.equal(sample(text, 'weir_upstream_duration_seconds_count', { service: 'up', target: upstream.url }), 6);
    assert.equal(sample(text, 'weir_upstream_attempts_total', { service: 'down', outcome: 'connect-failure' }), 2);
    assert.equal(sample(text, 'weir_circuit_breaker_state', { service: 'down' }), 2, 'two failures opened the breaker');
    assert.equal(sample(text, 'weir_circuit_breaker_state', { service: 'up' }), 0);
    assert.equal(sample(text, 'weir_upstream_in_flight', { service: 'up' }), 0);
    assert.ok((sample(text, 'nodejs_eventloop_lag_p99_seconds', { worker: '0' }) ?? -1) >= 0, 'event-loop lag');
    assert.ok((sample(text, 'process_resident_memory_bytes', { worker: '0' }) ?? 0) > 0, 'memory');
  });

  it('counts rate-limit refusals by route and policy', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(`${weir.url}/limited`)).status);
    assert.deepEqual(statuses, [200, 429, 429]);
    const { text } = await scrape(weir.adminUrl);
    assert.equal(sample(text, 'weir_rate_limited_total', { route: 'limited', policy: 'tiny' }), 2);
    assert.equal(sample(text, 'weir_requests_total', { route: 'limited', status: '429' }), 2);
  });
});

describe('GET /metrics (a node with two workers)', () => {
  let upstream: TestUpstream;
  let weir: WeirProcess;
  before(async () => {
    upstream = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'weir-metrics-'));
    const config = join(dir, 'weir.yaml');
    writeFileSync(config, `services:\n  up: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: all, path: /*, service: up }\n`);
    weir = await startWeirProcess(['--config', config, '--workers', '2', '--port', '0', '--admin-port', '0', '--data', join(dir, 'data')]);
  });
  after(async () => {
    weir.child.kill('SIGTERM');
    await weir.exited;
    await upstream.close();
  });

  it("sums the workers' request counts and keeps each process's memory apart", async () => {
    const n = 60;
    // Many connections at once, so both workers take some.
    const statuses = await Promise.all(Array.from({ length: n }, (_, i) => call(`http://127.0.0.1:${weir.port}/x/${i}`, { headers: { connection: 'close' } }).then((r) => r.status)));
    assert.deepEqual(new Set(statuses), new Set([200]));
    const { status, text } = await scrape(`http://127.0.0.1:${weir.adminPort}`);
    assert.equal(status, 200);
    assert.equal(sample(text, 'weir_requests_total', { route: 'all', status: '200' }), n, 'one total over both workers');
    assert.equal(sample(text, 'weir_upstream_attempts_total', { service: 'up', outcome: '2xx' }), upstream.requests.length);
    const processes = [...text.matchAll(/^process_resident_memory_bytes\{worker="([^"]+)"\}/gm)].map((m) => m[1]).sort();
    assert.equal(processes.length, 3, `primary and two workers: ${processes.join(', ')}`);
    assert.ok(processes.includes('primary'));
    // HELP/TYPE once per metric: a valid exposition.
    const types = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
    assert.equal(new Set(types).size, types.length);
  });

  it("counts the call log's records by outcome, over the workers, and shows what waits in the queues", async () => {
    const admin = `http://127.0.0.1:${weir.adminPort}`;
    const written = async () => sample((await scrape(admin)).text, 'weir_call_log_records_total', { outcome: 'written' }) ?? 0;
    // What earlier tests sent may still be on its way: start once the count has settled.
    let before = -1;
    for (let i = 0; i < 50 && before !== (await written()); i++) {
      before = await written();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const n = 25;
    await Promise.all(Array.from({ length: n }, (_, i) => call(`http://127.0.0.1:${weir.port}/logged/${i}`, { headers: { connection: 'close' } })));
    // Records reach the writer in batches (every flushIntervalMs): wait until all are written.
    for (let i = 0; i < 100 && (await written()) < before + n; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    const { text } = await scrape(admin);
    assert.equal(sample(text, 'weir_call_log_records_total', { outcome: 'written' }), before + n);
    assert.equal(sample(text, 'weir_call_log_records_total', { outcome: 'dropped' }), 0);
    assert.equal(sample(text, 'weir_call_log_records_total', { outcome: 'failed' }), 0);
    assert.equal(sample(text, 'weir_call_log_queue_records'), 0, 'nothing waits once written');
    assert.equal(sample(text, 'weir_call_log_pruned_total'), 0);
  });
});
