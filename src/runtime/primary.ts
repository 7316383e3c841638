import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import { resolve as resolvePath } from 'node:path';
import { createAdminServer, type NodeStatus } from '../admin/server.js';
import type { Logger } from '../observability/logger.js';
import { ConfigWatcher, type LoadedConfig } from './config-watcher.js';
import { HealthMonitor, type HealthChange } from './health-monitor.js';
import type { ToPrimary, ToWorker } from './messages.js';
import { mergeSnapshots, type StatsSnapshot } from '../flows/stats.js';
import { openFlowStateStore } from '../store/index.js';
import { ControlPlane } from '../control/plane.js';
import { listen, portOf, storeLocation, type RunningNode } from './single.js';
import { MemoryCounters } from '../ratelimit/counters.js';
import { applyHits } from '../ratelimit/ipc.js';
import { exposition, metrics, snapshot, type MetricsSnapshot } from '../observability/metrics.js';
import { PurgeFanout } from '../cache/purge-fanout.js';
import type { PurgeSpec } from '../cache/store.js';
import { callLogMetrics, openCallLog, type CallLogWriter } from '../calls/writer.js';
import { startChecks } from '../checks/index.js';
import { loopbackUrl, type CheckScheduler } from '../checks/scheduler.js';

export interface ClusterOptions {
  configPath: string;
  /** Reload when the file changes (default true); SIGHUP / `reload()` work either way. */
  watch?: boolean;
  workers: number;
  /** The node's data folder, opened by every worker (and by the primary for the admin API). */
  dataDir?: string;
  /** A postgres:// URL: the control plane and flow state live there, shared by every node. */
  storeUrl?: string;
  /** The PostgreSQL schema (default weir). */
  storeSchema?: string;
  /** The first admin's password when the store has no user yet (else WEIR_ADMIN_PASSWORD, else random). */
  adminPassword?: string;
  host?: string;
  port?: number;
  adminHost?: string;
  adminPort?: number;
  log: Logger;
}

interface WorkerState {
  worker: Worker;
  version: string | null;
  listening: boolean;
  startedAt: number;
  /** The worker's latest observed flow step latencies. */
  flowStats?: StatsSnapshot;
}

/** A scrape answers with the workers that replied within this (a stuck worker must not stall it). */
const SCRAPE_TIMEOUT_MS = 2_000;

/** A worker that dies sooner than this after starting counts towards the crash-loop back-off. */
const HEALTHY_UPTIME_MS = 10_000;

/**
 * The cluster primary: owns the config file, the active health checks and the admin port; forks
 * `workers` data-plane processes that share the traffic port (node:cluster), sends each the
 * config and every health change, replaces any that dies (with back-off if they keep dying) and
 * drains them all on shutdown.
 */
