import type { AddressInfo } from 'node:net';
import { exposition, metrics, snapshot } from '../observability/metrics.js';
import type { Server } from 'node:http';
import { createAdminServer, type NodeStatus } from '../admin/server.js';
import type { Config } from '../config/types.js';
import type { PurgeSpec } from '../cache/store.js';
import { Gateway } from '../dataplane/gateway.js';
import { createTrafficServer } from '../dataplane/server.js';
import type { Logger } from '../observability/logger.js';
import { ConfigWatcher, type LoadedConfig } from './config-watcher.js';
import { drainServer } from './drain.js';
import { HealthMonitor } from './health-monitor.js';
import { openFlowStateStore, type StoreLocation } from '../store/index.js';
import { ControlPlane } from '../control/plane.js';
import { rateLimits } from '../ratelimit/runtime.js';
import { responseCache } from '../cache/runtime.js';
import { tracing } from '../observability/tracing.js';
import { callLogMetrics, openCallLog, type CallLogWriter } from '../calls/writer.js';
import { callRecorder } from '../calls/recorder.js';
import { startChecks } from '../checks/index.js';
import { loopbackUrl } from '../checks/scheduler.js';

export interface NodeOptions {
  /** The config file; watched for changes unless `watch` is false. */
  configPath?: string;
  /** Reload when the file changes (default true); SIGHUP / `reload()` work either way. */
  watch?: boolean;
  /** Or a config given directly (tests, embedding); `reload` then does nothing. */
  config?: Config;
  host?: string;
  port?: number;
  adminHost?: string;
  adminPort?: number;
  /** Where the node keeps state (its SQLite file); without it (and without storeUrl), the admin API, Idempotency-Key and async flows are off. */
  dataDir?: string;
  /** A postgres:// URL: the control plane and flow state live there, shared by every node. */
  storeUrl?: string;
  /** The PostgreSQL schema (default weir). */
  storeSchema?: string;
  /** The first admin's password when the store has no user yet (else WEIR_ADMIN_PASSWORD, else random). */
  adminPassword?: string;
  log: Logger;
}

/** A running Weir node, whatever its process model. */
export interface RunningNode {
  readonly port: number;
  readonly adminPort: number;
  status(): NodeStatus;
  /** Re-reads the config file now (what SIGHUP does). */
  reload(): Promise<void>;
  /** Graceful shutdown: drain, then close. Resolves true when the drain finished in time. */
  close(): Promise<boolean>;
}

/**
 * Weir in one process (`--workers 0`): config watcher, health monitor, data plane and admin
 * port side by side. Tests use it; so does anyone who embeds Weir or runs one container per core.
 */
export async function startSingleProcess(options: NodeOptions): Promise<RunningNode & { gateway: Gateway; calls: CallLogWriter | undefined }> {
  const { log } = options;
  const location = storeLocation(options);
  const state = location === undefined ? undefined : await openFlowStateStore(location);
  // The call log's writer opens once the config says where (global.callLog.store).
  let calls: CallLogWriter | undefined;
  const gateway = new Gateway({ log, state, calls: location === undefined ? undefined : callRecorder((record) => calls?.record(record), 0) });
  const monitor = new HealthMonitor((c) => gateway.setTargetHealth(c.service, c.target, c.healthy), log);
  metrics.start('0');
  metrics.scrapeFrom(gateway);
  const apply = (config: Config): void => {
    calls?.configure(config.global.callLog);
    if (control !== undefined) calls?.setOwners((route) => control.routeOwners().get(route));
    rateLimits.configure(config.global.rateLimits, log);
    metrics.setEnabled(config.global.metrics.enabled);
    responseCache.configure(config.global.cache, log);
    tracing.configure(config.global.tracing, log);
    gateway.apply(config);
    monitor.apply(config);
    checks?.configure(config.global.synthetic);
    void checks?.refresh();
  };
  const control = location === undefined ? undefined : await ControlPlane.open(location, log);
  let trafficUrl: string | null = null;
  const checks = control === undefined ? undefined : await startChecks(location!, control, () => trafficUrl, log);
  let watcher: ConfigWatcher | null = null;
  let config: Config;
  if (options.configPath !== undefined) {
    watcher = new ConfigWatcher(options.configPath, (loaded: LoadedConfig) => apply(loaded.config), log, control?.resources);
    config = (await watcher.load()).config;
  } else if (options.config !== undefined) {
    config = options.config;
  } else {
    throw new Error('startSingleProcess needs configPath or config');
  }
  await control?.ensureFirstAdmin(options.adminPassword);
  calls = await openCallLog(location, config.global.callLog, log);
  if (calls !== undefined) metrics.callLogFrom(callLogMetrics(calls));
  apply(config);

  const startedAt = Date.now();
  let draining = false;
  const traffic = createTrafficServer(gateway, config.global.limits, log);
  const status = (): NodeStatus => ({
    serving: gateway.version !== null && !draining,
    ready: gateway.version !== null && !draining,
    configVersion: gateway.version,
    configSource: watcher?.path ?? config.source,
    workers: [{ id: 0, pid: process.pid, configVersion: gateway.version, ready: !draining }],
    startedAt,
    ...(calls === undefined ? {} : { callLog: calls.stats() }),
    ...(control === undefined ? {} : { degraded: control.degraded }),
  });
  const purgeCache = async (spec: PurgeSpec) => ({ processes: 1, ...(await responseCache.purge(spec)) });
  const runtime = { flows: () => ({ flows: gateway.flows, stats: gateway.stats.snapshot() }), state, purgeCache, calls, checks };
  const api = control !== undefined && watcher !== null ? await control.attach(watcher, runtime) : undefined;
  const admin = createAdminServer(status, api, async () => exposition([await snapshot()]));
  await rateLimits.beforeServing();
  await tracing.beforeServing();
  await listen(traffic, options.host ?? config.global.listen.host, options.port ?? config.global.listen.port);
  trafficUrl = loopbackUrl(options.host ?? config.global.listen.host, portOf(traffic));
  await listen(admin, options.adminHost ?? config.global.admin.host, options.adminPort ?? config.global.admin.port);
  if (options.watch !== false) watcher?.watch();
  void checks?.start();
  log.info({ port: portOf(traffic), adminPort: portOf(admin), version: config.version }, 'weir is serving');

  return {
    gateway,
    calls,
    port: portOf(traffic),
    adminPort: portOf(admin),
    status,
    reload: () => watcher?.reload('reload requested') ?? Promise.resolve(),
    async close() {
      draining = true;
      await checks?.close();
      watcher?.stop();
      monitor.stop();
      const inTime = await drainServer(traffic, gateway, config.global.shutdown.drainTimeoutMs);
      await new Promise<void>((resolve) => admin.close(() => resolve()));
      await calls?.close();
      await state?.close();
      await control?.close();
      await rateLimits.close();
      await responseCache.close();
      await tracing.close();
      return inTime;
    },
  };
}

/** Where a node's state is, if anywhere: PostgreSQL when a store URL is given, else the data folder. */
export function storeLocation(options: { dataDir?: string; storeUrl?: string; storeSchema?: string }): StoreLocation | undefined {
  if (options.storeUrl === undefined && options.dataDir === undefined) return undefined;
  return { dataDir: options.dataDir, storeUrl: options.storeUrl, schema: options.storeSchema };
}

export function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
