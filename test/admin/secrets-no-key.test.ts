import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/observability/logger.js';
import { startSingleProcess } from '../../src/runtime/single.js';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../support/postgres.js';
import { ADMIN_PASSWORD, adminClient } from '../support/weir.js';

after(() => dropSchemas());

it('refuses to store secrets and HMAC credentials on a node sharing PostgreSQL without a secret key (503 WEIR_SECRETS_UNAVAILABLE), and says why in its log', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-nokey-'));
  writeFileSync(join(dir, 'weir.yaml'), 'services: {}\nroutes: []\n');
  const lines: string[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => lines.push(chunk.toString('utf8')));
  const saved = { key: process.env['WEIR_SECRET_KEY'], file: process.env['WEIR_SECRET_KEY_FILE'] };
  delete process.env['WEIR_SECRET_KEY'];
  delete process.env['WEIR_SECRET_KEY_FILE'];
  const node = await startSingleProcess({
    configPath: join(dir, 'weir.yaml'),
    port: 0,
    adminPort: 0,
    host: '127.0.0.1',
    adminHost: '127.0.0.1',
    dataDir: join(dir, 'data'),
    storeUrl: POSTGRES_URL,
    storeSchema: await freshSchema(),
    adminPassword: ADMIN_PASSWORD,
    log: createLogger({ level: 'warn', destination }),
  });
  try {
    const admin = await adminClient(`http://127.0.0.1:${node.adminPort}`);
    await admin('POST', '/api/v1/teams', { name: 'ops' });
    const res = await admin('POST', '/api/v1/secrets', { name: 'token', team: 'ops', value: 'v' });
    assert.equal(res.status, 503);
    assert.equal(res.json().code, 'WEIR_SECRETS_UNAVAILABLE');
    assert.match(res.json().detail, /WEIR_SECRET_KEY/);
    await admin('POST', '/api/v1/consumers', { name: 'app', team: 'ops' });
    const hmac = await admin('POST', '/api/v1/consumers/app/hmac-credentials', {});
    assert.equal(hmac.json().code, 'WEIR_SECRETS_UNAVAILABLE', 'nor HMAC credentials, whose secrets are sealed with the same key');
    assert.ok(lines.some((l) => l.includes('no secret key: secrets cannot be stored or used')));
  } finally {
    await node.close();
    if (saved.key !== undefined) process.env['WEIR_SECRET_KEY'] = saved.key;
    if (saved.file !== undefined) process.env['WEIR_SECRET_KEY_FILE'] = saved.file;
  }
});
