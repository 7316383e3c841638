import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { RawService } from '../../src/config/schema.js';
import { closedPort, echo } from '../support/upstream.js';
import { call, client } from '../support/weir.js';
import { answer, startGateway, upstreams } from './harness.js';

/** One retry, nothing else that could take a target out of rotation between attempts. */
function retrying(urls: string[], retries: RawService['retries'] = { attempts: 1 }): RawService {
  return { targets: urls.map((url) => ({ url })), retries, circuitBreaker: false, healthCheck: { passive: false } };
}

const deadUrl = async (): Promise<string> => `http://127.0.0.1:${await closedPort()}`;

describe('retries', () => {
  it('retries a GET refused by one target on the other, which sees each request once', async (t) => {
    const [live] = await upstreams(t, echo);
    const weir = await startGateway(t, retrying([await deadUrl(), live!.url]));
    const dispatcher = client();
    t.after(() => dispatcher.close());

    // Round robin sends every other first attempt to the dead target; without the retry those fail.
    for (let i = 0; i < 4; i++) assert.equal((await call(`${weir.url}/x`, { dispatcher })).status, 200);

    assert.equal(live!.requests.length, 4);
  });

  it('retries a GET answered 503 on the other target', async (t) => {
    const [failing, healthy] = await upstreams(t, answer(503), answer(200, 'fine'));
    const weir = await startGateway(t, retrying([failing!.url, healthy!.url]));

    const reply = await call(`${weir.url}/x`);

    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'fine');
    assert.equal(failing!.requests.length, 1);
    assert.equal(healthy!.requests.length, 1);
  });

  it('does not retry with attempts: 0', async (t) => {
    const [failing, healthy] = await upstreams(t, answer(503), answer(200));
    const weir = await startGateway(t, retrying([failing!.url, healthy!.url], { attempts: 0 }));

    assert.equal((await call(`${weir.url}/x`)).status, 503);
    assert.equal(failing!.requests.length, 1);
    assert.equal(healthy!.requests.length, 0);
  });

  it('does not retry a POST answered 503, and returns that 503', async (t) => {
    const [failing, healthy] = await upstreams(t, answer(503, 'busy'), answer(200));
    const weir = await startGateway(t, retrying([failing!.url, healthy!.url]));

    const reply = await call(`${weir.url}/orders`, { method: 'POST' });

    assert.equal(reply.status, 503);
    assert.equal(reply.body, 'busy');
    assert.equal(failing!.requests.length, 1);
    assert.equal(healthy!.requests.length, 0);
  });

  it('retries a POST answered 503 with nonIdempotent: true', async (t) => {
    const [failing, healthy] = await upstreams(t, answer(503), answer(200));
    const weir = await startGateway(t, retrying([failing!.url, healthy!.url], { attempts: 1, nonIdempotent: true }));

    assert.equal((await call(`${weir.url}/orders`, { method: 'POST' })).status, 200);
    assert.equal(failing!.requests.length, 1);
    assert.equal(healthy!.requests.length, 1);
  });

  it('does not retry a POST whose body already went upstream, even with nonIdempotent: true', async (t) => {
    // The body is streamed, not buffered: a retry could only send an empty or partial body.
    const [failing, healthy] = await upstreams(t, answer(503), answer(200));
    const weir = await startGateway(t, retrying([failing!.url, healthy!.url], { attempts: 1, nonIdempotent: true }));

    assert.equal((await call(`${weir.url}/orders`, { method: 'POST', body: 'item=1' })).status, 503);
    assert.equal(failing!.requests.length, 1);
    assert.equal(healthy!.requests.length, 0);
  });

  it('retries a POST whose connection was refused: the upstream never saw it', async (t) => {
    const [live] = await upstreams(t, echo);
    const weir = await startGateway(t, retrying([await deadUrl(), live!.url]));

    assert.equal((await call(`${weir.url}/orders`, { method: 'POST' })).status, 200);
    assert.equal(live!.requests.length, 1);
    assert.equal(live!.requests[0]!.method, 'POST');
  });

  it('delivers the body of a POST retried after a connect failure intact', async (t) => {
    const [live] = await upstreams(t, echo);
    const weir = await startGateway(t, retrying([await deadUrl(), live!.url]));
    const body = randomBytes(256 * 1024);

    const reply = await call(`${weir.url}/upload`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });

    assert.equal(reply.status, 200);
    assert.equal(live!.requests.length, 1);
    assert.ok(live!.requests[0]!.body.equals(body), 'the live upstream received the exact bytes sent');
  });

  it('returns the status of the last attempt once retries are exhausted', async (t) => {
    const [first, second] = await upstreams(t, answer(503, 'first'), answer(502, 'second'));
    const weir = await startGateway(t, retrying([first!.url, second!.url]));

    const reply = await call(`${weir.url}/x`);

    assert.equal(reply.status, 502);
    assert.equal(reply.body, 'second');
    assert.equal(first!.requests.length, 1);
    assert.equal(second!.requests.length, 1);
  });

  it('retries a single target with back-off: exactly 1 + attempts tries, one after the other', async (t) => {
    const [upstream] = await upstreams(t, answer(503));
    const weir = await startGateway(t, retrying([upstream!.url], { attempts: 3, backoff: { initial: 40, max: 200 } }));

    assert.equal((await call(`${weir.url}/x`)).status, 503);

    const tries = upstream!.requests;
    assert.equal(tries.length, 4);
    // The back-off is jittered (cockatiel's decorrelated jitter), so only the order is certain:
    // each try starts after the answer to the previous one went out.
    for (let i = 1; i < tries.length; i++) {
      assert.ok(tries[i]!.startedAt > tries[i - 1]!.endedAt, `try ${i + 1} started after try ${i} was answered`);
    }
  });
});
