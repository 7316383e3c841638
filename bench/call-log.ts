/**
 * What one call log record costs to write, by where it is written (see docs/ARCHITECTURE.md,
 * "Call log"): straight into calls.db (what a worker writing the file itself would pay on its
 * event loop), posted to the writer thread, and sent over IPC to another process (what a
 * cluster worker pays: it hands its batches to the primary). Batches of BATCH records.
 *
 *   node --import tsx bench/call-log.ts            # RECORDS=200000 BATCH=500
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteCallStore, ThreadedSqliteCallStore } from '../src/calls/sqlite-call-store.js';
import type { CallRecord } from '../src/calls/record.js';

const RECORDS = Number(process.env['RECORDS'] ?? 200_000);
const BATCH = Number(process.env['BATCH'] ?? 500);

function record(i: number): CallRecord {
  return {
    id: `${Math.random().toString(36).slice(2)}-${i}`, at: Date.now(), node: 'bench', worker: 1, team: 't', api: 'shop', apiVersion: 'v1',
    route: `route-${i % 20}`, kind: 'proxy', consumer: `c${i % 50}`, clientIp: '127.0.0.1', method: 'GET', path: `/items/${i}`, status: i % 10 === 0 ? 500 : 200,
    errorCode: null, bytesIn: 0, bytesOut: 38, durationMs: (i % 97) / 3, gatewayMs: 0.2, upstreamMs: (i % 97) / 3 - 0.2, targets: ['http://127.0.0.1:9001'],
    attempts: 1, retries: 0, cache: null, steps: null, traceId: null,
  };
}

if (process.argv[2] === 'receiver') {
  let seen = 0;
  process.on('message', (m: { records: unknown[] }) => {
    seen += m.records.length;
    if (seen >= RECORDS) process.send!('done');
  });
} else {
  const batch = Array.from({ length: BATCH }, (_, i) => record(i));
  const rounds = Math.ceil(RECORDS / BATCH);
  const perRecord = (start: number) => `${(((performance.now() - start) / (rounds * BATCH)) * 1000).toFixed(2)} µs/record`;
  const dir = mkdtempSync(join(tmpdir(), 'weir-bench-calls-'));

  const direct = new SqliteCallStore(join(dir, 'direct'));
  let t = performance.now();
  for (let i = 0; i < rounds; i++) await direct.insert(batch);
  console.log(`calls.db, written on this thread:        ${perRecord(t)} (all of it on the event loop)`);
  await direct.close();

  const threaded = new ThreadedSqliteCallStore(join(dir, 'threaded'));
  t = performance.now();
  const posted: Promise<void>[] = [];
  for (let i = 0; i < rounds; i++) posted.push(threaded.insert(batch));
  console.log(`calls.db via the writer thread, posting: ${perRecord(t)} (on the event loop)`);
  await Promise.all(posted);
  console.log(`                               written:  ${perRecord(t)} (until the thread is done)`);
  await threaded.close();

  const receiver = fork(fileURLToPath(import.meta.url), ['receiver'], { execArgv: process.execArgv, env: { ...process.env, RECORDS: String(rounds * BATCH) } });
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const done = new Promise((resolve) => receiver.once('message', resolve));
  t = performance.now();
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => receiver.send({ type: 'calls', records: batch, dropped: 0 }, () => resolve()));
  console.log(`IPC to another process, sending:         ${perRecord(t)} (on the sender's event loop)`);
  await done;
  receiver.kill();
  rmSync(dir, { recursive: true, force: true });
}
