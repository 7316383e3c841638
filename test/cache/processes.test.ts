// The response cache with real `weir start` processes: a purge reaches every worker of a node
// (each has its own memory store), two nodes share what they store in Redis (and a purge
// reaches Redis), and an unreachable Redis only bypasses the cache. Proved by what the upstream
// received.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Agent, request } from 'undici';
import { startWeirProcess, type WeirProcess } from '../support/cli.js';
import { closedPort, startUpstream, type TestUpstream } from '../support/upstream.js';
import { ADMIN_PASSWORD, adminClient, call, startWeir, type TestWeir } from '../support/weir.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function start(yaml: string, workers: number): Promise<WeirProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-cache-'));
  writeFileSync(join(dir, 'weir.yaml'), yaml);
  return startWeirProcess(['--config', join(dir, 'weir.yaml'), '--data', join(dir, 'data'), '--workers', String(workers), '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
}

async function stop(weir: WeirProcess | undefined): Promise<void> {
  if (weir === undefined) return;
  weir.child.kill('SIGTERM');
  await weir.exited;
}

/** `n` requests, each on a new connection (so the cluster spreads them over the workers); their X-Cache. */
async function spread(port: number, path: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const agent = new Agent({ connections: 1 });
    try {
      const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
      await res.body.dump();
      assert.equal(res.statusCode, 200);
      out.push(String(res.headers['x-cache']));
    } finally {
      await agent.close();
    }
  }
  return out;
}

function answering(upstream: TestUpstream): void {
  upstream.handle((req, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=600', 'content-type': 'text/plain' });
    res.end(`answer for ${req.url}`);
  });
}

