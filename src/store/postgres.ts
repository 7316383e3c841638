/**
 * PostgreSQL for the stores that many nodes share (`--store postgres://…`): a `pg.Pool` whose
 * every connection works in one schema, and numbered migrations applied on open. Migrating takes
 * a transaction-scoped advisory lock derived from the schema name first, so nodes opening the
 * same schema at once queue behind it and each migration is applied exactly once; the lock goes
 * with the transaction, and DDL is transactional here, so a failed migration leaves nothing half
 * done. `POSTGRES_MIGRATIONS` is the one numbered list for the whole schema, as
 * `sqlite-migrations.ts` is for `weir.db`.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Migration } from './sqlite.js';

export type { Migration };

export const DEFAULT_SCHEMA = 'weir';

/** A schema name that needs no quoting anywhere (SQL, the `options` startup parameter). */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export interface PostgresOptions {
  /** The schema every connection uses; created if missing. Default `weir`. */
  schema?: string;
  /** Every migration of the schema (the whole list: whoever opens first brings it up to date). */
  migrations: readonly Migration[];
  /** Connections in the pool (default 10). */
  max?: number;
}

/** Opens a pool on `url` whose connections all use `schema`, and brings the schema up to date. */
export async function openPostgres(url: string, options: PostgresOptions): Promise<pg.Pool> {
  const schema = options.schema ?? DEFAULT_SCHEMA;
  if (!SCHEMA_NAME.test(schema)) throw new Error(`schema "${schema}": use lowercase letters, digits and _ (at most 63), starting with a letter or _`);
  const pool = new pg.Pool({ connectionString: withSearchPath(url, schema), max: options.max ?? 10, types: TYPES });
  // An idle connection that breaks (server restart, network) is dropped by the pool and reported
  // here; without a listener the 'error' event would end the process. The next query opens anew.
  pool.on('error', () => {});
  try {
    await migrate(pool, schema, options.migrations);
  } catch (err) {
    await pool.end();
    throw err;
  }
  return pool;
}

/** Runs `work` in a transaction on one connection: committed when it returns, rolled back when it throws. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {
      broken = true;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

/** Ends the pool's connections (waiting for queries in flight); a second call does nothing. */
export async function closePostgres(pool: pg.Pool): Promise<void> {
  if (!pool.ending) await pool.end();
}

/**
 * `search_path` as a startup parameter of every connection (`options=-c search_path=…`), added to
 * any `options` the URL already has: it holds from the first query, and `RESET ALL` or
 * `DISCARD ALL` return to it. Set in the URL because pg lets the URL's parameters win over the
 * pool's config.
 */
function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  const options = parsed.searchParams.get('options');
  parsed.searchParams.set('options', `${options === null ? '' : `${options} `}-c search_path=${schema}`);
  return parsed.href;
}

/** int8 (bigint) columns hold millisecond times and counts: read them as numbers, not strings. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 && format !== 'binary' ? (text: string) => Number(text) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** The advisory lock key of a schema's migrations: the first 8 bytes of a hash of its name. */
export function migrationLockKey(schema: string): string {
  return createHash('sha256').update(`weir migrations ${schema}`).digest().readBigInt64BE(0).toString();
}

async function migrate(pool: pg.Pool, schema: string, migrations: readonly Migration[]): Promise<void> {
  const client = await pool.connect();
  let failed = false;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1::bigint)', [migrationLockKey(schema)]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    // A connection that lost its startup options (a pooler that strips them) would migrate and
    // write elsewhere: refuse instead.
    const { rows } = await client.query<{ current: string | null }>('SELECT current_schema() AS current');
    if (rows[0]?.current !== schema) throw new Error(`the connection does not use schema "${schema}" (current schema: ${rows[0]?.current ?? 'none'}); is a pooler dropping the options startup parameter?`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
    for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [migration.version, migration.name, Date.now()]);
    }
    await client.query('COMMIT');
  } catch (err) {
    failed = true;
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    // A connection whose transaction failed is not handed out again.
    client.release(failed);
  }
}

