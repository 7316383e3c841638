import { after } from 'node:test';
import { dropSchemas, freshSchema, POSTGRES_URL } from '../../test/support/postgres.js';
import { callStoreConformance } from './call-store.conformance.js';
import type { CallStore } from './store.js';
import { PostgresCallStore } from './postgres-call-store.js';

const opened: CallStore[] = [];

after(async () => {
  await Promise.all(opened.map((store) => store.close()));
  await dropSchemas();
});

callStoreConformance('PostgreSQL', {
  async open() {
    const store = await PostgresCallStore.open(POSTGRES_URL, { schema: await freshSchema() });
    opened.push(store);
    return store;
  },
});
