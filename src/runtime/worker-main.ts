import cluster from 'node:cluster';
import { metrics, snapshot } from '../observability/metrics.js';
import type { Server } from 'node:http';
import { parseConfig } from '../config/load.js';
import { Gateway } from '../dataplane/gateway.js';
import { createTrafficServer } from '../dataplane/server.js';
import { createLogger, flushLogger } from '../observability/logger.js';
import { drainServer } from './drain.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { listen, portOf, storeLocation } from './single.js';
import { openFlowStateStore } from '../store/index.js';
import { IpcCounters } from '../ratelimit/ipc.js';
import { rateLimits, useNodeCounters } from '../ratelimit/runtime.js';
import { responseCache } from '../cache/runtime.js';
import { CallQueue } from '../calls/queue.js';
import { callRecorder } from '../calls/recorder.js';
import { rowValues } from '../calls/store.js';
import { DEFAULTS } from '../config/normalize.js';
import { tracing } from '../observability/tracing.js';

/**
 * A cluster worker: one data plane. It gets its config (as text, parsed here) and health changes
 * from the primary, serves the shared traffic port, and drains when told to stop, when the
 * primary goes away, or on SIGTERM/SIGINT.
 */
const log = createLogger({ base: { worker: cluster.worker?.id } });
// The primary names the node's data folder; every worker opens the same SQLite file (WAL mode).
const location = storeLocation({ dataDir: process.env['WEIR_DATA_DIR'], storeUrl: process.env['WEIR_STORE_URL'], storeSchema: process.env['WEIR_STORE_SCHEMA'] });
const state = location === undefined ? undefined : await openFlowStateStore(location);
// Call log records go to the primary, which owns the node's one writer, in batches.
let reportedDrops = 0;
const calls = new CallQueue(
  (records) =>
    new Promise<void>((resolve, reject) => {
      if (!process.connected) return reject(new Error('the primary is gone'));
      const dropped = calls.snapshot().dropped;
      process.send!({ type: 'calls', rows: records.map(rowValues), dropped: dropped - reportedDrops } satisfies ToPrimary, undefined, {}, (err) => (err ? reject(err) : resolve()));
      reportedDrops = dropped;
    }),
  log,
  DEFAULTS.callLog,
  `worker ${cluster.worker?.id ?? 0}`,
);
const gateway = new Gateway({ log, state, calls: location === undefined ? undefined : callRecorder((record) => calls.push(record), cluster.worker?.id ?? 0) });
// The node's rate-limit counters live in the primary; hits go there in batches.
const rateLimitIpc = new IpcCounters((hits) => {
  if (!process.connected) return false;
  process.send!({ type: 'rate-limit', hits } satisfies ToPrimary);
  return true;
});
useNodeCounters(rateLimitIpc);
metrics.start(`worker-${cluster.worker?.id ?? process.pid}`);
metrics.scrapeFrom(gateway);
metrics.callLogFrom({ queued: () => calls.snapshot().queued });
let server: Server | null = null;
let drainMs = 10_000;
let stopping = false;

function tell(message: ToPrimary): void {
  if (process.connected) process.send!(message);
}

async function onConfig(message: Extract<ToWorker, { type: 'config' }>): Promise<void> {
  const result = parseConfig(message.text, message.source);
  if (!result.ok) {
    // The primary validated this text; failing here means the versions diverged.
    tell({ type: 'apply-failed', version: '', message: result.issues.map((i) => i.message).join('; ') });
    return;
  }
  const config = result.config;
  rateLimits.configure(config.global.rateLimits, log);
  metrics.setEnabled(config.global.metrics.enabled);
  responseCache.configure(config.global.cache, log);
  tracing.configure(config.global.tracing, log);
  calls.configure(config.global.callLog);
  gateway.apply(config);
  drainMs = config.global.shutdown.drainTimeoutMs;
  if (server === null) {
    await rateLimits.beforeServing();
    await tracing.beforeServing();
    server = createTrafficServer(gateway, config.global.limits, log);
    await listen(server, message.listen.host, message.listen.port);
    tell({ type: 'listening', port: portOf(server) });
  }
  tell({ type: 'applied', version: config.version });
}

async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ reason }, 'worker draining');
  const inTime = server === null ? true : await drainServer(server, gateway, drainMs);
  if (!inTime) log.warn({ drainTimeoutMs: drainMs }, 'drain timed out; open connections were closed');
  // Every request has ended: its record goes to the primary before the worker says it drained.
  await calls.flush();
  await state?.close();
  await rateLimits.close();
  await responseCache.close();
  // Every worker exports its own spans: what is still batched goes out before the worker exits.
  await tracing.close();
  tell({ type: 'drained' });
  flushLogger(log);
  // Let the asynchronous log writer finish before exiting.
  setTimeout(() => process.exit(0), 20);
}

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'config':
      onConfig(message).catch((err: unknown) => {
        log.fatal({ err }, 'worker failed to start serving');
        process.exit(1);
      });
      break;
    case 'health':
      for (const c of message.changes) gateway.setTargetHealth(c.service, c.target, c.healthy);
      break;
    case 'shutdown':
      void stop('shutdown requested');
      break;
    case 'rate-limit':
      rateLimitIpc.receive(message.results);
      break;
    case 'metrics-request':
      snapshot().then(
        (metricsSnapshot) => tell({ type: 'metrics', id: message.id, snapshot: metricsSnapshot }),
        (err: unknown) => log.error({ err }, 'collecting metrics failed'),
      );
      break;
    case 'cache-purge':
      responseCache.purge(message.spec).then(
        (removed) => tell({ type: 'cache-purged', id: message.id, ...removed }),
        (err: Error) => tell({ type: 'cache-purged', id: message.id, memory: 0, redis: 0, error: err.message }),
      );
      break;
  }
});
process.on('disconnect', () => {
  rateLimitIpc.abandon();
  void stop('primary went away');
});
// Observed step latencies go to the primary, which serves explain on the admin port.
setInterval(() => {
  if (gateway.stats.takeChanged()) tell({ type: 'flow-stats', snapshot: gateway.stats.snapshot() });
}, 2_000).unref();
// Only now can messages be received: anything sent before this line would have been lost.
tell({ type: 'hello' });
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