/**
 * The schema in PostgreSQL, one numbered list for all its stores. Never edit a released
 * migration: append the next. The same tables as `sqlite-migrations.ts`, with times as bigint
 * milliseconds and JSON as text (kept byte for byte: jsonb would reorder keys and refuse \u0000).
 */
export const POSTGRES_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'flow state: idempotency keys, jobs, compensation failures',
    sql: `
      CREATE TABLE idempotency_keys (
        scope text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'done')),
        owner text,
        lease_until bigint,
        response text,
        expires_at bigint NOT NULL,
        PRIMARY KEY (scope, key)
      );
      CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
      CREATE TABLE jobs (
        id text PRIMARY KEY,
        flow text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'succeeded', 'failed')),
        request text NOT NULL,
        request_id text NOT NULL,
        callback_url text,
        owner text,
        lease_until bigint,
        runs integer NOT NULL DEFAULT 1,
        response text,
        error text,
        created_at bigint NOT NULL,
        finished_at bigint,
        expires_at bigint,
        callback_state text NOT NULL DEFAULT 'none' CHECK (callback_state IN ('none', 'pending', 'delivered', 'failed')),
        callback_attempts integer NOT NULL DEFAULT 0,
        callback_next_at bigint,
        callback_lease_until bigint,
        callback_error text
      );
      CREATE INDEX jobs_running ON jobs (state, lease_until);
      CREATE INDEX jobs_callbacks ON jobs (callback_state, callback_next_at);
      CREATE INDEX jobs_expiry ON jobs (expires_at);
      CREATE TABLE compensation_failures (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at bigint NOT NULL,
        flow text NOT NULL,
        request_id text NOT NULL,
        step text NOT NULL,
        call text,
        error text
      );
    `,
  },
  {
    version: 2,
    name: 'control plane: users, sessions, access tokens, teams, memberships, resources, audit log',
    // Names sort and compare byte by byte (COLLATE "C"), as SQLite's do: pages and cursors are the
    // same in both whatever the database's locale.
    sql: `
      CREATE TABLE users (
        id text PRIMARY KEY,
        username text COLLATE "C" NOT NULL UNIQUE,
        password_hash text NOT NULL,
        system_admin boolean NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE TABLE sessions (
        token_hash text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        csrf text NOT NULL,
        expires_at bigint NOT NULL
      );
      CREATE INDEX sessions_user ON sessions (user_id);
      CREATE TABLE access_tokens (
        id text PRIMARY KEY,
        user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        name text NOT NULL,
        prefix text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        created_at bigint NOT NULL,
        expires_at bigint,
        last_used_at bigint
      );
      CREATE INDEX access_tokens_user ON access_tokens (user_id);
      CREATE TABLE teams (
        id text PRIMARY KEY,
        name text COLLATE "C" NOT NULL UNIQUE,
        description text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE TABLE memberships (
        team_id text NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
        user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role text NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
        writes text NOT NULL,
        PRIMARY KEY (team_id, user_id)
      );
      CREATE INDEX memberships_user ON memberships (user_id);
      CREATE TABLE resources (
        kind text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        team_id text NOT NULL REFERENCES teams (id),
        version integer NOT NULL,
        body text NOT NULL,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        updated_by text NOT NULL,
        PRIMARY KEY (kind, name)
      );
      CREATE INDEX resources_team ON resources (team_id, kind, name);
      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at bigint NOT NULL,
        actor text NOT NULL,
        team_id text,
        action text NOT NULL,
        kind text NOT NULL,
        name text NOT NULL,
        before text,
        after text
      );
      CREATE INDEX audit_team ON audit_log (team_id, id);
      CREATE TABLE config_revision (id integer PRIMARY KEY CHECK (id = 1), revision bigint NOT NULL);
      INSERT INTO config_revision (id, revision) VALUES (1, 0);
    `,
  },
];
