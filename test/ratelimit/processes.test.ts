// Rate limits with real `weir start` processes: exact across the workers of a node (memory
// counters in the primary), exact across two nodes sharing Redis, and Redis going away and
// coming back mid-test (fail-open and fail-closed). Exactness is counted where it matters: at
// the upstream.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Agent, request } from 'undici';
import { startWeirProcess, until, type WeirProcess } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'weir-rl-'));
  const path = join(dir, 'weir.yaml');
  writeFileSync(path, yaml);
  return path;
}

function start(configPath: string, workers: number): Promise<WeirProcess> {
  return startWeirProcess(['--config', configPath, '--workers', String(workers), '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
}

async function stop(weir: WeirProcess | undefined): Promise<void> {
  if (weir === undefined) return;
  weir.child.kill('SIGTERM');
  await weir.exited;
}

/** `total` requests from `clients` parallel clients (each its own connections), spread over `ports`; the statuses. */
async function load(ports: number[], path: string, total: number, clients: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: clients }, async (_, c) => {
    const agent = new Agent({ connections: 2 });
    try {
      while (next < total) {
        const i = next++;
        const port = ports[(i + c) % ports.length]!;
        const res = await request(`http://127.0.0.1:${port}${path}`, { dispatcher: agent });
        await res.body.dump();
        statuses.push(res.statusCode);
      }
    } finally {
      await agent.close();
    }
  }));
  return statuses;
}

const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

function route(path: string, limit: number, window = '1m', by = '[route]'): string {
  return `  - path: ${path}\n    service: s\n    plugins:\n      - name: rate-limit\n        config: { policies: [{ limit: ${limit}, window: ${window}, by: ${by} }] }\n`;
}

describe('rate limits across the workers of one node (memory)', () => {
  let upstream: TestUpstream;
  let weir: WeirProcess;
  before(async () => {
    upstream = await startUpstream();
    weir = await start(configFile(`services:\n  s: { targets: [{ url: ${upstream.url} }] }\nroutes:\n${route('/exact', 37)}${route('/bucket', 20, '1m", algorithm: token-bucket, burst: "20'.replace(/"/g, ''))}`), 2);
  });
  after(async () => {
    await stop(weir);
    await upstream.close();
  });

  it('admits exactly the limit from 24 parallel clients, no more, no fewer', async () => {
    const statuses = await load([weir.port], '/exact', 400, 24);
    assert.equal(count(statuses, 200), 37);
    assert.equal(count(statuses, 429), 400 - 37);
    assert.equal(upstream.requests.filter((r) => r.url === '/exact').length, 37);
  });

  it('token bucket too: exactly the burst', async () => {
    const statuses = await load([weir.port], '/bucket', 200, 24);
    assert.equal(count(statuses, 200), 20);
    assert.equal(upstream.requests.filter((r) => r.url === '/bucket').length, 20);
  });
});

// A 5 s command timeout: the test is about exactness; on a loaded machine the 250 ms default can
// expire and the nodes would (correctly) fall back to their own counters.
describe('rate limits across two nodes sharing Redis', () => {
  let upstream: TestUpstream;
  const nodes: WeirProcess[] = [];
  before(async () => {
    upstream = await startUpstream();
    const prefix = `weir-test:${randomUUID()}:`;
    const path = configFile(`global:\n  rateLimits: { store: redis, redis: { url: "${REDIS_URL}", prefix: "${prefix}", timeout: 5s } }\nservices:\n  s: { targets: [{ url: ${upstream.url} }] }\nroutes:\n${route('/shared', 53)}`);
    nodes.push(await start(path, 2), await start(path, 2));
  });
  after(async () => {
    await Promise.all(nodes.map(stop));
    await upstream.close();
  });

  it('admits exactly the limit in total from both nodes', async () => {
    const statuses = await load(nodes.map((n) => n.port), '/shared', 400, 24);
    assert.equal(count(statuses, 200), 53);
    assert.equal(count(statuses, 429), 400 - 53);
    assert.equal(upstream.requests.length, 53);
    // Exact because every hit reached Redis: no node fell back to its own counters.
    for (const node of nodes) assert.equal(node.logs.filter((l) => String(l['msg']).startsWith('rate-limit store unreachable')).length, 0);
  });
});

