import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startUpstream, type TestUpstream, sendJson } from '../support/upstream.js';
import { startWeirProcess, until } from '../support/cli.js';
import { call, startWeir, type Reply, type TestWeir } from '../support/weir.js';

const SECRET = 'test-callback-secret';

function yaml(url: string, extra = ''): string {
  return `
global:
  jobs:
    lease: 400ms
    callbacks: { allowHosts: ["127.0.0.1"], secretEnv: WEIR_TEST_CALLBACK_SECRET, attempts: 3, backoff: { initial: 50ms, max: 200ms } }
services:
  reports: { targets: [{ url: ${url} }], retries: { attempts: 0 }, circuitBreaker: false, healthCheck: { passive: false } }
routes: []
flows:
  - name: report
    path: /reports/:id
    mode: async
    steps:
      report: { service: reports, path: "/reports/{{ request.params.id }}" }
    response: "{{ steps.report.body }}"
  - name: lookup
    path: /lookup/:id
    steps:
      report: { service: reports, path: "/reports/{{ request.params.id }}" }
    response: "{{ steps.report.body }}"
  - name: charge
    method: POST
    path: /charges
    mode: async
    steps:
      charge: { service: reports, method: POST, path: /charges }
    response: "{{ steps.charge.body }}"
${extra}`;
}

async function finished(weir: { url: string }, location: string): Promise<Reply> {
  return until(async () => {
    const res = await call(`${weir.url}${location}`);
    return res.json().status === 'running' ? undefined : res;
  }, 10_000, `job ${location} to finish`);
}

