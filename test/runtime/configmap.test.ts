import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../src/observability/logger.js';
import { startSingleProcess } from '../../src/runtime/single.js';
import { delay, startUpstream } from '../support/upstream.js';
import { call } from '../support/weir.js';

/**
 * Kubernetes mounts a ConfigMap as `weir.yaml -> ..data/weir.yaml` with `..data` a symlink to a
 * timestamped folder, and updates it by swapping `..data`: the file itself never changes.
 */
describe('config mounted from a Kubernetes ConfigMap', () => {
  it('reloads when the ..data symlink is swapped', async () => {
    const up = await startUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'weir-configmap-'));
    const version = (name: string, routes: string): void => {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'weir.yaml'), `services:\n  up:\n    targets: [{ url: ${up.url} }]\nroutes:\n${routes}`);
    };
    version('..2026_01', '  - { path: /v1, service: up }\n');
    symlinkSync('..2026_01', join(dir, '..data'));
    symlinkSync('..data/weir.yaml', join(dir, 'weir.yaml'));
    const node = await startSingleProcess({ configPath: join(dir, 'weir.yaml'), port: 0, adminPort: 0, host: '127.0.0.1', adminHost: '127.0.0.1', log: silentLogger() });
    try {
      const url = `http://127.0.0.1:${node.port}`;
      assert.equal((await call(`${url}/v1`)).status, 200);
      version('..2026_02', '  - { path: /v2, service: up }\n');
      symlinkSync('..2026_02', join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      const before = node.status().configVersion;
      const deadline = Date.now() + 5000;
      while (node.status().configVersion === before && Date.now() < deadline) await delay(20);
      assert.equal((await call(`${url}/v2`)).status, 200);
      assert.equal((await call(`${url}/v1`)).status, 404);
    } finally {
      await node.close();
      await up.close();
    }
  });
});
