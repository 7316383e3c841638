import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawService } from '../../src/config/schema.js';
import { delay } from '../support/upstream.js';
import { call } from '../support/weir.js';
import { answer, assertProblem, held, logLines, startGateway, upstreams, waitFor } from './harness.js';

const OPEN_FOR = 300;

/** A breaker opening after 3 failures for OPEN_FOR ms; nothing else reacts to failures. */
function breaking(urls: string[]): RawService {
  return {
    targets: urls.map((url) => ({ url })),
    circuitBreaker: { failureThreshold: 3, openFor: OPEN_FOR },
    retries: { attempts: 0 },
    healthCheck: { passive: false },
  };
}

describe('circuit breaker', () => {
  it('opens after failureThreshold failures and then answers 503 WEIR_CIRCUIT_OPEN without calling the upstream', async (t) => {
    const [upstream] = await upstreams(t, answer(500));
    const weir = await startGateway(t, breaking([upstream!.url]));

    for (let i = 0; i < 3; i++) assert.equal((await call(`${weir.url}/x`)).status, 500);
    assertProblem(await call(`${weir.url}/x`), 'WEIR_CIRCUIT_OPEN', 503);
    assertProblem(await call(`${weir.url}/x`), 'WEIR_CIRCUIT_OPEN', 503);

    assert.equal(upstream!.requests.length, 3);
  });

  it('does not count clients that hang up as upstream failures (no breaker, no ejection)', async (t) => {
    const slow = held();
    const [upstream] = await upstreams(t, slow.handler);
    const weir = await startGateway(t, { ...breaking([upstream!.url]), healthCheck: { passive: { failures: 1 } } });
    for (let i = 0; i < 5; i++) {
      const gone = new AbortController();
      const reply = call(`${weir.url}/x`, { signal: gone.signal }).catch(() => 'aborted');
      await waitFor(() => upstream!.requests.length === i + 1, 'the request to reach the upstream');
      gone.abort();
      assert.equal(await reply, 'aborted');
    }
    slow.release();
    upstream!.handle(answer(200));
    assert.equal((await call(`${weir.url}/x`)).status, 200, 'the upstream still takes traffic');
    assert.deepEqual(logLines(weir, 'circuit breaker opened'), []);
    assert.deepEqual(logLines(weir, 'target ejected after consecutive failures'), []);
  });

  it('after openFor lets one trial through; a failed trial opens it again, a good one closes it', async (t) => {
    const [upstream] = await upstreams(t, answer(500));
    const weir = await startGateway(t, breaking([upstream!.url]));
    for (let i = 0; i < 3; i++) await call(`${weir.url}/x`);
    assertProblem(await call(`${weir.url}/x`), 'WEIR_CIRCUIT_OPEN', 503);

    await delay(OPEN_FOR + 50);
    assert.equal((await call(`${weir.url}/x`)).status, 500, 'the half-open trial reached the upstream');
    assert.equal(upstream!.requests.length, 4);
    assertProblem(await call(`${weir.url}/x`), 'WEIR_CIRCUIT_OPEN', 503);
    assert.equal(upstream!.requests.length, 4, 'the failed trial opened the breaker again');

    await delay(OPEN_FOR + 50);
    const trial = held();
    upstream!.handle(trial.handler);
    const trialReply = call(`${weir.url}/x`);
    await waitFor(() => upstream!.requests.length === 5, 'the trial request to reach the upstream');
    // While the one trial is in flight, the breaker admits nothing else.
    assertProblem(await call(`${weir.url}/x`), 'WEIR_CIRCUIT_OPEN', 503);
    assert.equal(upstream!.requests.length, 5);

    trial.release();
    assert.equal((await trialReply).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await call(`${weir.url}/x`)).status, 200, 'closed again: traffic flows');
    assert.equal(upstream!.requests.length, 8);
  });

  it('does not leave the breaker stuck half-open when the total timeout cuts its trial', async (t) => {
    const [upstream] = await upstreams(t, answer(500));
    const weir = await startGateway(t, {
      targets: [{ url: upstream!.url }],
      circuitBreaker: { failureThreshold: 1, openFor: OPEN_FOR },
      timeouts: { total: 100 },
      retries: { attempts: 0 },
      healthCheck: { passive: false },
    });
    assert.equal((await call(`${weir.url}/x`)).status, 500);

    await delay(OPEN_FOR + 50);
    upstream!.handle(() => new Promise<void>(() => {}));
    assertProblem(await call(`${weir.url}/x`), 'WEIR_UPSTREAM_TIMEOUT', 504);
    assert.equal(upstream!.requests.length, 2, 'the trial reached the upstream');

    // Whether the timed-out trial counted as a failure (open again) or not (slot given back),
    // after another openFor the next request must be let through.
    await delay(OPEN_FOR + 50);
    upstream!.handle(answer(200));
    assert.equal((await call(`${weir.url}/x`)).status, 200);
    assert.equal(upstream!.requests.length, 3);
  });

  it('has one breaker per target: traffic moves to the healthy target', async (t) => {
    const [failing, healthy] = await upstreams(t, answer(500), answer(200));
    const weir = await startGateway(t, breaking([failing!.url, healthy!.url]));

    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await call(`${weir.url}/x`)).status);

    // Round robin alternates until the third failure opens the failing target's breaker.
    assert.equal(failing!.requests.length, 3);
    assert.equal(healthy!.requests.length, 7);
    assert.deepEqual(statuses, [500, 200, 500, 200, 500, 200, 200, 200, 200, 200]);
  });

  it('never opens with circuitBreaker: false', async (t) => {
    const [upstream] = await upstreams(t, answer(500));
    const weir = await startGateway(t, { ...breaking([upstream!.url]), circuitBreaker: false });

    for (let i = 0; i < 10; i++) assert.equal((await call(`${weir.url}/x`)).status, 500);
    assert.equal(upstream!.requests.length, 10);
  });
});
