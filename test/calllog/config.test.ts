import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream } from '../support/upstream.js';
import { call, configProblems, startWeir } from '../support/weir.js';

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
});
