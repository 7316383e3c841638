import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from '../support/upstream.js';
import { call, configProblems, startWeir } from '../support/weir.js';
import { SqliteCallStore } from '../../src/calls/sqlite-call-store.js';

const base = (callLog: string) => `global:\n  callLog:\n${callLog}\nservices:\n  s: { targets: [{ url: http://127.0.0.1:1 }] }\nroutes: []\n`;

describe('global.callLog in weir.yaml', () => {
  it('refuses bad settings with their path and line', () => {
    const cases: Array<[string, RegExp]> = [
      ['    queueSize: 0', /^3: \/global\/callLog\/queueSize: /],
      ['    batchSize: 20000', /^3: \/global\/callLog\/batchSize: /],
      ['    store: redis', /^3: \/global\/callLog\/store: /],
      ['    retention: { maxRows: 10 }', /^3: \/global\/callLog\/retention\/maxRows: /],
      ['    retention: { maxAge: 7d }', /^3: \/global\/callLog\/retention\/maxAge: /],
      ['    rollupRetention: forever', /^3: \/global\/callLog\/rollupRetention: /],
      ['    flushInterval: -1', /^3: \/global\/callLog\/flushInterval: /],
      ['    enabled: yes', /^3: \/global\/callLog\/enabled: /],
      ['    sampleRate: 0.5', /^3: \/global\/callLog\/sampleRate: unknown property/],
    ];
    for (const [line, expected] of cases) {
      const problems = configProblems(base(line));
      assert.ok(problems.length > 0, `${line.trim()} is refused`);
      assert.match(problems[0]!, expected, `${line.trim()}: ${problems.join(' | ')}`);
    }
    assert.deepEqual(configProblems(base('    enabled: false\n    retention: { maxAge: 72h, maxRows: 1000 }\n    rollupRetention: 720h\n    queueSize: 1\n    batchSize: 1\n    flushInterval: 1s\n    store: sqlite')), []);
  });

  it('records nothing while off, and records again once a reload turns it on', async () => {
    const upstream = await startUpstream();
    const yaml = (enabled: boolean) => `global:\n  callLog: { enabled: ${enabled} }\nservices:\n  s: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: all, path: /*, service: s }\n`;
    const weir = await startWeir(yaml(false));
    try {
      assert.equal((await call(`${weir.url}/a`)).status, 200);
      await weir.node.calls!.flush();
      assert.equal((await weir.node.calls!.store.list({}, { limit: 10, after: null })).items.length, 0);
      await weir.rewrite(yaml(true));
      assert.equal((await call(`${weir.url}/b`, { headers: { 'x-request-id': 'after-reload' } })).status, 200);
      await weir.node.calls!.flush();
      assert.deepEqual((await weir.node.calls!.store.list({}, { limit: 10, after: null })).items.map((r) => r.id), ['after-reload']);
    } finally {
      await weir.close();
      await upstream.close();
    }
  });

  it('counts the records a full queue dropped, says so once, and written plus dropped is every request', async () => {
    const upstream = await startUpstream();
    const weir = await startWeir(`global:\n  callLog: { queueSize: 3, batchSize: 10000, flushInterval: 1h }\nservices:\n  s: { targets: [{ url: ${upstream.url} }] }\nroutes:\n  - { name: all, path: /*, service: s }\n`);
    try {
      for (let i = 0; i < 10; i++) assert.equal((await call(`${weir.url}/r/${i}`)).status, 200);
      const health = (await call(`${weir.adminUrl}/healthz`)).json();
      assert.deepEqual({ queued: health.callLog.queued, dropped: health.callLog.dropped, written: health.callLog.written }, { queued: 3, dropped: 7, written: 0 });
      assert.equal(weir.logs.filter((l) => String(l.msg).startsWith('call log queue is full')).length, 1, 'one warning for the episode');
    } finally {
      await weir.close();
      await upstream.close();
    }
    const store = new SqliteCallStore(weir.dataDir);
    const stored = await store.list({}, { limit: 100, after: null });
    await store.close();
    assert.equal(stored.items.length, 3, 'the queued records were written at shutdown');
    assert.equal(stored.items.length + 7, 10);
  });
});
