import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { flowStateConformance } from './flow-state.conformance.js';
import { SqliteFlowState } from './sqlite-flow-state.js';

flowStateConformance('SQLite', {
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'weir-store-'));
    return { store: new SqliteFlowState(dir), openAgain: async () => new SqliteFlowState(dir) };
  },
});

describe('SQLite file', () => {
  it('is in WAL mode, and applies each migration once however many processes open it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-store-'));
    const stores = [new SqliteFlowState(dir), new SqliteFlowState(dir), new SqliteFlowState(dir)];
    const db = new Database(join(dir, 'weir.db'), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.deepEqual(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all(), [{ version: 1 }, { version: 2 }]);
    db.close();
    for (const store of stores) void store.close();
  });
});
