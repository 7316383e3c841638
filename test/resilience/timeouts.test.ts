import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { UpstreamHandler } from '../support/upstream.js';
import { closedPort } from '../support/upstream.js';
import { call } from '../support/weir.js';
import { PLAIN, answer, assertProblem, logLines, startGateway, upstreams, waitFor } from './harness.js';

/** Accepts the request and never answers. */
const silent: UpstreamHandler = () => new Promise<void>(() => {});

/** Sends the headers and 10 of the 1000 promised body bytes, then goes quiet. */
const stallsMidBody: UpstreamHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
  res.write('x'.repeat(10));
  return new Promise<void>(() => {});
};

describe('timeouts', () => {
  it('answers 504 WEIR_UPSTREAM_TIMEOUT when the upstream is silent past the read timeout, and logs it', async (t) => {
    const [upstream] = await upstreams(t, silent);
    const weir = await startGateway(t, { targets: [{ url: upstream!.url }], timeouts: { read: 100 }, ...PLAIN });

    const reply = await call(`${weir.url}/slow`, { headers: { 'x-request-id': 'read-timeout-1' } });

    const problem = assertProblem(reply, 'WEIR_UPSTREAM_TIMEOUT', 504);
    assert.equal(problem.requestId, 'read-timeout-1');
    assert.equal(reply.headers['x-request-id'], 'read-timeout-1');
    assert.equal(upstream!.requests.length, 1);
    await waitFor(() => logLines(weir, 'upstream failure').length > 0, "the 'upstream failure' log line");
    const [line] = logLines(weir, 'upstream failure');
    assert.equal(line!['level'], 40, 'logged at warn');
    assert.equal(line!['requestId'], 'read-timeout-1');
    assert.equal(line!['code'], 'WEIR_UPSTREAM_TIMEOUT');
    assert.equal(line!['target'], upstream!.url);
  });

  it('answers 504 when the total timeout ends the exchange before the read timeout', async (t) => {
    const [upstream] = await upstreams(t, silent);
    const weir = await startGateway(t, { targets: [{ url: upstream!.url }], timeouts: { read: '5s', total: 100 }, ...PLAIN });

    const problem = assertProblem(await call(`${weir.url}/slow`), 'WEIR_UPSTREAM_TIMEOUT', 504);

    assert.match(problem.detail ?? '', /total timeout/);
    assert.equal(upstream!.requests.length, 1);
  });

  it('ends the exchange at the total timeout while waiting to retry after a connect failure', async (t) => {
    const port = await closedPort();
    // A back-off of about 1s, far past the 100ms total: the total timeout must end the wait.
    const weir = await startGateway(t, {
      targets: [{ url: `http://127.0.0.1:${port}` }],
      timeouts: { total: 100 },
      retries: { attempts: 1, backoff: { initial: '10s', max: '1s' } },
      circuitBreaker: false,
      healthCheck: { passive: false },
    });

    const problem = assertProblem(await call(`${weir.url}/x`), 'WEIR_UPSTREAM_TIMEOUT', 504);
    assert.match(problem.detail ?? '', /total timeout/);
  });

  it('ends the exchange at the total timeout while waiting to retry after a retryable status', async (t) => {
    const [upstream] = await upstreams(t, answer(503));
    const weir = await startGateway(t, {
      targets: [{ url: upstream!.url }],
      timeouts: { total: 100 },
      retries: { attempts: 1, backoff: { initial: '10s', max: '1s' } },
      circuitBreaker: false,
      healthCheck: { passive: false },
    });

    const reply = await call(`${weir.url}/x`);

    assert.equal(upstream!.requests.length, 1, 'the retry, due after the total timeout, was never sent');
    assertProblem(reply, 'WEIR_UPSTREAM_TIMEOUT', 504);
  });

  it('cuts the client response when the upstream stalls after sending headers', async (t) => {
    const [upstream] = await upstreams(t, stallsMidBody);
    const weir = await startGateway(t, { targets: [{ url: upstream!.url }], timeouts: { read: 100 }, ...PLAIN });

    const res = await request(`${weir.url}/stream`);
    assert.equal(res.statusCode, 200, 'the headers got through before the stall');
    await assert.rejects(res.body.text(), 'the body ends in an error, not a hang or a short success');

    assert.equal(upstream!.requests.length, 1);
    await waitFor(() => logLines(weir, 'upstream failure').length > 0, "the 'upstream failure' log line");
    assert.equal(logLines(weir, 'upstream failure')[0]!['cause'], 'UND_ERR_BODY_TIMEOUT');
  });

  it('answers 502 WEIR_UPSTREAM_ERROR when the connection is refused, and logs it', async (t) => {
    const port = await closedPort();
    const weir = await startGateway(t, { targets: [{ url: `http://127.0.0.1:${port}` }], ...PLAIN });

    const reply = await call(`${weir.url}/x`, { headers: { 'x-request-id': 'refused-1' } });

    const problem = assertProblem(reply, 'WEIR_UPSTREAM_ERROR', 502);
    assert.match(problem.detail ?? '', /ECONNREFUSED/);
    await waitFor(() => logLines(weir, 'upstream failure').length > 0, "the 'upstream failure' log line");
    const [line] = logLines(weir, 'upstream failure');
    assert.equal(line!['requestId'], 'refused-1');
    assert.equal(line!['code'], 'WEIR_UPSTREAM_ERROR');
    assert.equal(line!['cause'], 'ECONNREFUSED');
    assert.equal(line!['attempts'], 1);
  });
});