export async function startCluster(options: ClusterOptions): Promise<RunningNode> {
  const { log } = options;
  const states = new Map<number, WorkerState>();
  let shuttingDown = false;
  let quickDeaths = 0;
  let trafficPort = 0;
  const startedAt = Date.now();

  const send = (state: WorkerState, message: ToWorker): void => {
    if (state.worker.isConnected()) state.worker.send(message);
  };
  const broadcast = (message: ToWorker): void => {
    for (const state of states.values()) send(state, message);
  };
  metrics.start('primary');
  // Scrapes in progress: each waits for every worker's snapshot (or gives up on the slow ones).
  const scrapes = new Map<number, { waiting: Set<number>; snapshots: MetricsSnapshot[]; done: () => void }>();
  let nextScrape = 1;
  const scrapeWorkers = (): Promise<MetricsSnapshot[]> =>
    new Promise((resolve) => {
      const id = nextScrape++;
      const scrape = { waiting: new Set<number>(), snapshots: [] as MetricsSnapshot[], done: () => {} };
      const timer = setTimeout(() => scrape.done(), SCRAPE_TIMEOUT_MS);
      scrape.done = () => {
        clearTimeout(timer);
        scrapes.delete(id);
        resolve(scrape.snapshots);
      };
      for (const state of states.values()) {
        if (!state.worker.isConnected()) continue;
        scrape.waiting.add(state.worker.id);
        send(state, { type: 'metrics-request', id });
      }
      scrapes.set(id, scrape);
      if (scrape.waiting.size === 0) scrape.done();
    });
  // The node's rate-limit counters: one place, so counting is exact across the workers.
  const rateLimitCounters = new MemoryCounters();
  // Each worker has its own response-cache memory: a purge goes to all of them.
  const purges = new PurgeFanout();
  const purgeCache = (spec: PurgeSpec) =>
    purges.purge(spec, [...states.values()].filter((s) => s.worker.isConnected()).map((s) => s.worker.id), (worker, id) => {
      const state = states.get(worker);
      if (state !== undefined) send(state, { type: 'cache-purge', id, spec });
    });
  const monitor = new HealthMonitor((change: HealthChange) => broadcast({ type: 'health', changes: [change] }), log);

  // Fixed for the life of the node: listen addresses change only on restart. Always the port as
  // asked for (0 included): node:cluster shares one listening handle per requested address, so a
  // replacement worker asking for the port that 0 resolved to would try to bind it anew.
  let listenOn: { host: string; port: number } | null = null;
  const configMessage = (loaded: LoadedConfig): ToWorker => ({
    type: 'config',
    text: loaded.text,
    source: loaded.config.source,
    listen: (listenOn ??= {
      host: options.host ?? loaded.config.global.listen.host,
      port: options.port ?? loaded.config.global.listen.port,
    }),
  });

  const location = storeLocation(options);
  const control = location === undefined ? undefined : await ControlPlane.open(location, log);
  // The node's one call log writer (opened once the config says where): workers send it their records.
  let calls: CallLogWriter | undefined;
  // Synthetic checks run here, one scheduler per node, against the workers' traffic port.
  let checks: CheckScheduler | undefined;
  const watcher = new ConfigWatcher(
    options.configPath,
    (loaded) => {
      calls?.configure(loaded.config.global.callLog);
      checks?.configure(loaded.config.global.synthetic);
      void checks?.refresh();
      monitor.apply(loaded.config);
      broadcast(configMessage(loaded));
    },
    log,
    control?.resources,
  );
  const initial = await watcher.load();
  await control?.ensureFirstAdmin(options.adminPassword);
  monitor.apply(initial.config);
  calls = await openCallLog(location, initial.config.global.callLog, log);
  if (calls !== undefined) metrics.callLogFrom(callLogMetrics(calls));
  if (control !== undefined) calls?.setOwners((route) => control.routeOwners().get(route));
  if (control !== undefined) {
    checks = await startChecks(location!, control, () => (trafficPort === 0 ? null : loopbackUrl(listenOn?.host ?? initial.config.global.listen.host, trafficPort)), log);
    checks.configure(initial.config.global.synthetic);
  }

  cluster.setupPrimary({ exec: workerEntry(), args: [], silent: false });

  const fork = (): WorkerState => {
    const worker = cluster.fork({
      WEIR_WORKER: '1',
      ...(options.dataDir === undefined ? {} : { WEIR_DATA_DIR: resolvePath(options.dataDir) }),
      ...(options.storeUrl === undefined ? {} : { WEIR_STORE_URL: options.storeUrl }),
      ...(options.storeSchema === undefined ? {} : { WEIR_STORE_SCHEMA: options.storeSchema }),
    });
    const state: WorkerState = { worker, version: null, listening: false, startedAt: Date.now() };
    states.set(worker.id, state);
    worker.on('message', (message: ToPrimary) => onMessage(state, message));
    return state;
  };

  const onMessage = (state: WorkerState, message: ToPrimary): void => {
    switch (message.type) {
      case 'hello': {
        // The worker's message handler is in place (its 'online' event comes too early for that).
        send(state, configMessage(watcher.loaded!));
        const down = monitor.snapshot();
        if (down.length > 0) send(state, { type: 'health', changes: down });
        break;
      }
      case 'listening':
        state.listening = true;
        trafficPort = message.port;
        break;
      case 'applied':
        state.version = message.version;
        break;
      case 'apply-failed':
        log.error({ worker: state.worker.id, version: message.version, message: message.message }, 'a worker could not apply the config');
        break;
      case 'drained':
        break;
      case 'flow-stats':
        state.flowStats = message.snapshot;
        break;
      case 'rate-limit':
        send(state, { type: 'rate-limit', results: applyHits(rateLimitCounters, message.hits) });
        break;
      case 'metrics': {
        const scrape = scrapes.get(message.id);
        if (scrape === undefined || !scrape.waiting.delete(state.worker.id)) break;
        scrape.snapshots.push(message.snapshot);
        if (scrape.waiting.size === 0) scrape.done();
        break;
      }
      case 'cache-purged':
        purges.answered(state.worker.id, message);
        break;
      case 'calls':
        calls?.accept(message.rows, message.dropped);
        break;
    }
  };

  cluster.on('exit', (worker, code, signal) => {
    const state = states.get(worker.id);
    states.delete(worker.id);
    purges.gone(worker.id);
    if (shuttingDown || state === undefined) return;
    const lived = Date.now() - state.startedAt;
    quickDeaths = lived < HEALTHY_UPTIME_MS ? quickDeaths + 1 : 0;
    const delay = Math.min(30_000, quickDeaths <= 1 ? 0 : 100 * 2 ** quickDeaths);
    log.error({ worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delay }, 'worker died; starting a replacement');
    setTimeout(() => {
      if (!shuttingDown) fork();
    }, delay).unref();
  });

  for (let i = 0; i < options.workers; i++) fork();
  await waitFor(() => [...states.values()].every((s) => s.listening && s.version === initial.config.version), 30_000);

  const status = (): NodeStatus => {
    const current = watcher.loaded?.config.version ?? null;
    const workers = [...states.values()].map((s) => ({
      id: s.worker.id,
      pid: s.worker.process.pid,
      configVersion: s.version,
      ready: s.listening && s.version === current,
    }));
    return {
      serving: !shuttingDown && workers.some((w) => w.ready),
      ready: !shuttingDown && workers.length > 0 && workers.every((w) => w.ready),
      configVersion: current,
      configSource: watcher.path,
      workers,
      startedAt,
      ...(control === undefined ? {} : { degraded: control.degraded }),
      ...(calls === undefined ? {} : { callLog: calls.stats() }),
    };
  };
  // The primary reads the same SQLite file as its workers, for the admin API.
  const store = location === undefined ? undefined : await openFlowStateStore(location);
  const flows = () => ({
    flows: watcher.loaded?.config.flows ?? [],
    stats: mergeSnapshots([...states.values()].flatMap((s) => (s.flowStats === undefined ? [] : [s.flowStats]))),
  });
  const api = control === undefined ? undefined : await control.attach(watcher, { flows, state: store, purgeCache, calls, checks });
  const admin = createAdminServer(status, api, async () => exposition([...(await scrapeWorkers()), await snapshot()]));
  await listen(admin, options.adminHost ?? initial.config.global.admin.host, options.adminPort ?? initial.config.global.admin.port);
  if (options.watch !== false) watcher.watch();
  void checks?.start();
  log.info({ port: trafficPort, adminPort: portOf(admin), workers: options.workers, version: initial.config.version }, 'weir is serving');

  return {
    port: trafficPort,
    adminPort: portOf(admin),
    status,
    reload: () => watcher.reload('reload requested'),
    async close() {
      shuttingDown = true;
      await checks?.close();
      watcher.stop();
      monitor.stop();
      const drainMs = watcher.loaded?.config.global.shutdown.drainTimeoutMs ?? 10_000;
      // A worker's last call records are in its IPC channel until it disconnects: wait for both.
      const exits = [...states.values()].flatMap((s) => [
        new Promise<void>((resolve) => {
          if (s.worker.isDead()) return resolve();
          s.worker.once('exit', () => resolve());
        }),
        new Promise<void>((resolve) => {
          if (!s.worker.isConnected()) return resolve();
          s.worker.once('disconnect', () => resolve());
        }),
      ]);
      broadcast({ type: 'shutdown' });
      // Workers cut their connections at drainMs; past that plus a margin, they are stuck.
      const killer = setTimeout(() => {
        for (const s of states.values()) s.worker.process.kill('SIGKILL');
      }, drainMs + 5_000);
      await Promise.all(exits);
      clearTimeout(killer);
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      await calls?.close();
      await store?.close();
      await control?.close();
      await rateLimitCounters.close();
      return true;
    },
  };
}

function workerEntry(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/primary\.(ts|js)$/, 'worker-main.$1');
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('workers did not become ready in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
