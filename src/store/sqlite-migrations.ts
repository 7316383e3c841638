/**
 * The schema of `weir.db`, one numbered list for the whole file: every store class opens the
 * database with all of it, so whichever opens first brings the file up to date. Never edit a
 * released migration: append the next.
 */
import type { Migration } from './sqlite.js';

const FLOW_STATE: Migration[] = [
  {
    version: 1,
    name: 'flow state: idempotency keys, jobs, compensation failures',
    sql: `
      CREATE TABLE idempotency_keys (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'done')),
        owner TEXT,
        lease_until INTEGER,
        response TEXT,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
        request TEXT NOT NULL,
        request_id TEXT NOT NULL,
        callback_url TEXT,
        owner TEXT,
        lease_until INTEGER,
        runs INTEGER NOT NULL DEFAULT 1,
        response TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        finished_at INTEGER,
        expires_at INTEGER,
        callback_state TEXT NOT NULL DEFAULT 'none' CHECK (callback_state IN ('none', 'pending', 'delivered', 'failed')),
        callback_attempts INTEGER NOT NULL DEFAULT 0,
        callback_next_at INTEGER,
        callback_lease_until INTEGER,
        callback_error TEXT
      );
      CREATE INDEX jobs_running ON jobs (state, lease_until);
      CREATE INDEX jobs_callbacks ON jobs (callback_state, callback_next_at);
      CREATE INDEX jobs_expiry ON jobs (expires_at);
      CREATE TABLE compensation_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        flow TEXT NOT NULL,
        request_id TEXT NOT NULL,
        step TEXT NOT NULL,
        call TEXT,
        error TEXT
      );
    `,
  },
];

export const SQLITE_MIGRATIONS: readonly Migration[] = [...FLOW_STATE];
