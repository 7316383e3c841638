import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../../test/support/postgres.js';
import { flowStateConformance } from './flow-state.conformance.js';
import type { FlowStateStore } from './flow-state.js';
import { closePostgres, openPostgres, POSTGRES_MIGRATIONS } from './postgres.js';
import { PostgresFlowState } from './postgres-flow-state.js';

/** Every store a test opened, closed at the end even when the test failed before closing it. */
const opened: FlowStateStore[] = [];

async function open(schema: string): Promise<PostgresFlowState> {
  const store = await PostgresFlowState.open(POSTGRES_URL, { schema });
  opened.push(store);
  return store;
}

after(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas();
});

flowStateConformance('PostgreSQL', {
  async open() {
    const schema = await freshSchema();
    return { store: await open(schema), openAgain: () => open(schema) };
  },
});

const T = 1_000_000;

describe('PostgreSQL schema', () => {
  it('applies each migration once when stores open the same fresh schema at the same moment', async () => {
    const schema = await freshSchema();
    await Promise.all([open(schema), open(schema), open(schema)]);
    const pool = await openPostgres(POSTGRES_URL, { schema, migrations: POSTGRES_MIGRATIONS });
    try {
      const { rows } = await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(rows, POSTGRES_MIGRATIONS.map((m) => ({ version: m.version })));
    } finally {
      await closePostgres(pool);
    }
  });

  it('puts every pooled connection in the schema', async () => {
    const schema = await freshSchema();
    const pool = await openPostgres(`${POSTGRES_URL}?application_name=weir-test`, { schema, migrations: POSTGRES_MIGRATIONS, max: 4 });
    try {
      const clients = await Promise.all(Array.from({ length: 4 }, () => pool.connect()));
      const schemas = await Promise.all(clients.map(async (client) => (await client.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s));
      for (const client of clients) client.release();
      assert.deepEqual(schemas, [schema, schema, schema, schema]);
      const { rows } = await pool.query<{ n: string }>("SELECT to_regclass('jobs')::text AS n");
      assert.equal(rows[0]!.n, 'jobs');
    } finally {
      await closePostgres(pool);
    }
  });

  it('refuses a schema name that would need quoting', async () => {
    await assert.rejects(openPostgres(POSTGRES_URL, { schema: 'Weir; DROP', migrations: [] }), /lowercase letters/);
  });
});

describe('PostgreSQL claims under contention', () => {
  it('gives each of many contested keys to exactly one of several stores, also after a lease lapses', async () => {
    const schema = await freshSchema();
    const stores = await Promise.all([open(schema), open(schema), open(schema)]);
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`);
    const round = async (leaseUntil: number, now: number) => {
      const claims = await Promise.all(
        keys.flatMap((key) => Array.from({ length: 6 }, (_, i) => stores[i % 3]!.claimKey('s', key, 'fp', `${key}-${now}-${i}`, leaseUntil, now).then((c) => [key, c.kind] as const))),
      );
      return keys.map((key) => claims.filter(([k, kind]) => k === key && kind === 'claimed').length);
    };
    assert.deepEqual(await round(T + 100, T), keys.map(() => 1));
    assert.deepEqual(await round(T + 300, T + 101), keys.map(() => 1), 'a lapsed lease goes to one new owner');
  });

  it('hands each abandoned job to exactly one of several stores', async () => {
    const schema = await freshSchema();
    const stores = await Promise.all([open(schema), open(schema), open(schema)]);
    for (let i = 0; i < 25; i++) await stores[0]!.createJob({ id: `j${i}`, flow: 'f', request: {}, requestId: `r${i}`, callbackUrl: null }, 'gone', T + 100, T + i);
    const takeAll = async (store: FlowStateStore, owner: string) => {
      const taken: string[] = [];
      for (let job = await store.claimAbandonedJob(owner, T + 10_000, T + 200); job !== undefined; job = await store.claimAbandonedJob(owner, T + 10_000, T + 200)) {
        assert.equal(job.runs, 2);
        taken.push(job.id);
      }
      return taken;
    };
    const taken = (await Promise.all(stores.flatMap((store, i) => [takeAll(store, `a${i}`), takeAll(store, `b${i}`)]))).flat();
    assert.equal(taken.length, 25);
    assert.equal(new Set(taken).size, 25);
  });
});
