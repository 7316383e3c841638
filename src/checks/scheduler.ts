/**
 * Runs the synthetic checks of the store on their intervals, in the node's primary (or its single
 * process): one timer per check, each run a real request to the node's own traffic port. Runs are
 * recorded in the check store and in the primary's metrics. With PostgreSQL several nodes see the
 * same checks: before each run a node takes (or renews) the check's lease, so one node runs it;
 * when that node stops, another takes over once the lease has run out (two intervals).
 */
import { hostname } from 'node:os';
import { Agent } from 'undici';
import type { SyntheticSettings } from '../config/types.js';
import { DEFAULTS } from '../config/normalize.js';
import type { Logger } from '../observability/logger.js';
import { metrics } from '../observability/metrics.js';
import { runCheck } from './run.js';
import type { CheckDefinition } from './spec.js';
import type { CheckResultStore, CheckRun } from './store.js';

const PRUNE_EVERY_MS = 60_000;

interface Scheduled {
  def: CheckDefinition;
  timer: NodeJS.Timeout | null;
  running: Promise<CheckRun | null> | null;
}

export class CheckScheduler {
  private readonly checks = new Map<string, Scheduled>();
  private settings: SyntheticSettings = DEFAULTS.synthetic;
  private readonly agent = new Agent({ keepAliveTimeout: 4_000, connections: 16 });
  private readonly node = hostname();
  private readonly pruneTimer: NodeJS.Timeout;
  private refreshing: Promise<void> = Promise.resolve();
  private closed = false;
  private started = false;

  constructor(
    readonly store: CheckResultStore,
    /** The checks of the store, secrets filled in. */
    private readonly source: () => Promise<CheckDefinition[]>,
    /** `http://host:port` of this node's traffic port; null until it listens. */
    private readonly baseUrl: () => string | null,
    private readonly log: Logger,
  ) {
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
  }

  configure(settings: SyntheticSettings): void {
    this.settings = settings;
  }

  get minIntervalMs(): number {
    return this.settings.minIntervalMs;
  }

  /** Re-reads the checks: new ones start, changed ones restart, deleted ones stop. Calls queue up. */
  refresh(): Promise<void> {
    this.refreshing = this.refreshing.then(() => this.reload()).catch((err: unknown) => this.log.error({ err }, 'synthetic checks could not be read; keeping the last ones'));
    return this.refreshing;
  }

  /** Starts running checks (once the traffic port listens). */
  start(): Promise<void> {
    this.started = true;
    return this.refresh();
  }

  private async reload(): Promise<void> {
    if (this.closed || !this.started) return;
    const defs = new Map((await this.source()).map((d) => [d.name, d]));
    for (const [name, scheduled] of this.checks) {
      const next = defs.get(name);
      if (next !== undefined && sameDefinition(next, scheduled.def)) continue;
      if (scheduled.timer !== null) clearTimeout(scheduled.timer);
      this.checks.delete(name);
      if (next === undefined) metrics.syntheticForget(name);
    }
    for (const def of defs.values()) {
      if (this.checks.has(def.name)) continue;
      const scheduled: Scheduled = { def, timer: null, running: null };
      this.checks.set(def.name, scheduled);
      if (def.enabled) this.schedule(scheduled, 0);
    }
  }

  /** The check's definition as last read, if it is one of this node's. */
  definition(name: string): CheckDefinition | undefined {
    return this.checks.get(name)?.def;
  }

  private schedule(scheduled: Scheduled, delayMs: number): void {
    scheduled.timer = setTimeout(() => void this.tick(scheduled), delayMs);
    scheduled.timer.unref();
  }

  private async tick(scheduled: Scheduled): Promise<void> {
    const started = Date.now();
    const interval = Math.max(scheduled.def.intervalMs, this.settings.minIntervalMs);
    try {
      if (scheduled.running === null && (await this.store.claim(scheduled.def.name, this.holder(), started + 2 * interval + scheduled.def.timeoutMs, started))) {
        await this.run(scheduled.def, scheduled);
      }
    } catch (err) {
      this.log.error({ err, check: scheduled.def.name }, 'a synthetic check could not run');
    }
    // Stopped or replaced meanwhile: the replacement has its own timer.
    if (this.closed || this.checks.get(scheduled.def.name) !== scheduled) return;
    this.schedule(scheduled, Math.max(0, started + interval - Date.now()));
  }

  /** This node as runs and leases name it: host and traffic port, stable across restarts. */
  private holder(): string {
    const base = this.baseUrl();
    return base === null ? this.node : `${this.node}:${new URL(base).port}`;
  }

  /** Runs a check now (lease or not) and records the run; null when the traffic port is not up yet. */
  async runNow(def: CheckDefinition): Promise<CheckRun | null> {
    return this.run(def, this.checks.get(def.name));
  }

  private async run(def: CheckDefinition, scheduled: Scheduled | undefined): Promise<CheckRun | null> {
    const base = this.baseUrl();
    if (base === null) return null;
    const running = (async () => {
      const run = await runCheck(def, base, this.agent, this.holder());
      await this.store.insert(run);
      metrics.syntheticRun(def.name, run.ok, run.latencyMs);
      if (!run.ok) this.log.warn({ check: def.name, reason: run.reason, detail: run.detail, status: run.status }, 'synthetic check failed');
      return run;
    })();
    if (scheduled !== undefined) scheduled.running = running;
    try {
      return await running;
    } finally {
      if (scheduled !== undefined && scheduled.running === running) scheduled.running = null;
    }
  }

  private async prune(): Promise<void> {
    try {
      await this.store.prune(Date.now() - this.settings.retentionMs);
    } catch (err) {
      this.log.error({ err }, 'old synthetic check runs could not be deleted');
    }
  }

  /** Stops the timers, waits for runs in flight, and closes the store. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.pruneTimer);
    await this.refreshing;
    for (const scheduled of this.checks.values()) if (scheduled.timer !== null) clearTimeout(scheduled.timer);
    await Promise.allSettled([...this.checks.values()].map((s) => s.running));
    await this.agent.close();
    await this.store.close();
  }
}

function sameDefinition(a: CheckDefinition, b: CheckDefinition): boolean {
  return a.version === b.version && a.team === b.team && JSON.stringify(a.headers) === JSON.stringify(b.headers);
}

/** `http://…` for reaching a server listening on `host:port` from this machine (a wildcard address means loopback). */
export function loopbackUrl(host: string, port: number): string {
  const name = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}