/** A Redis of this test's own (so stopping it does not disturb other tests using the shared one). */
class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'weir-redis-'));
  constructor(readonly port: number) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  start(): void {
    execFileSync('redis-server', ['--daemonize', 'yes', '--bind', '127.0.0.1', '--port', String(this.port), '--save', '', '--appendonly', 'no', '--dir', this.dir, '--logfile', join(this.dir, 'redis.log'), '--pidfile', join(this.dir, 'redis.pid')]);
  }
  async ready(): Promise<void> {
    await until(() => {
      try {
        return execFileSync('redis-cli', ['-p', String(this.port), 'ping']).toString().trim() === 'PONG' ? true : undefined;
      } catch {
        return undefined;
      }
    }, 10_000, 'redis to answer');
  }
  shutdown(): void {
    try {
      execFileSync('redis-cli', ['-p', String(this.port), 'shutdown', 'nosave']);
    } catch {
      // already down (redis-cli exits non-zero when the connection drops during shutdown)
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe('Redis goes away and comes back', () => {
  let upstream: TestUpstream;
  let redis: PrivateRedis;
  let open: WeirProcess;
  let closed: WeirProcess;
  before(async () => {
    upstream = await startUpstream();
    redis = new PrivateRedis(await freePort());
    redis.start();
    await redis.ready();
    const yaml = (mode: string) => `global:\n  rateLimits: { store: redis, redis: { url: "${redis.url}", timeout: 200ms }, onRedisDown: ${mode} }\nservices:\n  s: { targets: [{ url: ${upstream.url} }] }\nroutes:\n${route('/r', 6)}`;
    open = await start(configFile(yaml('open')), 2);
    closed = await start(configFile(yaml('closed')), 1);
  });
  after(async () => {
    await Promise.all([stop(open), stop(closed)]);
    redis.shutdown();
    await upstream.close();
  });

  it('fail-open counts in the node while Redis is down, fail-closed refuses with 503; both recover by themselves', async () => {
    // Redis up: the two nodes share one counter of 6.
    assert.equal(count(await load([open.port], '/r', 4, 2), 200), 4);
    assert.equal(count(await load([closed.port], '/r', 4, 2), 200), 2);
    // Each process waited for Redis before serving: no request met a store still connecting.
    for (const node of [open, closed]) assert.equal(node.logs.filter((l) => String(l['msg']).startsWith('rate-limit store unreachable')).length, 0);

    redis.shutdown();
    // Open: the node's own memory counter takes over — fresh, and as exact across its workers.
    const during = await load([open.port], '/r', 30, 6);
    assert.equal(count(during, 200), 6);
    assert.equal(count(during, 429), 24);
    const warn = await until(() => open.logs.find((l) => l['msg'] === "rate-limit store unreachable; counting in this node's memory until it is back"), 5_000, 'the outage warning');
    assert.equal(warn['level'], 40);
    // One warning per outage per process, not per request.
    assert.ok(open.logs.filter((l) => l['msg'] === warn['msg']).length <= 2);
    // Closed: refused with 503 and Retry-After.
    const res = await request(`http://127.0.0.1:${closed.port}/r`);
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '1');
    assert.equal(((await res.body.json()) as { code: string }).code, 'WEIR_RATE_LIMIT_UNAVAILABLE');
    assert.ok(closed.logs.some((l) => l['msg'] === 'rate-limit store unreachable; refusing limited requests until it is back'));

    const upAtRestart = upstream.requests.length;
    redis.start(); // empty: --save "" kept nothing, so the shared counter starts afresh
    await redis.ready();
    await until(async () => {
      const r = await request(`http://127.0.0.1:${closed.port}/r`);
      await r.body.dump();
      return r.statusCode === 200 ? true : undefined;
    }, 15_000, 'fail-closed node to recover');
    await until(() => closed.logs.find((l) => l['msg'] === 'rate-limit store is back'), 5_000, 'the recovery line');
    // Back on Redis: the shared counter (1 used by the probe above) again governs both nodes.
    // Wait for every open worker to be back on Redis: the recovery is logged by each.
    await until(async () => (open.logs.filter((l) => l['msg'] === 'rate-limit store is back').length >= 1 ? true : (await load([open.port], '/r', 1, 1), undefined)), 15_000, 'fail-open node to recover');
    await load([open.port, closed.port], '/r', 40, 4);
    // Since the restart, exactly 6 in total (probes included): every admission went through the
    // shared counter again (the open node's local counter was already full, so it admits nothing).
    assert.equal(upstream.requests.length - upAtRestart, 6);
  });
});
