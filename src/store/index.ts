/**
 * Which store holds flow state and the control plane: PostgreSQL when a `postgres://` (or
 * `postgresql://`) URL is given, shared by every node; otherwise the SQLite file in the data
 * folder, shared by the processes of one node.
 */
import type { ConfigStore } from './config-store.js';
import type { FlowStateStore } from './flow-state.js';
import { SqliteConfigStore } from './sqlite-config-store.js';
import { SqliteFlowState } from './sqlite-flow-state.js';
import { redactCredentials } from '../masking/credentials.js';

export type { ConfigStore } from './config-store.js';
export type { FlowStateStore } from './flow-state.js';

// The PostgreSQL stores (and pg) are loaded only when a postgres:// URL is given: every worker
// imports this module, and most nodes never need them.

/** A store that hears other nodes' writes as they commit (PostgreSQL's LISTEN/NOTIFY). */
export interface RevisionSource {
  onRevision(listener: (revision: number) => void): Promise<() => Promise<void>>;
}

export function hasRevisionSource(store: ConfigStore): store is ConfigStore & RevisionSource {
  return typeof (store as Partial<RevisionSource>).onRevision === 'function';
}

function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url);
}

export interface StoreLocation {
  /** The data folder (`weir.db`), used without a PostgreSQL URL. */
  dataDir?: string;
  /** `postgres://…` or `postgresql://…`. */
  storeUrl?: string;
  /** The PostgreSQL schema (default `weir`). */
  schema?: string;
}

export async function openFlowStateStore({ dataDir, storeUrl, schema }: StoreLocation): Promise<FlowStateStore> {
  const url = postgresUrl(storeUrl);
  if (url !== undefined) return (await import('./postgres-flow-state.js')).PostgresFlowState.open(url, { schema });
  if (dataDir === undefined) throw new Error('flow state needs a data folder or a postgres:// store URL');
  return new SqliteFlowState(dataDir);
}

/**
 * The control plane's store. A PostgreSQL one is a `PostgresConfigStore`, which can also tell
 * of other nodes' writes as they commit (`onRevision`).
 */
export async function openConfigStore({ dataDir, storeUrl, schema }: StoreLocation): Promise<ConfigStore> {
  const url = postgresUrl(storeUrl);
  if (url !== undefined) return (await import('./postgres-config-store.js')).PostgresConfigStore.open(url, { schema });
  if (dataDir === undefined) throw new Error('the control plane store needs a data folder or a postgres:// store URL');
  return new SqliteConfigStore(dataDir);
}

/** The store URL when one is given (refused unless it is PostgreSQL's); undefined for none. */
function postgresUrl(storeUrl: string | undefined): string | undefined {
  if (storeUrl === undefined || storeUrl === '') return undefined;
  if (!isPostgresUrl(storeUrl)) throw new Error(`store URL "${redactCredentials(storeUrl)}": only postgres:// or postgresql:// URLs are supported (without one, state is kept under the data folder)`);
  return storeUrl;
}
