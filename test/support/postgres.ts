/**
 * PostgreSQL for tests: the server in WEIR_TEST_POSTGRES_URL (default: the local one, trust
 * auth), a fresh schema per store under test, and dropping them all afterwards. A server that
 * does not answer fails the test with a message saying so: nothing is skipped.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startWeirProcess, type WeirProcess } from './cli.js';

export const POSTGRES_URL = process.env.WEIR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const created = new Set<string>();
let reachable: Promise<void> | undefined;

async function query(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Fails with what to do when the test server does not answer. */
export function requirePostgres(): Promise<void> {
  reachable ??= query('SELECT 1').catch((err: unknown) => {
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_URL} (${(err as Error).message || String(err)}): start it ` +
        '(pg_ctlcluster --skip-systemctl-redirect <version> main start) or set WEIR_TEST_POSTGRES_URL',
    );
  });
  return reachable;
}

/** A schema name no other test uses (created by the store that opens it); dropped by `dropSchemas`. */
export async function freshSchema(): Promise<string> {
  await requirePostgres();
  const name = `weir_test_${process.pid}_${randomBytes(6).toString('hex')}`;
  created.add(name);
  return name;
}

/** Drops every schema `freshSchema` named in this process, with what is in them. */
export async function dropSchemas(): Promise<void> {
  if (created.size === 0) return;
  const names = [...created];
  created.clear();
  await query(names.map((name) => `DROP SCHEMA IF EXISTS ${name} CASCADE;`).join('\n'));
}

/** Ends the server side of every connection with this application name, as a server restart would; how many it ended. */
export async function terminateConnections(applicationName: string): Promise<number> {
  await requirePostgres();
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()) AS ended',
      [applicationName],
    );
    return rows[0]!.n;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Two Weir nodes sharing one fresh schema with `yaml` as their config file: `a` a single
 * process, `b` a cluster primary with one worker. Each is pushed onto `started` as soon as it
 * serves, so the caller's cleanup stops it even if the other fails to start.
 */
export async function startTwoNodes(yaml: string, started: WeirProcess[]): Promise<{ a: WeirProcess; b: WeirProcess; schema: string }> {
  const schema = await freshSchema();
  const dir = mkdtempSync(join(tmpdir(), 'weir-pg-nodes-'));
  writeFileSync(join(dir, 'weir.yaml'), yaml);
  const common = ['--config', join(dir, 'weir.yaml'), '--store', POSTGRES_URL, '--store-schema', schema, '--port', '0', '--admin-port', '0', '--host', '127.0.0.1'];
  const a = await startWeirProcess([...common, '--data', join(dir, 'a'), '--workers', '0']);
  started.push(a);
  const b = await startWeirProcess([...common, '--data', join(dir, 'b'), '--workers', '1']);
  started.push(b);
  return { a, b, schema };
}

/** Kills what is still running of `nodes` and drops every schema the tests made. */
export async function stopNodes(nodes: readonly WeirProcess[]): Promise<void> {
  for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGKILL');
  await dropSchemas();
}
