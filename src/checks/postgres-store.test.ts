import { after } from 'node:test';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../../test/support/postgres.js';
import { checkStoreConformance } from './store.conformance.js';
import type { CheckResultStore } from './store.js';
import { PostgresCheckStore } from './postgres-store.js';

/** Every store a test opened, closed at the end even when the test failed before closing it. */
const opened: CheckResultStore[] = [];

async function open(schema: string): Promise<CheckResultStore> {
  const store = await PostgresCheckStore.open(POSTGRES_URL, { schema });
  opened.push(store);
  return store;
}

after(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas();
});

checkStoreConformance('PostgreSQL', {
  async open() {
    const schema = await freshSchema();
    return { store: await open(schema), openAgain: () => open(schema) };
  },
});
