/**
 * What one call log record costs to write, by where it is written (see docs/ARCHITECTURE.md,
 * "Call log"): straight into calls.db (what a worker writing the file itself would pay on its
 * event loop), posted to the writer thread, and sent over IPC to another process (what a
 * cluster worker pays: it hands its batches to the primary). Batches of BATCH records.
 *
 *   node --import tsx bench/call-log.ts            # RECORDS=200000 BATCH=500
 *   IDS=random node --import tsx bench/call-log.ts # client-sent random (v4) request ids
 */
import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteCallStore, ThreadedSqliteCallStore } from '../src/calls/sqlite-call-store.js';
import type { CallRecord } from '../src/calls/record.js';
import { rowValues } from '../src/calls/store.js';
import { uuidV7 } from '../src/dataplane/proxy/headers.js';

const RECORDS = Number(process.env['RECORDS'] ?? 200_000);
const BATCH = Number(process.env['BATCH'] ?? 500);
/** Random (v4) request ids, as clients may send, instead of the time-ordered v7 ids Weir makes. */
const RANDOM_IDS = process.env['IDS'] === 'random';

function record(i: number): CallRecord {
  return {
    id: RANDOM_IDS ? randomUUID() : uuidV7(), at: Date.now(), node: 'bench', worker: 1, team: 't', api: 'shop', apiVersion: 'v1',
    route: `route-${i % 20}`, kind: 'proxy', consumer: `c${i % 50}`, clientIp: '127.0.0.1', method: 'GET', path: `/items/${i}`, status: i % 10 === 0 ? 500 : 200,
    errorCode: null, bytesIn: 0, bytesOut: 38, durationMs: (i % 97) / 3, gatewayMs: 0.2, upstreamMs: (i % 97) / 3 - 0.2, targets: ['http://127.0.0.1:9001'],
    attempts: 1, retries: 0, cache: null, steps: null, traceId: null,
  };
}

if (process.argv[2] === 'receiver') {
  let seen = 0;
  process.on('message', (m: { rows: unknown[] }) => {
    seen += m.rows.length;
    if (seen >= RECORDS) process.send!('done');
  });
} else {
  const rounds = Math.ceil(RECORDS / BATCH);
  // Fresh ids in every batch, made before the clock starts: re-inserting the same ids would keep
  // the id index's working set small and hide what a real stream of ids costs.
  const batches = () => Array.from({ length: rounds }, (_, r) => Array.from({ length: BATCH }, (_, i) => rowValues(record(r * BATCH + i))));
  const batch = batches()[0]!;
  const perRecord = (start: number) => `${(((performance.now() - start) / (rounds * BATCH)) * 1000).toFixed(2)} µs/record`;
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-calls-'));

  const direct = new SqliteCallStore(join(dir, 'direct'));
  let input = batches();
  let t = performance.now();
  for (const b of input) await direct.insert(b);
  console.log(`calls.db, written on this thread:        ${perRecord(t)} (all of it on the event loop)`);
  await direct.close();

  const threaded = new ThreadedSqliteCallStore(join(dir, 'threaded'));
  input = batches();
  t = performance.now();
  const posted: Promise<void>[] = [];
  for (const b of input) posted.push(threaded.insert(b));
  console.log(`calls.db via the writer thread, posting: ${perRecord(t)} (on the event loop)`);
  await Promise.all(posted);
  console.log(`                               written:  ${perRecord(t)} (until the thread is done)`);
  await threaded.close();

  const receiver = fork(fileURLToPath(import.meta.url), ['receiver'], { execArgv: process.execArgv, env: { ...process.env, RECORDS: String(rounds * BATCH) } });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const done = new Promise((resolve) => receiver.once('message', resolve));
  t = performance.now();
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => receiver.send({ type: 'calls', rows: batch, dropped: 0 }, () => resolve()));
  console.log(`IPC to another process, sending:         ${perRecord(t)} (on the sender's event loop)`);
  await done;
  receiver.kill();
  rmSync(dir, { recursive: true, force: true });
}
