import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configStoreConformance } from './config-store.conformance.js';
import { SqliteConfigStore } from './sqlite-config-store.js';

configStoreConformance('SQLite', {
  async open() {
    return new SqliteConfigStore(mkdtempSync(join(tmpdir(), 'weir-config-store-')));
  },
});
