import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { callStoreConformance } from './call-store.conformance.js';
import { SqliteCallStore, ThreadedSqliteCallStore } from './sqlite-call-store.js';

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
