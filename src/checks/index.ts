/** Which store keeps check runs: PostgreSQL with a postgres:// store URL (shared by the nodes), else `<data>/checks.db`. */
import type { StoreLocation } from '../store/index.js';
import { SqliteCheckStore } from './sqlite-store.js';
import type { CheckResultStore } from './store.js';

export async function openCheckStore({ dataDir, storeUrl, schema }: StoreLocation): Promise<CheckResultStore> {
  if (storeUrl !== undefined && storeUrl !== '') return (await import('./postgres-store.js')).PostgresCheckStore.open(storeUrl, { schema });
  if (dataDir === undefined) throw new Error('synthetic checks need a data folder or a postgres:// store URL');
  return new SqliteCheckStore(dataDir);
}
