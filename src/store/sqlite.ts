/**
 * The embedded SQLite database under `--data` (better-sqlite3): one file shared by every process
 * of a node, in WAL mode so readers never wait for the writer. Migrations are numbered and run on
 * open inside an IMMEDIATE transaction, so two processes opening the file at once apply each
 * migration exactly once (the second waits, then finds it applied).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export type SqliteDatabase = Database.Database;

/** One schema change. Never edit a released migration: add the next one. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Opens (creating if needed) `file` (default `weir.db`) in `dataDir` and brings its schema up to date. */
export function openDatabase(dataDir: string, migrations: readonly Migration[], file = 'weir.db'): SqliteDatabase {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, file));
  db.pragma('journal_mode = WAL');
  // NORMAL in WAL mode: a commit survives a process crash; only an OS crash may lose the last ones.
  db.pragma('synchronous = NORMAL');
  // Other processes of the node write too: wait for their lock instead of failing.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  migrate(db, migrations);
  return db;
}

function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = db.prepare<[number], { version: number }>('SELECT version FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    db.transaction(() => {
      if (applied.get(migration.version) !== undefined) return;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, Date.now());
    }).immediate();
  }
}
