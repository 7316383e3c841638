import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULTS } from '../config/normalize.js';
import { silentLogger } from '../observability/logger.js';
import { openCallLog } from './writer.js';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../../test/support/postgres.js';
import { assertBackfilled, callStoreConformance, oldMinuteRollups, sampleCall } from './call-store.conformance.js';
import { closePostgres, openPostgres } from '../store/postgres.js';
import { rollupValues } from './store.js';
import { ROLLUP_WIDTH, rollupUpsertSql } from './sqlite-call-store.js';
import type { CallStore } from './store.js';
import { CALL_MIGRATIONS, PostgresCallStore } from './postgres-call-store.js';

const opened: CallStore[] = [];

after(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas();
});

callStoreConformance('PostgreSQL', {
  async open() {
    const store = await PostgresCallStore.open(POSTGRES_URL, { schema: await freshSchema() });
    opened.push(store);
    return store;
  },
});

describe('call log writer on PostgreSQL', () => {
  it('is where openCallLog puts calls for a postgres:// store, unless told sqlite', async () => {
    const schema = await freshSchema();
    const log = silentLogger();
    const writer = (await openCallLog({ storeUrl: POSTGRES_URL, schema, dataDir: mkdtempSync(join(tmpdir(), 'weir-calls-')) }, DEFAULTS.callLog, log))!;
    assert.equal(writer.kind, 'postgres');
    for (let i = 0; i < 1200; i++) writer.record(sampleCall({ id: `pg-${i}`, at: Date.now() }));
    await writer.close();
    const store = await PostgresCallStore.open(POSTGRES_URL, { schema });
    opened.push(store);
    const first = await store.list({}, { limit: 500, after: null });
    assert.equal(first.items[0]!.id, 'pg-1199');
    assert.equal(writer.stats().written, 1200);
    const local = (await openCallLog({ storeUrl: POSTGRES_URL, schema, dataDir: mkdtempSync(join(tmpdir(), 'weir-calls-')) }, { ...DEFAULTS.callLog, store: 'sqlite' }, log))!;
    assert.equal(local.kind, 'sqlite');
    await local.close();
  });
});

describe('call log upgrade on PostgreSQL', () => {
  it('fills hourly, daily and per-API rollups from the minute rollups of a schema from before them', async () => {
    const schema = await freshSchema();
    const old = await openPostgres(POSTGRES_URL, { schema, migrations: CALL_MIGRATIONS.slice(0, 1), max: 1 });
    for (const r of oldMinuteRollups()) await old.query(rollupUpsertSql(Array.from({ length: ROLLUP_WIDTH }, (_, i) => `$${i + 1}`)), rollupValues(r));
    await closePostgres(old);
    const store = await PostgresCallStore.open(POSTGRES_URL, { schema });
    opened.push(store);
    await assertBackfilled(store);
  });
});
