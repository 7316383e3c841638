import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { dropSchemas, freshSchema, POSTGRES_URL, terminateConnections } from '../../test/support/postgres.js';
import { configStoreConformance } from './config-store.conformance.js';
import { AlreadyExistsError, VersionConflictError, type ConfigStore } from './config-store.js';
import { openConfigStore } from './index.js';
import { PostgresConfigStore } from './postgres-config-store.js';
import { SqliteConfigStore } from './sqlite-config-store.js';

/** Every store a test opened, closed at the end even when the test failed before closing it. */
const opened: ConfigStore[] = [];

async function open(schema: string): Promise<PostgresConfigStore> {
  const store = await PostgresConfigStore.open(POSTGRES_URL, { schema, max: 4 });
  opened.push(store);
  return store;
}

after(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas();
});

configStoreConformance('PostgreSQL', {
  async open() {
    return open(await freshSchema());
  },
});

/** A listener recording its calls, and the first call's revision (failing after `ms` without one). */
function heard(ms: number, what: string): { listener: (revision: number) => void; calls: number[]; first: Promise<number> } {
  const calls: number[] = [];
  let resolve!: (revision: number) => void;
  const first = new Promise<number>((res, rej) => {
    resolve = res;
    const timer = setTimeout(() => rej(new Error(`no revision heard within ${ms} ms: ${what}`)), ms);
    timer.unref();
  });
  return {
    calls,
    first,
    listener: (revision) => {
      calls.push(revision);
      resolve(revision);
    },
  };
}

