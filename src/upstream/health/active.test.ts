import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, it } from 'node:test';
import type { ActiveHealthConfig } from '../../config/types.js';
import { ActiveHealthChecker } from './active.js';

const config: ActiveHealthConfig = {
  path: '/health',
  intervalMs: 10,
  timeoutMs: 500,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  expectStatus: [],
};

/** A target on 127.0.0.1 whose /health answer can be switched, and which can go down and come back on its port. */
async function startTarget() {
  const state = { status: 200, hang: false, delayMs: 0, body: 'ok' };
  /** Status of every /health answer, in order; 0 for requests left hanging. */
  const served: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let connections = 0;
  const server: Server = createServer((req, res) => {
    if (req.url !== '/health') return void res.writeHead(404).end();
    if (state.hang) return void served.push(0);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    const status = state.status;
    served.push(status);
    setTimeout(() => {
      inFlight--;
      res.writeHead(status).end(state.body);
    }, state.delayMs);
  });
  server.on('connection', () => connections++);
  const listen = (port: number) => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const down = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  targets.push({ down });
  return {
    state,
    served,
    origin: `http://127.0.0.1:${port}`,
    maxInFlight: () => maxInFlight,
    connections: () => connections,
    down,
    up: () => listen(port),
  };
}

/** Records onChange calls and lets a test wait for a particular one. */
function changeRecorder() {
  const changes: [string, boolean][] = [];
  const waiters: { id: string; healthy: boolean; resolve: () => void }[] = [];
  const onChange = (id: string, healthy: boolean): void => {
    changes.push([id, healthy]);
    const i = waiters.findIndex((w) => w.id === id && w.healthy === healthy);
    if (i >= 0) waiters.splice(i, 1)[0]!.resolve();
  };
  /** Resolves on the next onChange(id, healthy); call before causing it. */
  const next = (id: string, healthy: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      // Ref'd, unlike the checker's timers, so the test stays alive while waiting.
      const timer = setTimeout(() => reject(new Error(`no onChange(${id}, ${healthy}) within 3s`)), 3000);
      waiters.push({ id, healthy, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { changes, onChange, next };
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited > 3000) throw new Error('condition not met within 3s');
    await sleep(5);
  }
}

const targets: { down: () => Promise<void> }[] = [];
const checkers: ActiveHealthChecker[] = [];

function checker(origins: Record<string, string>, overrides: Partial<ActiveHealthConfig>, onChange: (id: string, healthy: boolean) => void) {
  const c = new ActiveHealthChecker({
    targets: Object.entries(origins).map(([id, origin]) => ({ id, origin })),
    config: { ...config, ...overrides },
    onChange,
  });
  checkers.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(checkers.splice(0).map((c) => c.stop()));
  await Promise.all(targets.splice(0).map((t) => t.down().catch(() => {})));
});

describe('ActiveHealthChecker', () => {
  it('marks a target unhealthy after unhealthyThreshold failed probes and healthy after healthyThreshold good ones', async () => {
    const target = await startTarget();
    const rec = changeRecorder();
    const c = checker({ a: target.origin }, {}, rec.onChange);
    assert.equal(c.isHealthy('a'), true, 'targets start healthy');
    c.start();
    await waitUntil(() => target.served.length >= 3);
    assert.deepEqual(rec.changes, []);

    let unhealthy = rec.next('a', false);
    let from = target.served.length;
    target.state.status = 500;
    await unhealthy;
    assert.equal(target.served.slice(from).filter((s) => s === 500).length, 3);
    assert.equal(c.isHealthy('a'), false);

    const healthy = rec.next('a', true);
    from = target.served.length;
    target.state.status = 200;
    await healthy;
    assert.equal(target.served.slice(from).filter((s) => s === 200).length, 2);
    assert.equal(c.isHealthy('a'), true);
    assert.deepEqual(rec.changes, [['a', false], ['a', true]]);
  });

  it('counts refused connections as failures, per target, and recovers when the target is back', async () => {
    const [a, b] = [await startTarget(), await startTarget()];
    const rec = changeRecorder();
    const c = checker({ a: a.origin, b: b.origin }, {}, rec.onChange);
    c.start();
    await waitUntil(() => a.served.length >= 2);

    const unhealthy = rec.next('a', false);
    await a.down();
    await unhealthy;
    assert.equal(c.isHealthy('a'), false);
    assert.equal(c.isHealthy('b'), true);

    const healthy = rec.next('a', true);
    await a.up();
    await healthy;
    assert.deepEqual(rec.changes, [['a', false], ['a', true]]);
  });

  it('counts a probe that exceeds timeoutMs as a failure', async () => {
    const target = await startTarget();
    const rec = changeRecorder();
    const c = checker({ a: target.origin }, { timeoutMs: 100, unhealthyThreshold: 2 }, rec.onChange);
    c.start();
    await waitUntil(() => target.served.length >= 1); // connected and answering
    const unhealthy = rec.next('a', false);
    target.state.hang = true;
    await unhealthy; // without a timeout the hung probe would never finish and this would time out
    assert.deepEqual(rec.changes, [['a', false]]);
  });

  it('accepts only expectStatus when it is set', async () => {
    const target = await startTarget();
    target.state.status = 503;
    const rec = changeRecorder();
    const c = checker({ a: target.origin }, { expectStatus: [503] }, rec.onChange);
    c.start();
    await waitUntil(() => target.served.length >= 5);
    assert.deepEqual(rec.changes, [], '503 is expected here');

    const unhealthy = rec.next('a', false);
    target.state.status = 200;
    await unhealthy;
    assert.equal(c.isHealthy('a'), false, '200 is not in expectStatus');
  });

  it('accepts any 2xx or 3xx when expectStatus is empty', async () => {
    const target = await startTarget();
    target.state.status = 302;
    const rec = changeRecorder();
    const c = checker({ a: target.origin }, {}, rec.onChange);
    c.start();
    await waitUntil(() => target.served.length >= 5);
    assert.deepEqual(rec.changes, []);

    const unhealthy = rec.next('a', false);
    target.state.status = 404;
    await unhealthy;
  });

  it('sends no second probe while one is in flight', async () => {
    const target = await startTarget();
    target.state.delayMs = 40;
    const c = checker({ a: target.origin }, { intervalMs: 5 }, () => {});
    c.start();
    await waitUntil(() => target.served.length >= 4);
    assert.equal(target.maxInFlight(), 1);
  });

  it('reads response bodies so one connection serves every probe', async () => {
    const target = await startTarget();
    target.state.body = 'x'.repeat(100 * 1024);
    const c = checker({ a: target.origin }, {}, () => {});
    c.start();
    await waitUntil(() => target.served.length >= 6);
    assert.equal(target.connections(), 1);
  });

  it('stops probing after stop(), and a probe it cancels is not counted', async () => {
    const target = await startTarget();
    target.state.hang = true;
    const rec = changeRecorder();
    const c = checker({ a: target.origin }, { unhealthyThreshold: 1, timeoutMs: 2000 }, rec.onChange);
    c.start();
    await waitUntil(() => target.served.length === 1);
    await c.stop();
    await sleep(50);
    assert.equal(target.served.length, 1);
    assert.deepEqual(rec.changes, []);
    assert.equal(c.isHealthy('a'), true);
  });
});