describe('cache purge reaches every worker of a node', () => {
  let upstream: TestUpstream;
  let weir: WeirProcess;
  const seen = (url: string) => upstream.requests.filter((r) => r.url === url).length;
  before(async () => {
    upstream = await startUpstream();
    answering(upstream);
    weir = await start(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: items
    path: /items/*
    service: s
    plugins: [{ name: cache, config: {} }]
`, 2);
  });
  after(async () => {
    await stop(weir);
    await upstream.close();
  });

  it('each worker stores its own copy; after a purge by key and by prefix, each fetches anew exactly once', async () => {
    const admin = await adminClient(`http://127.0.0.1:${weir.adminPort}`, 'admin', ADMIN_PASSWORD);
    const paths = ['/items/1', '/items/2', '/items/30'];
    // 12 requests on new connections per path: both workers answer some; each misses once.
    for (const p of paths) {
      const xs = await spread(weir.port, p, 12);
      assert.equal(seen(p), 2, `${p}: one miss per worker (${xs.join(',')})`);
      assert.equal(xs.filter((x) => x === 'MISS').length, 2);
    }

    const byKey = await admin('POST', '/api/v1/cache/purge', { route: 'items', key: '/items/1' });
    assert.equal(byKey.status, 200, byKey.body);
    assert.deepEqual(byKey.json(), { processes: 2, memory: 2, redis: 0 });
    await spread(weir.port, '/items/1', 12);
    assert.equal(seen('/items/1'), 4, 'both workers dropped /items/1 and fetched it once more each');
    await spread(weir.port, '/items/2', 12);
    assert.equal(seen('/items/2'), 2, '/items/2 was not purged');

    const byPrefix = await admin('POST', '/api/v1/cache/purge', { route: 'items', prefix: '/items/' });
    assert.equal(byPrefix.status, 200);
    assert.equal(byPrefix.json().memory, 6);
    for (const p of paths) await spread(weir.port, p, 12);
    assert.deepEqual(paths.map(seen), [6, 4, 4]);
  });
});

describe('the Redis store is shared by nodes', () => {
  let upstream: TestUpstream;
  let a: WeirProcess | undefined;
  let b: WeirProcess | undefined;
  const prefix = `weir-test:cache:${randomUUID()}:`;
  const seen = (url: string) => upstream.requests.filter((r) => r.url === url).length;
  before(async () => {
    upstream = await startUpstream();
    answering(upstream);
    const yaml = `
global:
  cache: { redis: { url: ${REDIS_URL}, prefix: "${prefix}" } }
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: shared
    path: /shared/*
    service: s
    plugins: [{ name: cache, config: { store: redis } }]
`;
    [a, b] = await Promise.all([start(yaml, 1), start(yaml, 1)]);
  });
  after(async () => {
    // Leave nothing behind in the shared Redis.
    if (a !== undefined) await (await adminClient(`http://127.0.0.1:${a.adminPort}`, 'admin', ADMIN_PASSWORD))('POST', '/api/v1/cache/purge', {});
    await Promise.all([stop(a), stop(b)]);
    await upstream.close();
  });

  it('what one node stored, the other serves as a HIT; a purge on one node clears Redis for both', async () => {
    // The Redis connection is made when the route is built; it may take a moment to be ready.
    for (const node of [a!, b!]) {
      const started = Date.now();
      while ((await call(`http://127.0.0.1:${node.port}/shared/warm-up`)).headers['x-cache'] === 'BYPASS') {
        assert.ok(Date.now() - started < 10_000, 'the Redis store never became ready');
        await new Promise((r) => setTimeout(r, 25));
      }
    }
    assert.equal((await call(`http://127.0.0.1:${a!.port}/shared/x`)).headers['x-cache'], 'MISS');
    const fromB = await call(`http://127.0.0.1:${b!.port}/shared/x`);
    assert.equal(fromB.headers['x-cache'], 'HIT');
    assert.equal(fromB.body, 'answer for /shared/x');
    assert.equal(seen('/shared/x'), 1);

    const admin = await adminClient(`http://127.0.0.1:${a!.adminPort}`, 'admin', ADMIN_PASSWORD);
    const purged = await admin('POST', '/api/v1/cache/purge', { route: 'shared', key: '/shared/x' });
    assert.equal(purged.status, 200, purged.body);
    assert.equal(purged.json().redis, 1);
    assert.equal((await call(`http://127.0.0.1:${b!.port}/shared/x`)).headers['x-cache'], 'MISS');
    assert.equal(seen('/shared/x'), 2);
  });
});

describe('an unreachable Redis only bypasses the cache', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  before(async () => {
    upstream = await startUpstream();
    answering(upstream);
    weir = await startWeir(`
global:
  cache: { redis: { url: "redis://127.0.0.1:${await closedPort()}", timeout: 100ms } }
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: r
    path: /r
    service: s
    plugins: [{ name: cache, config: { store: redis } }]
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('every request is served (200, X-Cache: BYPASS) and the outage is logged once', async () => {
    const warnings = () => weir.logs.filter((l) => l.msg === 'response cache store unreachable; bypassing the cache until it is back');
    const replies = [];
    // Requests until the outage is noticed (the client connects in the background), then five more.
    while (warnings().length === 0) {
      assert.ok(replies.length < 200, 'the outage was never logged');
      replies.push(await call(`${weir.url}/r`));
    }
    for (let i = 0; i < 5; i++) replies.push(await call(`${weir.url}/r`));
    assert.ok(replies.every((r) => r.status === 200 && r.headers['x-cache'] === 'BYPASS'));
    assert.equal(upstream.requests.length, replies.length);
    assert.equal(warnings().length, 1, 'one warn line per outage');
    const admin = await adminClient(weir.adminUrl, 'admin', ADMIN_PASSWORD);
    const purge = await admin('POST', '/api/v1/cache/purge', { route: 'r' });
    assert.equal(purge.status, 503);
    assert.equal(purge.json().code, 'WEIR_CACHE_PURGE_FAILED');
  });
});

describe('the cache recovers by itself when Redis comes back', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let port: number;
  let proxy: Server | undefined;
  const sockets = new Set<Socket>();
  const prefix = `weir-test:cache:${randomUUID()}:`;
  const redisPort = Number(new URL(REDIS_URL).port || 6379);
  before(async () => {
    upstream = await startUpstream();
    answering(upstream);
    port = await closedPort();
    weir = await startWeir(`
global:
  cache: { redis: { url: "redis://127.0.0.1:${port}", prefix: "${prefix}", timeout: 200ms } }
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: back
    path: /back
    service: s
    plugins: [{ name: cache, config: { store: redis } }]
`);
  });
  after(async () => {
    const admin = await adminClient(weir.adminUrl, 'admin', ADMIN_PASSWORD);
    await admin('POST', '/api/v1/cache/purge', { route: 'back' });
    await weir.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => (proxy === undefined ? r() : proxy.close(() => r())));
    await upstream.close();
  });

  it('bypasses while Redis is away, then stores and hits again once it is reachable', async () => {
    const logged = (msg: string) => weir.logs.filter((l) => l.msg === msg).length;
    while (logged('response cache store unreachable; bypassing the cache until it is back') === 0) {
      assert.equal((await call(`${weir.url}/back`)).headers['x-cache'], 'BYPASS');
    }
    // Redis "comes back": a TCP relay to the real one starts listening on the configured port.
    proxy = createServer((client) => {
      const server = connect(redisPort, '127.0.0.1');
      for (const s of [client, server]) {
        sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((r) => proxy!.listen(port, '127.0.0.1', r));
    const started = Date.now();
    let x: unknown;
    while ((x = (await call(`${weir.url}/back`)).headers['x-cache']) === 'BYPASS') {
      assert.ok(Date.now() - started < 15_000, 'the cache never came back');
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(x, 'MISS');
    const before = upstream.requests.length;
    assert.equal((await call(`${weir.url}/back`)).headers['x-cache'], 'HIT');
    assert.equal(upstream.requests.length, before);
    assert.equal(logged('response cache store is back'), 1);
    assert.equal(logged('response cache store unreachable; bypassing the cache until it is back'), 1);
  });
});