describe('PostgreSQL config store across nodes', () => {
  it('lets exactly one of two stores win an update of the same resource at the same version (20 rounds)', async () => {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    const team = await a.createTeam({ name: 'shop', description: '' }, 'root');
    await a.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { round: 0 }, expectedVersion: null }, 'root');
    for (let round = 1; round <= 20; round++) {
      const version = (await b.getResource('service', 'orders'))!.version;
      const outcomes = await Promise.allSettled(
        [a, b].map((store, i) => store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { round, by: i }, expectedVersion: version }, `node${i}`)),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      assert.equal(won.length, 1, `round ${round}: one winner`);
      assert.equal(lost.length, 1, `round ${round}: one loser`);
      assert.ok(lost[0]!.reason instanceof VersionConflictError, `round ${round}: ${String(lost[0]!.reason)}`);
      assert.equal((lost[0]!.reason as VersionConflictError).current, version + 1);
      const now = (await a.getResource('service', 'orders'))!;
      assert.equal(now.version, version + 1);
      assert.deepEqual(now.body, { round, by: outcomes.indexOf(won[0]!) }, "the winner's body is stored");
    }
    assert.equal(await a.revision(), 21, 'only the winners bumped the revision');
    const audit = await b.listAudit({ limit: 100 }, { kind: 'service' });
    assert.equal(audit.items.length, 21, 'only the winners were audited');
  });

  it('lets exactly one of two stores create the same name (20 rounds)', async () => {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    const team = await a.createTeam({ name: 'shop', description: '' }, 'root');
    for (let round = 0; round < 20; round++) {
      const outcomes = await Promise.allSettled(
        [a, b].map((store) => store.writeResource({ kind: 'route', name: `r${round}`, teamId: team.id, body: {}, expectedVersion: null }, 'root')),
      );
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected'], `round ${round}`);
      assert.ok(outcomes.some((o) => o.status === 'rejected' && o.reason instanceof AlreadyExistsError), `round ${round}`);
    }
    assert.equal(await a.revision(), 20);
  });

  it('tells a listener on one store about a write made through another within a second', async () => {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    const team = await b.createTeam({ name: 'shop', description: '' }, 'root');
    const hearing = heard(1_000, 'after a write through the other store');
    await a.onRevision(hearing.listener);
    await b.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: {}, expectedVersion: null }, 'root');
    assert.equal(await hearing.first, await b.revision());
  });

  it('does not call a listener for writes to another schema, though they notify the same channel', async () => {
    const [mine, theirs] = [await freshSchema(), await freshSchema()];
    const [a, b, other] = await Promise.all([open(mine), open(mine), open(theirs)]);
    const team = await b.createTeam({ name: 'shop', description: '' }, 'root');
    const otherTeam = await other.createTeam({ name: 'shop', description: '' }, 'root');
    const hearing = heard(1_000, 'after a write to its own schema');
    await a.onRevision(hearing.listener);
    for (const name of ['x', 'y']) await other.writeResource({ kind: 'service', name, teamId: otherTeam.id, body: {}, expectedVersion: null }, 'root');
    await b.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: {}, expectedVersion: null }, 'root');
    assert.equal(await hearing.first, 1);
    assert.deepEqual(hearing.calls, [1]);
  });

  it('listens again after its connection is cut, and reports what changed meanwhile', async () => {
    const schema = await freshSchema();
    const [a, b] = await Promise.all([open(schema), open(schema)]);
    const team = await b.createTeam({ name: 'shop', description: '' }, 'root');
    const hearing = heard(3_000, 'after the listening connection was cut');
    const stop = await a.onRevision(hearing.listener);
    assert.equal(await terminateConnections(`weir listen ${schema}`), 1);
    await b.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: {}, expectedVersion: null }, 'root');
    assert.equal(await hearing.first, 1);
    await stop();
    assert.equal(await terminateConnections(`weir listen ${schema}`), 0, 'stopped: no connection left, none reopened');
  });

  it('sorts and pages names byte by byte, as SQLite does', async () => {
    const names = ['b', 'B', 'a', 'Z', '_x', 'é', 'e', 'ä', '10', '9', 'ß', '😀', 'ｚ'];
    const pgStore = await open(await freshSchema());
    const sqlite = new SqliteConfigStore(mkdtempSync(join(tmpdir(), 'weir-config-order-')));
    try {
      const pages = async (store: ConfigStore) => {
        const team = await store.createTeam({ name: 'shop', description: '' }, 'root');
        for (const name of names) {
          await store.writeResource({ kind: 'flow', name, teamId: team.id, body: {}, expectedVersion: null }, 'root');
          await store.createUser({ username: name, passwordHash: 'h', systemAdmin: false }, 'root');
        }
        const seen = { resources: [] as string[][], users: [] as string[][] };
        for (let page = await store.listResources('flow', { limit: 3 }); ; page = await store.listResources('flow', { limit: 3, after: page.next })) {
          seen.resources.push(page.items.map((r) => r.name));
          if (page.next === null) break;
        }
        for (let page = await store.listUsers({ limit: 4 }); ; page = await store.listUsers({ limit: 4, after: page.next })) {
          seen.users.push(page.items.map((u) => u.username));
          if (page.next === null) break;
        }
        return seen;
      };
      const expected = [...names].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      const sqlitePages = await pages(sqlite);
      assert.deepEqual(sqlitePages.resources.flat(), expected, 'SQLite orders by UTF-8 bytes');
      assert.deepEqual(sqlitePages.users.flat(), expected);
      assert.deepEqual(await pages(pgStore), sqlitePages);
    } finally {
      await sqlite.close();
    }
  });

  it('collates every name column "C", whatever the database default', async () => {
    const schema = await freshSchema();
    await open(schema);
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ column: string; collation: string | null }>(
        `SELECT table_name || '.' || column_name AS column, collation_name AS collation FROM information_schema.columns
         WHERE table_schema = $1 AND (table_name, column_name) IN (('users', 'username'), ('teams', 'name'), ('resources', 'name')) ORDER BY 1`,
        [schema],
      );
      assert.deepEqual(rows, [
        { column: 'resources.name', collation: 'C' },
        { column: 'teams.name', collation: 'C' },
        { column: 'users.username', collation: 'C' },
      ]);
    } finally {
      await client.end();
    }
  });
});

describe('openConfigStore', () => {
  it('opens PostgreSQL for a postgres:// URL, SQLite in the data folder without one, and refuses other URLs', async () => {
    const schema = await freshSchema();
    const remote = await openConfigStore({ storeUrl: POSTGRES_URL, schema, dataDir: '/nonexistent' });
    opened.push(remote);
    assert.ok(remote instanceof PostgresConfigStore);
    assert.equal(await remote.revision(), 0);
    const local = await openConfigStore({ dataDir: mkdtempSync(join(tmpdir(), 'weir-open-config-')) });
    assert.ok(local instanceof SqliteConfigStore);
    await local.close();
    await assert.rejects(openConfigStore({ storeUrl: 'mysql://u:secret@h/db' }), (err: Error) => /only postgres:\/\//.test(err.message) && !err.message.includes('secret'));
    await assert.rejects(openConfigStore({}), /data folder/);
  });
});
