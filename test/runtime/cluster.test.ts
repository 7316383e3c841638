import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { startWeirProcess, until, type WeirProcess } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { call } from '../support/weir.js';

interface Health {
  status: string;
  configVersion: string;
  workers: Array<{ id: number; pid: number; configVersion: string; ready: boolean }>;
}

function configText(up: TestUpstream, extra = ''): string {
  return `
global:
  shutdown: { drainTimeout: 5s }
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - { path: /one/*, service: up }
${extra}`;
}

/** A fresh connection per request, so requests spread over the workers. */
async function fresh(url: string): Promise<number> {
  const agent = new Agent({ pipelining: 0 });
  try {
    return (await call(url, { dispatcher: agent })).status;
  } finally {
    await agent.close();
  }
}

describe('cluster (weir start --workers 2)', () => {
  let up: TestUpstream;
  let weir: WeirProcess;
  let configPath: string;
  const health = async (): Promise<Health> => (await call(`http://127.0.0.1:${weir.adminPort}/healthz`)).json<Health>();

  before(async () => {
    up = await startUpstream();
    configPath = join(mkdtempSync(join(tmpdir(), 'weir-cluster-')), 'weir.yaml');
    writeFileSync(configPath, configText(up));
    weir = await startWeirProcess(['--config', configPath, '--workers', '2', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1']);
  });
  after(async () => {
    weir.child.kill('SIGKILL');
    await up.close();
  });

  it('runs two ready workers and serves through them', async () => {
    const h = await health();
    assert.equal(h.status, 'ok');
    assert.equal(h.workers.length, 2);
    assert.ok(h.workers.every((w) => w.ready && w.configVersion === h.configVersion));
    assert.notEqual(h.workers[0]!.pid, h.workers[1]!.pid);
    assert.equal((await call(`http://127.0.0.1:${weir.adminPort}/readyz`)).status, 200);
    for (let i = 0; i < 10; i++) assert.equal(await fresh(`http://127.0.0.1:${weir.port}/one/${i}`), 200);
  });

  it('sends a reload to every worker', async () => {
    const before = (await health()).configVersion;
    writeFileSync(configPath, configText(up, '  - { path: /two/*, service: up }'));
    const h = await until(async () => {
      const now = await health();
      return now.configVersion !== before && now.workers.every((w) => w.configVersion === now.configVersion) ? now : undefined;
    }, 10_000, 'every worker on the new config');
    assert.equal(h.workers.length, 2);
    for (let i = 0; i < 10; i++) assert.equal(await fresh(`http://127.0.0.1:${weir.port}/two/${i}`), 200);
  });

  it('keeps serving the running config when an edit is invalid', async () => {
    const before = (await health()).configVersion;
    writeFileSync(configPath, configText(up, '  - { path: /three/*, service: missing }'));
    await until(() => weir.logs.find((l) => l.msg === 'config reload rejected; the running config keeps serving'), 10_000, 'a rejection log line');
    assert.equal((await health()).configVersion, before);
    assert.equal(await fresh(`http://127.0.0.1:${weir.port}/two/x`), 200);
  });

  it('replaces a worker that dies', async () => {
    const [victim] = (await health()).workers;
    process.kill(victim!.pid, 'SIGKILL');
    const h = await until(async () => {
      const now = await health();
      return now.workers.length === 2 && now.workers.every((w) => w.ready) && !now.workers.some((w) => w.pid === victim!.pid) ? now : undefined;
    }, 15_000, 'a replacement worker');
    assert.ok(weir.logs.some((l) => l.msg === 'worker died; starting a replacement' && l.pid === victim!.pid));
    // The replacement runs the current config, not the one it was born with.
    assert.ok(h.workers.every((w) => w.configVersion === h.configVersion));
    for (let i = 0; i < 10; i++) assert.equal(await fresh(`http://127.0.0.1:${weir.port}/two/${i}`), 200);
  });

  it('drains in-flight requests on SIGTERM and exits 0', async () => {
    up.handle((_req, res) => {
      setTimeout(() => res.end('finished after shutdown began'), 400);
    });
    const inFlight = call(`http://127.0.0.1:${weir.port}/one/slow`);
    await until(() => (up.requests.some((r) => r.url === '/one/slow') ? true : undefined), 5000, 'the slow request upstream');
    weir.child.kill('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, 'finished after shutdown began');
    assert.equal(await weir.exited, 0);
    await assert.rejects(fresh(`http://127.0.0.1:${weir.port}/one/x`), 'no longer accepting connections');
  });
});
