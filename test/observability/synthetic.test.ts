import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from '../admin/render.js';

const coverage = operationCoverage();

interface Run {
  at: string;
  ok: boolean;
  reason: string | null;
  detail: string | null;
  status: number | null;
  latencyMs: number;
  steps: Array<{ name: string; durationMs: number; desc: string | null }> | null;
  node: string;
}

/** The upstream answers /slow/* after this many ms (0: at once). */
let delayMs = 0;

describe('synthetic checks', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let alice: AdminCall; // admin of shop
  let bob: AdminCall; // admin of other

  const runs = async (who: AdminCall, check: string): Promise<Run[]> => {
    const res = await who('GET', `/api/v1/checks/${check}/results?from=0`);
    assert.equal(res.status, 200, res.body);
    return res.json().items;
  };
  /** Waits for a run (newer than `after`) that satisfies `test`. */
  const runWhere = (check: string, test: (run: Run) => boolean, afterIso = '1970-01-01T00:00:00.000Z') =>
    until(async () => (await runs(alice, check)).find((r) => r.at > afterIso && test(r)), 30_000, `a run of ${check}`);

  before(async () => {
    upstream = await startUpstream(async (req, res) => {
      if (req.url!.startsWith('/slow/') && delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      const status = req.url!.startsWith('/broken') ? 503 : 200;
      const body = JSON.stringify({ ok: status === 200, path: req.url, items: [1, 2, 3] });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    });
    const yaml = [
      'global:',
      '  synthetic: { minInterval: 50ms }',
      'services:',
      `  backend: { targets: [{ url: ${upstream.url} }] }`,
      'routes:',
      '  - { name: file-route, path: /file, service: backend }',
      '',
    ].join('\n');
    weir = await startWeir(yaml);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    for (const team of ['shop', 'other']) assert.equal((await admin('POST', '/api/v1/teams', { name: team })).status, 201);
    for (const user of ['alice', 'bob']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'admin' });
    await admin('PUT', '/api/v1/teams/other/members/bob', { role: 'admin' });
    alice = coverage.wrap(await adminClient(weir.adminUrl, 'alice', 'alice-password-1'));
    bob = coverage.wrap(await adminClient(weir.adminUrl, 'bob', 'bob-password-1'));
    const created = [
      await alice('POST', '/api/v1/routes', { name: 'slow', team: 'shop', spec: { path: '/slow/*', service: 'backend' } }),
      await alice('POST', '/api/v1/routes', { name: 'broken', team: 'shop', spec: { path: '/broken', service: 'backend' } }),
      await alice('POST', '/api/v1/flows', {
        name: 'combo',
        team: 'shop',
        spec: { path: '/combo', steps: { first: { service: 'backend', path: '/one' }, second: { service: 'backend', path: '/two' } }, response: '{{ steps.first.body }}' },
      }),
      await bob('POST', '/api/v1/routes', { name: 'bobs', team: 'other', spec: { path: '/bobs', service: 'backend' } }),
    ];
    for (const res of created) assert.equal(res.status, 201, res.body);
    await until(async () => ((await call(`${weir.url}/combo`)).status === 200 ? true : undefined), 5000, 'the routes to serve');
  });

  after(async () => {
    await weir?.close();
    await upstream?.close();
  });

  it('detects a slowed upstream: runs go from success to failure with reason "latency", and back', async () => {
    const spec = { interval: '2s', timeout: '2s', request: { path: '/slow/x' }, expect: { status: [200], maxLatency: '300ms', body: { jmespath: 'length(items)', equals: 3 } } };
    const created = await alice('POST', '/api/v1/checks', { name: 'slow-check', team: 'shop', spec });
    assert.equal(created.status, 201, created.body);
    assert.equal(created.headers['etag'], '"1"');
    const good = await runWhere('slow-check', (r) => r.ok);
    assert.equal(good.status, 200);
    assert.equal(good.reason, null);
    assert.ok(upstream.requests.some((r) => r.url === '/slow/x' && r.headers['x-weir-check'] === 'slow-check'), 'the check went through the gateway to the upstream');

    delayMs = 600;
    const slow = await runWhere('slow-check', (r) => !r.ok, good.at);
    assert.equal(slow.reason, 'latency');
    assert.equal(slow.status, 200);
    assert.match(slow.detail!, /more than 300 ms/);
    assert.ok(slow.latencyMs > 300);
    const listed = (await alice('GET', '/api/v1/checks')).json().items.find((c: { name: string }) => c.name === 'slow-check');
    assert.ok(listed.lastRun !== null);

    delayMs = 0;
    await runWhere('slow-check', (r) => r.ok, slow.at);
    const series = await alice('GET', '/api/v1/checks/slow-check/series?from=0&resolution=hour');
    assert.equal(series.status, 200, series.body);
    const points = series.json().points as Array<{ runs: number; successes: number; successRatio: number; latencyP95Ms: number }>;
    const total = points.reduce((n, p) => n + p.runs, 0);
    const ok = points.reduce((n, p) => n + p.successes, 0);
    assert.ok(total >= 3 && ok >= 2 && ok < total, `runs ${total}, successes ${ok}`);
    assert.ok(points.some((p) => p.latencyP95Ms > 300));

    const metrics = await call(`${weir.adminUrl}/metrics`);
    assert.match(metrics.body, /weir_synthetic_check_success\{check="slow-check"\} [01]/);
    assert.match(metrics.body, /weir_synthetic_check_duration_seconds_count\{check="slow-check"\} \d+/);
    const current = await alice('GET', '/api/v1/checks/slow-check');
    assert.equal((await alice('DELETE', '/api/v1/checks/slow-check', undefined, { 'if-match': current.headers['etag'] as string })).status, 204);
    assert.equal((await alice('GET', '/api/v1/checks/slow-check/results?from=0')).status, 404);
  });

  it('fails on a status outside the expected set, and on a body assertion', async () => {
    const spec = { interval: '1h', request: { path: '/broken' } };
    assert.equal((await alice('POST', '/api/v1/checks', { name: 'broken-check', team: 'shop', spec })).status, 201);
    const run = await runWhere('broken-check', () => true);
    assert.equal(run.ok, false);
    assert.equal(run.reason, 'status');
    assert.equal(run.status, 503);
    assert.match(run.detail!, /status 503, expected 2xx/);

    const asserting = { interval: '1h', request: { path: '/slow/a' }, expect: { body: { jmespath: 'missing' } } };
    assert.equal((await alice('POST', '/api/v1/checks', { name: 'assert-check', team: 'shop', spec: asserting })).status, 201);
    const failed = await runWhere('assert-check', () => true);
    assert.equal(failed.reason, 'assertion');
    assert.match(failed.detail!, /missing is null/);
  });

  it("records a flow's step timings, and runs a check now on request with its secret header", async () => {
    const value = 'Bearer synthetic-secret-value';
    assert.equal((await alice('POST', '/api/v1/secrets', { name: 'check-token', team: 'shop', value })).status, 201);
    const spec = { interval: '1h', enabled: false, request: { method: 'GET', path: '/combo' } };
    assert.equal((await alice('POST', '/api/v1/checks', { name: 'flow-check', team: 'shop', spec })).status, 201);
    const before = upstream.requests.length;
    const res = await alice('POST', '/api/v1/checks/flow-check/run');
    assert.equal(res.status, 200, res.body);
    const run = res.json() as Run;
    assert.equal(run.ok, true);
    assert.equal(run.status, 200);
    assert.deepEqual(run.steps!.map((s) => s.name).sort(), ['first', 'second']);
    for (const step of run.steps!) {
      assert.ok(step.durationMs >= 0);
      assert.equal(step.desc, 'ok 200');
    }
    const seen = upstream.requests.slice(before);
    assert.deepEqual(seen.map((r) => r.url).sort(), ['/one', '/two']);
    assert.deepEqual((await runs(alice, 'flow-check')).map((r) => r.at), [run.at], 'a disabled check runs only when asked');
    assert.equal((await alice('GET', '/api/v1/checks/flow-check')).json().lastRun.at, run.at);

    const keyed = { interval: '1h', enabled: false, request: { method: 'POST', path: '/slow/keyed', headers: { Authorization: '${secret:check-token}' }, body: { hello: 'world' } } };
    assert.equal((await alice('POST', '/api/v1/checks', { name: 'keyed-check', team: 'shop', spec: keyed })).status, 201);
    assert.equal((await alice('POST', '/api/v1/checks/keyed-check/run')).json().ok, true);
    const received = upstream.requests.filter((r) => r.url === '/slow/keyed');
    assert.equal(received.length, 1);
    assert.equal(received[0]!.headers['authorization'], value, 'the secret reached the upstream');
    assert.equal(received[0]!.method, 'POST');
    assert.deepEqual(JSON.parse(received[0]!.body.toString()), { hello: 'world' });
    const shown = await alice('GET', '/api/v1/checks/keyed-check');
    assert.equal(shown.json().spec.request.headers.Authorization, '${secret:check-token}', 'the stored spec keeps the reference, never the value');
  });

  it('refuses bad definitions with 422 and a pointer per problem', async () => {
    const bad = async (spec: unknown) => {
      const res = await alice('POST', '/api/v1/checks', { name: 'bad', team: 'shop', spec });
      assert.equal(res.status, 422, res.body);
      assert.equal(res.json().code, 'WEIR_VALIDATION_FAILED');
      return (res.json().problems as Array<{ pointer: string; message: string }>).map((p) => p.pointer);
    };
    assert.ok((await bad({ interval: 'often', request: { path: '/slow/a' } })).includes('/spec/interval'));
    assert.ok((await bad({ interval: '1s', request: { path: 'no-slash' } })).includes('/spec/request/path'));
    assert.ok((await bad({ interval: '1s', request: { path: '/slow/a' }, expect: { status: [700] } })).includes('/spec/expect/status/0'));
    assert.deepEqual(await bad({ interval: '10ms', request: { path: '/slow/a' } }), ['/spec/interval']);
    assert.deepEqual(await bad({ interval: '1s', timeout: '5s', request: { path: '/slow/a' } }), ['/spec/timeout']);
    assert.deepEqual(await bad({ interval: '1s', timeout: '500ms', request: { path: '/slow/a' }, expect: { maxLatency: '900ms' } }), ['/spec/expect/maxLatency']);
    assert.deepEqual(await bad({ interval: '1s', request: { path: '/slow/a' }, expect: { body: { jmespath: 'items[' } } }), ['/spec/expect/body/jmespath']);
    assert.deepEqual(await bad({ interval: '1s', request: { path: '/nowhere' } }), ['/spec/request/path']);
    assert.deepEqual(await bad({ interval: '1s', request: { path: '/slow/a', headers: { 'x-key': '${secret:nope}' } } }), ['/spec/request/headers']);
    assert.deepEqual(await bad({ interval: '1s', request: { path: '/bobs' } }), ['/spec/request/path'], "another team's route");
    assert.deepEqual(await bad({ interval: '1s', request: { path: '/file' } }), ['/spec/request/path'], "the file's routes are the system admins'");
    assert.equal((await alice('GET', '/api/v1/checks/bad')).status, 404, 'nothing was stored');
    const byAdmin = await admin('POST', '/api/v1/checks', { name: 'file-check', team: 'other', spec: { interval: '1h', enabled: false, request: { path: '/file' } } });
    assert.equal(byAdmin.status, 201, byAdmin.body);
  });

  it("keeps teams apart: another team's checks and their results are 404", async () => {
    assert.equal((await bob('POST', '/api/v1/checks', { name: 'bobs-check', team: 'other', spec: { interval: '1h', request: { path: '/bobs' } } })).status, 201);
    await until(async () => ((await runs(bob, 'bobs-check')).length > 0 ? true : undefined), 10_000, "bob's check to run");
    const names = (who: AdminCall) => who('GET', '/api/v1/checks').then((r) => (r.json().items as Array<{ name: string }>).map((c) => c.name).sort());
    assert.deepEqual(await names(bob), ['bobs-check', 'file-check']);
    assert.ok(!(await names(alice)).includes('bobs-check'));
    assert.ok((await names(admin)).includes('bobs-check') && (await names(admin)).includes('flow-check'));
    for (const path of ['/api/v1/checks/bobs-check', '/api/v1/checks/bobs-check/results', '/api/v1/checks/bobs-check/series']) {
      assert.equal((await alice('GET', path)).status, 404, path);
    }
    assert.equal((await alice('POST', '/api/v1/checks/bobs-check/run')).status, 404);
    assert.equal((await alice('PUT', '/api/v1/checks/bobs-check', { spec: { interval: '1h', request: { path: '/slow/a' } } }, { 'if-match': '"1"' })).status, 404);
    const audit = (await admin('GET', '/api/v1/audit?kind=check')).json().items as Array<{ name: string; action: string; actor: string }>;
    assert.ok(audit.some((e) => e.name === 'bobs-check' && e.action === 'create' && e.actor === 'bob'));
  });

  it('updates a check with If-Match, and refuses a stale version', async () => {
    const current = await alice('GET', '/api/v1/checks/broken-check');
    const spec = { interval: '1h', request: { path: '/broken' }, expect: { status: [503] } };
    assert.equal((await alice('PUT', '/api/v1/checks/broken-check', { spec })).status, 428);
    const updated = await alice('PUT', '/api/v1/checks/broken-check', { spec }, { 'if-match': current.headers['etag'] as string });
    assert.equal(updated.status, 200, updated.body);
    assert.equal(updated.json().version, 2);
    assert.equal((await alice('PUT', '/api/v1/checks/broken-check', { spec }, { 'if-match': current.headers['etag'] as string })).status, 412);
    const now = (await alice('POST', '/api/v1/checks/broken-check/run')).json() as Run;
    assert.equal(now.ok, true, 'a 503 is what it expects now');
  });

  it('exercises every check operation, each answer within its documented schema', () => {
    assert.deepEqual(coverage.missing({ only: ['checks'] }), []);
  });
});