describe('async flows (jobs)', () => {
  let backend: TestUpstream;
  let receiver: TestUpstream;
  let weir: TestWeir;
  const state = { delayMs: 0, receiverFailures: 0 };

  before(async () => {
    process.env['WEIR_TEST_CALLBACK_SECRET'] = SECRET;
    backend = await startUpstream((req, res) => {
      setTimeout(() => (req.url === '/reports/404' ? sendJson(res, 404, { error: 'no report' }) : sendJson(res, 200, { url: req.url, ready: true })), state.delayMs);
    });
    receiver = await startUpstream((_req, res) => {
      if (state.receiverFailures > 0) {
        state.receiverFailures--;
        return sendJson(res, 500, {});
      }
      sendJson(res, 200, {});
    });
    weir = await startWeir(yaml(backend.url));
  });

  beforeEach(() => {
    backend.requests.length = 0;
    receiver.requests.length = 0;
    Object.assign(state, { delayMs: 0, receiverFailures: 0 });
  });

  after(async () => {
    await weir.close();
    await backend.close();
    await receiver.close();
    delete process.env['WEIR_TEST_CALLBACK_SECRET'];
  });

  it('answers 202 with a job to poll, which ends with the flow\'s response', async () => {
    state.delayMs = 100;
    const accepted = await call(`${weir.url}/reports/7`);
    assert.equal(accepted.status, 202);
    const location = accepted.headers['location'] as string;
    assert.match(location, /^\/jobs\/[A-Za-z0-9_-]{22}$/);
    assert.deepEqual(accepted.json(), { id: location.slice(6), status: 'running', location });
    const running = await call(`${weir.url}${location}`);
    assert.equal(running.json().status, 'running');
    assert.equal(running.headers['retry-after'], '1');
    const done = (await finished(weir, location)).json();
    assert.equal(done.status, 'succeeded');
    assert.equal(done.flow, 'report');
    assert.deepEqual(done.response.body, { url: '/reports/7', ready: true });
    assert.equal(done.response.status, 200);
    assert.equal(done.runs, 1);
  });

  it('runs a sync flow as a job when the client prefers respond-async', async () => {
    const accepted = await call(`${weir.url}/lookup/3`, { headers: { prefer: 'respond-async, wait=10' } });
    assert.equal(accepted.status, 202);
    assert.equal(accepted.headers['preference-applied'], 'respond-async');
    const done = (await finished(weir, accepted.headers['location'] as string)).json();
    assert.deepEqual(done.response.body, { url: '/reports/3', ready: true });
    const sync = await call(`${weir.url}/lookup/3`);
    assert.equal(sync.status, 200, 'without the preference the flow answers directly');
  });

  it('records a failed flow as a failed job with its problem', async () => {
    const accepted = await call(`${weir.url}/reports/404`);
    const done = (await finished(weir, accepted.headers['location'] as string)).json();
    assert.equal(done.status, 'failed');
    assert.equal(done.response.status, 404);
    assert.equal(done.response.body.code, 'WEIR_STEP_FAILED');
  });

  it('answers 404 WEIR_JOB_NOT_FOUND for an unknown job, and only GET on jobs', async () => {
    const missing = await call(`${weir.url}/jobs/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json().code, 'WEIR_JOB_NOT_FOUND');
    const post = await call(`${weir.url}/jobs/nope`, { method: 'POST' });
    assert.equal(post.status, 404);
    assert.equal(post.json().code, 'WEIR_NO_ROUTE');
  });

  it('POSTs the signed result to the callback URL, retrying until it is taken', async () => {
    state.receiverFailures = 2;
    const accepted = await call(`${weir.url}/reports/9`, { headers: { 'weir-callback-url': `${receiver.url}/hooks/reports` } });
    assert.equal(accepted.status, 202);
    const delivered = await until(() => (receiver.requests.length === 3 ? receiver.requests : undefined), 10_000, 'three deliveries');
    for (const hit of delivered) {
      assert.equal(hit.method, 'POST');
      assert.equal(hit.url, '/hooks/reports');
      const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(hit.headers['weir-signature']))!;
      const expected = createHmac('sha256', SECRET).update(`${t}.${hit.body.toString()}`).digest('hex');
      assert.equal(v1, expected, 'the signature covers the timestamp and the exact body');
    }
    const body = JSON.parse(delivered[2]!.body.toString());
    assert.equal(body.status, 'succeeded');
    assert.deepEqual(body.response.body, { url: '/reports/9', ready: true });
    assert.ok(delivered[1]!.startedAt - delivered[0]!.endedAt >= 25, 'retries wait (back-off ≥ half the first step)');
    const job = (await until(async () => {
      const res = (await call(`${weir.url}${accepted.headers['location']}`)).json();
      return res.callback.state === 'delivered' ? res : undefined;
    })) as { callback: { attempts: number; state: string } };
    assert.equal(job.callback.attempts, 3);
  });

  it('refuses callbacks to hosts that are not allowed', async () => {
    const refused = await call(`${weir.url}/reports/1`, { headers: { 'weir-callback-url': 'http://169.254.169.254/latest/meta-data' } });
    assert.equal(refused.status, 400);
    assert.equal(refused.json().code, 'WEIR_CALLBACK_REFUSED');
    const notUrl = await call(`${weir.url}/reports/1`, { headers: { 'weir-callback-url': 'hooks' } });
    assert.equal(notUrl.json().code, 'WEIR_CALLBACK_REFUSED');
    assert.equal(backend.requests.length, 0, 'nothing ran');
  });
});

describe('async jobs across a crash', () => {
  it('re-runs a job of safe calls, and fails one of unsafe calls with the reason, after the process running it was killed', async () => {
    let hold = true;
    const backend = await startUpstream((req, res) => {
      const answer = () => sendJson(res, 200, { url: req.url });
      if (hold) return; // the first process dies while its calls hang
      answer();
    });
    const dir = mkdtempSync(join(tmpdir(), 'weir-jobs-'));
    const config = join(dir, 'weir.yaml');
    writeFileSync(config, yaml(backend.url));
    const args = ['--config', config, '--data', join(dir, 'data'), '--workers', '0', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
    const first = await startWeirProcess(args);
    const base = `http://127.0.0.1:${first.port}`;
    const safe = (await call(`${base}/reports/5`)).headers['location'] as string;
    const unsafe = (await call(`${base}/charges`, { method: 'POST' })).headers['location'] as string;
    await until(() => (backend.requests.length === 2 ? true : undefined), 5000, 'both jobs to call the backend');
    first.child.kill('SIGKILL');
    await first.exited;

    hold = false;
    const second = await startWeirProcess(args);
    try {
      const again = { url: `http://127.0.0.1:${second.port}` };
      const safeJob = (await finished(again, safe)).json();
      assert.equal(safeJob.status, 'succeeded');
      assert.equal(safeJob.runs, 2);
      assert.deepEqual(safeJob.response.body, { url: '/reports/5' });
      const unsafeJob = (await finished(again, unsafe)).json();
      assert.equal(unsafeJob.status, 'failed');
      assert.equal(unsafeJob.response, null);
      assert.match(unsafeJob.error, /not run again: step "charge" \(POST\) is not safe to repeat/);
      assert.equal(backend.requests.filter((r) => r.url === '/reports/5').length, 2, 'the safe call was made again');
      assert.equal(backend.requests.filter((r) => r.url === '/charges').length, 1, 'the charge was not repeated');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
      await backend.close();
    }
  });
});
