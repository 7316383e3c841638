import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, echo, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';
import { operationCoverage } from '../admin/render.js';

interface Stats { requests: number; errors: number; errorRate: number; p50Ms: number | null; p95Ms: number | null; p99Ms: number | null; bytesIn: number; bytesOut: number }
interface Series { resolution: string; from: string; to: string; groupBy: string | null; series: Array<{ group: string | null; total: Stats; points: Array<Stats & { at: string }> }> }
interface Top { by: string; metric: string; items: Array<Stats & { group: string | null }> }

const SLOW_MS = 120;

describe('analytics API: series and top-N from the rollups, with team isolation', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let alice: AdminCall; // admin of team shop, which owns the API orders
  let carol: AdminCall; // member of team apps, which owns nothing
  const coverage = operationCoverage();
  /** Requests sent per route; `none`: readiness probes that matched no route yet (404). */
  const sent = { items: 0, slow: 0, broken: 0, file: 0, none: 0, unowned: 0 };

  const get = async <T>(who: AdminCall, path: string): Promise<T> => {
    await weir.node.calls!.flush();
    const res = await who('GET', path);
    assert.equal(res.status, 200, res.body);
    return res.json() as T;
  };

  before(async () => {
    upstream = await startUpstream(async (req, res, body) => {
      if (req.url!.includes('/slow')) await new Promise((r) => setTimeout(r, SLOW_MS));
      if (req.url!.includes('/broken')) {
        res.writeHead(500, { 'content-length': '0' });
        return void res.end();
      }
      echo(req, res, body);
    });
    weir = await startWeir(`
global:
  callLog: { flushInterval: 5ms }
services:
  backend: { targets: [{ url: ${upstream.url} }] }
  failing: { targets: [{ url: ${upstream.url} }] }
routes:
  - { name: file-route, path: /file, service: backend }
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    for (const team of ['shop', 'apps']) await admin('POST', '/api/v1/teams', { name: team });
    for (const user of ['alice', 'carol']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'admin' });
    await admin('PUT', '/api/v1/teams/apps/members/carol', { role: 'member' });
    alice = coverage.wrap(await adminClient(weir.adminUrl, 'alice', 'alice-password-1'));
    carol = coverage.wrap(await adminClient(weir.adminUrl, 'carol', 'carol-password-1'));
    const spec = {
      basePath: '/orders',
      version: 'v1',
      routes: [
        { name: 'items', path: '/items/*', service: 'backend' },
        { name: 'slow', path: '/slow', service: 'backend' },
        { name: 'broken', path: '/broken', service: 'failing' },
      ],
    };
    assert.equal((await alice('POST', '/api/v1/apis', { name: 'orders', team: 'shop', spec })).status, 201);
    await alice('POST', '/api/v1/apis/orders/releases', {});
    assert.equal((await alice('POST', '/api/v1/apis/orders/publish', { release: 1 })).status, 200);
    // Ready when the API serves and the call log names its owner: under load the writer may learn
    // a new config version's route owners a moment after a worker serves the route (such records
    // have the route but no API nor team: counted in `unowned`).
    let probe = 0;
    await until(async () => {
      const id = `probe-${probe++}`;
      const served = (await call(`${weir.url}/orders/v1/items/0`, { headers: { 'x-request-id': id } })).status === 200;
      if (!served) return void sent.none++;
      sent.items++;
      await weir.node.calls!.flush();
      const owned = (await admin('GET', `/api/v1/calls/${id}`)).json().api === 'orders';
      if (!owned) sent.unowned++;
      return owned ? true : undefined;
    }, 5000, 'the API to serve, its owner known to the call log');
    for (let i = 0; i < 20; i++) assert.equal((await call(`${weir.url}/orders/v1/items/${i}`, { method: 'POST', body: 'x'.repeat(i) })).status, 200), sent.items++;
    for (let i = 0; i < 4; i++) assert.equal((await call(`${weir.url}/orders/v1/slow`)).status, 200), sent.slow++;
    // 500s, then 503s once passive health ejects the target: 5xx all the same.
    for (let i = 0; i < 6; i++) assert.ok((await call(`${weir.url}/orders/v1/broken`)).status >= 500), sent.broken++;
    for (let i = 0; i < 3; i++) assert.equal((await call(`${weir.url}/file`)).status, 200), sent.file++;
  });

  after(async () => {
    await weir?.close();
    await upstream?.close();
    assert.deepEqual(coverage.missing({ only: ['analytics'] }), [], 'analytics operations no test called');
  });

  /** Every request sent (`unowned` are among `items`). */
  const total = () => sent.items + sent.slow + sent.broken + sent.file + sent.none;

  it('counts every request at each resolution, with errors, bytes and latency percentiles', async () => {
    // Exactly what the call log holds (the API's readiness probe included).
    const logged = (await get<{ items: unknown[] }>(admin, '/api/v1/calls?limit=500')).items.length;
    assert.equal(logged, total());
    for (const resolution of ['minute', 'hour', 'day']) {
      const body = await get<Series>(admin, `/api/v1/analytics/series?resolution=${resolution}`);
      assert.equal(body.resolution, resolution);
      assert.equal(body.series.length, 1);
      const [only] = body.series;
      assert.equal(only!.group, null);
      assert.equal(only!.total.requests, total(), resolution);
      assert.equal(only!.points.reduce((n, p) => n + p.requests, 0), total());
      assert.equal(only!.total.errors, sent.broken + sent.none, '5xx, and 404s refused with WEIR_NO_ROUTE');
      assert.ok(only!.total.bytesIn >= (19 * 20) / 2, 'request bodies counted');
      assert.ok(Date.parse(body.from) <= Date.now() && Date.parse(body.to) > Date.now() - 60_000);
    }
    const byRoute = await get<Series>(admin, '/api/v1/analytics/series?resolution=hour&groupBy=route');
    const route = (name: string) => byRoute.series.find((s) => s.group === name)!.total;
    assert.equal(route('orders:items').requests, sent.items);
    assert.equal(route('orders:broken').errors, sent.broken);
    assert.equal(route('orders:broken').errorRate, 1);
    assert.equal(route('file-route').requests, sent.file);
    assert.ok(route('orders:slow').p50Ms! >= SLOW_MS, `the slow route's median is at least ${SLOW_MS} ms (the bucket's bound: ${route('orders:slow').p50Ms})`);
    assert.ok(route('orders:items').p99Ms! < SLOW_MS);

    const byStatus = await get<Series>(admin, '/api/v1/analytics/series?resolution=day&groupBy=status');
    const classes = [['2xx', total() - sent.broken - sent.none], ['5xx', sent.broken]];
    if (sent.none > 0) classes.push(['4xx', sent.none]);
    assert.deepEqual(byStatus.series.map((s) => [s.group, s.total.requests]).sort(), classes.sort());

    const byApi = await get<Series>(admin, '/api/v1/analytics/series?resolution=day&groupBy=api');
    assert.deepEqual(byApi.series.map((s) => [s.group, s.total.requests]).sort(), [['orders', total() - sent.file - sent.none - sent.unowned], [null, sent.file + sent.none + sent.unowned]].sort());
    const filtered = await get<Series>(admin, '/api/v1/analytics/series?resolution=minute&route=orders:slow');
    assert.equal(filtered.series[0]!.total.requests, sent.slow);
    const byTeam = await get<Series>(admin, '/api/v1/analytics/series?groupBy=team');
    assert.deepEqual(byTeam.series.map((s) => s.group).sort(), [null, 'shop'].sort());
  });

  it('ranks routes by requests, errors, error rate and p95', async () => {
    // Without the requests that matched no route (the readiness probes, if any).
    const top = async (query: string) => (await get<Top>(admin, `/api/v1/analytics/top?${query}`)).items.filter((i) => i.group !== null).map((i) => [i.group, i.requests]);
    assert.deepEqual(await top('by=route'), [['orders:items', sent.items], ['orders:broken', sent.broken], ['orders:slow', sent.slow], ['file-route', sent.file]]);
    assert.deepEqual(await top('by=route&metric=errors&limit=1'), [['orders:broken', sent.broken]]);
    assert.deepEqual((await top('by=route&metric=errorRate&limit=2'))[0], ['orders:broken', sent.broken]);
    assert.deepEqual((await top('by=route&metric=p95&limit=1'))[0], ['orders:slow', sent.slow]);
    assert.deepEqual((await top('by=route&minRequests=5&metric=p95')).map(([group]) => group).sort(), ['orders:broken', 'orders:items'], 'groups under minRequests are left out');
    const byTeam = await get<Top>(admin, `/api/v1/analytics/top?by=team&from=${Date.now() - 3_600_000}&to=${Date.now() + 60_000}`);
    assert.equal(byTeam.items[0]!.group, 'shop');
  });

  it("shows a team member only their teams' APIs; admins everything", async () => {
    const mine = await get<Series>(alice, '/api/v1/analytics/series?groupBy=route');
    assert.deepEqual(mine.series.map((s) => s.group).sort(), ['orders:broken', 'orders:items', 'orders:slow']);
    assert.equal(mine.series.reduce((n, s) => n + s.total.requests, 0), total() - sent.file - sent.none - sent.unowned);
    assert.deepEqual((await get<Series>(carol, '/api/v1/analytics/series')).series, [], 'nothing of other teams');
    assert.deepEqual((await get<Series>(alice, '/api/v1/analytics/series?team=apps')).series, [], 'naming another team gives nothing');
    assert.deepEqual((await get<Top>(carol, '/api/v1/analytics/top?by=api')).items, []);
    assert.deepEqual((await get<Top>(alice, '/api/v1/analytics/top?by=api')).items.map((i) => i.group), ['orders']);
    assert.deepEqual((await get<Top>(admin, '/api/v1/analytics/top?by=api&team=shop')).items.map((i) => i.group), ['orders']);
  });

  it('refuses bad parameters with 422 problems', async () => {
    const now = Date.now();
    const bad = [
      '/api/v1/analytics/series?resolution=week',
      '/api/v1/analytics/series?groupBy=path',
      `/api/v1/analytics/series?from=${now}&to=${now - 1000}`,
      '/api/v1/analytics/series?from=yesterday',
      `/api/v1/analytics/series?resolution=minute&from=${now - 8 * 86_400_000}&to=${now}`,
      '/api/v1/analytics/top?by=status',
      '/api/v1/analytics/top?metric=p42',
      '/api/v1/analytics/top?limit=0',
      '/api/v1/analytics/top?minRequests=-1',
    ];
    for (const path of bad) {
      const res = await admin('GET', path);
      assert.equal(res.status, 422, path);
      assert.equal(res.json().code, 'WEIR_VALIDATION_FAILED', path);
      assert.match(res.headers['content-type'] as string, /problem\+json/);
    }
  });
});
