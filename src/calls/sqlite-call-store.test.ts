import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { openDatabase } from '../store/sqlite.js';
import { rollupValues } from './store.js';
import { assertBackfilled, callStoreConformance, oldMinuteRollups } from './call-store.conformance.js';
import { CALL_TABLES_SQL, ROLLUP_WIDTH, SqliteCallStore, ThreadedSqliteCallStore, rollupUpsertSql } from './sqlite-call-store.js';

callStoreConformance('SQLite', {
  async open() {
    return new SqliteCallStore(mkdtempSync(join(tmpdir(), 'weir-calls-')));
  },
});

callStoreConformance('SQLite, written by a worker thread', {
  async open() {
    return new ThreadedSqliteCallStore(mkdtempSync(join(tmpdir(), 'weir-calls-')));
  },
});

it('SQLite: a calls.db from before hourly, daily and per-API rollups gets them filled when opened', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'weir-calls-'));
  const old = openDatabase(dir, [{ version: 1, name: 'calls and per-minute rollups', sql: CALL_TABLES_SQL({ seq: 'INTEGER PRIMARY KEY AUTOINCREMENT', int: 'INTEGER', json: 'TEXT' }) }], 'calls.db');
  const upsert = old.prepare(rollupUpsertSql(Array.from({ length: ROLLUP_WIDTH }, () => '?')));
  for (const r of oldMinuteRollups()) upsert.run(rollupValues(r));
  old.close();
  const store = new SqliteCallStore(dir);
  await assertBackfilled(store);
  await store.close();
});
