/** Which store keeps check runs: PostgreSQL with a postgres:// store URL (shared by the nodes), else `<data>/checks.db`. */
import type { StoreLocation } from '../store/index.js';
import type { ControlPlane } from '../control/plane.js';
import type { Logger } from '../observability/logger.js';
import { CheckScheduler } from './scheduler.js';
import { checkDefinitions } from './spec.js';
import { SqliteCheckStore } from './sqlite-store.js';
import type { CheckResultStore } from './store.js';

export async function openCheckStore({ dataDir, storeUrl, schema }: StoreLocation): Promise<CheckResultStore> {
  if (storeUrl !== undefined && storeUrl !== '') return (await import('./postgres-store.js')).PostgresCheckStore.open(storeUrl, { schema });
  if (dataDir === undefined) throw new Error('synthetic checks need a data folder or a postgres:// store URL');
  return new SqliteCheckStore(dataDir);
}

/** The node's check scheduler over its store and control plane; `start()` it once the traffic port listens. */
export async function startChecks(location: StoreLocation, control: ControlPlane, trafficUrl: () => string | null, log: Logger): Promise<CheckScheduler> {
  const store = await openCheckStore(location);
  return new CheckScheduler(store, async () => checkDefinitions(await control.store.allResources(), control.resolve), trafficUrl, log);
}
