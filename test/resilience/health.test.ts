import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawService } from '../../src/config/schema.js';
import { closedPort, delay, echo, startUpstream, type UpstreamHandler } from '../support/upstream.js';
import { call, client } from '../support/weir.js';
import type { TestWeir } from '../support/weir.js';
import { assertProblem, hits, logLines, startGateway, upstreams, waitFor } from './harness.js';

const EJECT_FOR = 400;

/** Only health checks can take a target out: no retries, no breaker. */
function checked(urls: string[], healthCheck: RawService['healthCheck']): RawService {
  return { targets: urls.map((url) => ({ url })), healthCheck, retries: { attempts: 0 }, circuitBreaker: false };
}

/** Statuses of `count` sequential requests. */
async function statuses(weir: TestWeir, count: number): Promise<number[]> {
  const dispatcher = client();
  try {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push((await call(`${weir.url}/x`, { dispatcher })).status);
    return out;
  } finally {
    await dispatcher.close();
  }
}

/** An upstream whose /health answers `status.value`; everything else is echoed. */
function probed(): { handler: UpstreamHandler; health: { value: number } } {
  const health = { value: 200 };
  return {
    health,
    handler: (req, res, body) => {
      if (req.url !== '/health') return echo(req, res, body);
      res.writeHead(health.value, { 'content-length': 0 });
      res.end();
    },
  };
}

/** Resolves once the health monitor has logged `target` turning `healthy`. */
function healthChange(weir: TestWeir, target: string, healthy: boolean): Promise<void> {
  const msg = healthy ? 'target is healthy again' : 'target failed its health checks';
  return waitFor(() => logLines(weir, msg).some((line) => line['target'] === target), `${target} to turn ${healthy ? 'healthy' : 'unhealthy'}`);
}

describe('passive health', () => {
  it('ejects a target refused `failures` times and sends it nothing until ejectFor has passed', async (t) => {
    const port = await closedPort();
    const [live] = await upstreams(t, echo);
    const weir = await startGateway(t, checked([`http://127.0.0.1:${port}`, live!.url], { passive: { failures: 2, ejectFor: EJECT_FOR } }));

    // Round robin: refused, live, refused (second failure in a row: ejected).
    assert.deepEqual(await statuses(weir, 3), [502, 200, 502]);

    // The target comes back to life on its port; while ejected it must still get nothing.
    const revived = await startUpstream(echo, port);
    t.after(() => revived.close());
    assert.deepEqual(await statuses(weir, 6), [200, 200, 200, 200, 200, 200]);
    assert.equal(revived.requests.length, 0);
    assert.equal(live!.requests.length, 7);

    await delay(EJECT_FOR + 50);
    assert.deepEqual(await statuses(weir, 4), [200, 200, 200, 200]);
    assert.equal(revived.requests.length, 2, 'back in rotation after ejectFor');
    assert.equal(live!.requests.length, 9);
  });

  it('answers 503 WEIR_UPSTREAM_UNAVAILABLE once every target is ejected', async (t) => {
    const urls = [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${await closedPort()}`];
    const weir = await startGateway(t, checked(urls, { passive: { failures: 1, ejectFor: '10s' } }));

    assert.deepEqual(await statuses(weir, 2), [502, 502]);
    assertProblem(await call(`${weir.url}/x`), 'WEIR_UPSTREAM_UNAVAILABLE', 503);
  });
});

describe('active health', () => {
  const active = { interval: 50, timeout: 200, unhealthyThreshold: 1, healthyThreshold: 2 };

  it('takes a target failing its probes out of rotation and brings it back when they pass again', async (t) => {
    const [a, b] = [probed(), probed()];
    const [upA, upB] = await upstreams(t, a.handler, b.handler);
    const weir = await startGateway(t, checked([upA!.url, upB!.url], { active, passive: false }));

    await statuses(weir, 4);
    assert.deepEqual([hits(upA!), hits(upB!)], [2, 2]);

    a.health.value = 500;
    await healthChange(weir, upA!.url, false);
    await statuses(weir, 6);
    assert.deepEqual([hits(upA!), hits(upB!)], [2, 8], 'the unhealthy target got no traffic');

    a.health.value = 200;
    await healthChange(weir, upA!.url, true);
    await statuses(weir, 4);
    assert.deepEqual([hits(upA!), hits(upB!)], [4, 10], 'healthy again: back in rotation');
  });

  it('answers 503 WEIR_UPSTREAM_UNAVAILABLE when every target fails its probes', async (t) => {
    const [a, b] = [probed(), probed()];
    const [upA, upB] = await upstreams(t, a.handler, b.handler);
    const weir = await startGateway(t, checked([upA!.url, upB!.url], { active, passive: false }));

    a.health.value = b.health.value = 500;
    await healthChange(weir, upA!.url, false);
    await healthChange(weir, upB!.url, false);

    assertProblem(await call(`${weir.url}/x`), 'WEIR_UPSTREAM_UNAVAILABLE', 503);
    assert.deepEqual([hits(upA!), hits(upB!)], [0, 0]);
  });
});
