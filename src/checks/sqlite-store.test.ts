import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkStoreConformance } from './store.conformance.js';
import { SqliteCheckStore } from './sqlite-store.js';

checkStoreConformance('SQLite', {
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'weir-checks-'));
    return { store: new SqliteCheckStore(dir), openAgain: async () => new SqliteCheckStore(dir) };
  },
});
