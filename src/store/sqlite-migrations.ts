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

const CONTROL_PLANE: Migration[] = [
  {
    version: 2,
    name: 'control plane: users, sessions, access tokens, teams, memberships, resources, audit log',
    sql: `
      CREATE TABLE users (
        id TEXT PRIMARY KEY,
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        system_admin INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE TABLE access_tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        last_used_at INTEGER
      );
      CREATE TABLE teams (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE memberships (
        team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
        writes TEXT NOT NULL,
        PRIMARY KEY (team_id, user_id)
      );
      CREATE INDEX memberships_user ON memberships (user_id);
      CREATE TABLE resources (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        team_id TEXT NOT NULL REFERENCES teams (id),
        version INTEGER NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        updated_by TEXT NOT NULL,
        PRIMARY KEY (kind, name)
      );
      CREATE INDEX resources_team ON resources (team_id, kind, name);
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        team_id TEXT,
        action TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        before TEXT,
        after TEXT
      );
      CREATE INDEX audit_team ON audit_log (team_id, id);
      CREATE TABLE config_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL);
      INSERT INTO config_revision (id, revision) VALUES (1, 0);
    `,
  },
];

export const SQLITE_MIGRATIONS: readonly Migration[] = [...FLOW_STATE, ...CONTROL_PLANE];
