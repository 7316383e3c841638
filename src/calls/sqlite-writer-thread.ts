/**
 * The thread that writes `calls.db` (see ThreadedSqliteCallStore): better-sqlite3 is
 * synchronous, so a batch's transaction — and any wait for the file's write lock — happens here,
 * never on the event loop of the process that also answers the workers (rate-limit counters) and
 * the admin port.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SqliteCallStore } from './sqlite-call-store.js';
import type { Rollup } from './record.js';
import type { CallValues, Resolution, RetentionPolicy } from './store.js';

export type WriterRequest =
  | { id: number; op: 'insert'; rows: CallValues[] }
  | { id: number; op: 'rollups'; rollups: Rollup[]; resolution: Resolution }
  | { id: number; op: 'prune'; policy: RetentionPolicy }
  | { id: number; op: 'close' };

export type WriterReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: string };

const store = new SqliteCallStore((workerData as { dataDir: string }).dataDir);

parentPort!.on('message', (request: WriterRequest) => {
  const run = async (): Promise<unknown> => {
    if (request.op === 'insert') return store.insert(request.rows);
    if (request.op === 'rollups') return store.addRollups(request.rollups, request.resolution);
    if (request.op === 'prune') return store.prune(request.policy);
    await store.close();
    return undefined;
  };
  run().then(
    (result) => parentPort!.postMessage({ id: request.id, ok: true, result } satisfies WriterReply),
    (err: unknown) => parentPort!.postMessage({ id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WriterReply),
  );
});
