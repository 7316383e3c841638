/**
 * Which store holds flow state: PostgreSQL when a `postgres://` (or `postgresql://`) URL is
 * given, shared by every node; otherwise the SQLite file in the data folder, shared by the
 * processes of one node.
 */
import type { FlowStateStore } from './flow-state.js';
import { isPostgresUrl } from './postgres.js';
import { PostgresFlowState } from './postgres-flow-state.js';
import { SqliteFlowState } from './sqlite-flow-state.js';

export type { FlowStateStore } from './flow-state.js';

export interface StoreLocation {
  /** The data folder (`weir.db`), used without a PostgreSQL URL. */
  dataDir?: string;
  /** `postgres://…` or `postgresql://…`. */
  storeUrl?: string;
  /** The PostgreSQL schema (default `weir`). */
  schema?: string;
}

export async function openFlowStateStore({ dataDir, storeUrl, schema }: StoreLocation): Promise<FlowStateStore> {
  if (storeUrl !== undefined && storeUrl !== '') {
    if (!isPostgresUrl(storeUrl)) throw new Error(`store URL "${redact(storeUrl)}": only postgres:// or postgresql:// URLs are supported (without one, state is kept under the data folder)`);
    return PostgresFlowState.open(storeUrl, { schema });
  }
  if (dataDir === undefined) throw new Error('flow state needs a data folder or a postgres:// store URL');
  return new SqliteFlowState(dataDir);
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}
