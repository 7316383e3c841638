/**
 * The node's one call log writer (in the cluster primary, or the single process): records from
 * this process and from the workers (over IPC) go into one bounded queue, are stamped with who
 * owns their route, and are written in batches; retention runs in the background in small
 * deletes. Workers never touch the store: see docs/ARCHITECTURE.md ("Call log") for why.
 */
import type { CallLogSettings } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { CallLogSources } from '../observability/metrics.js';
import type { StoreLocation } from '../store/index.js';
import { CallQueue } from './queue.js';
import type { CallRecord } from './record.js';
import { COLUMN, rowValues, type CallStore, type CallValues } from './store.js';
import { ThreadedSqliteCallStore } from './sqlite-call-store.js';

/** Who owns a route: its team, and the API (and version) that serves it, if any. */
export interface RouteOwner {
  team: string | null;
  api: string | null;
  apiVersion: string | null;
}

export type OwnerLookup = (route: string) => RouteOwner | undefined;

export interface CallLogStats {
  /** Where records go: sqlite (calls.db) or postgres. */
  store: 'sqlite' | 'postgres';
  /** Waiting in the writer's queue. */
  queued: number;
  written: number;
  /** Refused because a queue (the writer's or a worker's) was full. */
  dropped: number;
  /** Lost because the store refused their batch. */
  failed: number;
  /** Records deleted by retention since the node started. */
  pruned: number;
}

/** How often retention runs, and how many rows one DELETE may take. */
const PRUNE_EVERY_MS = 60_000;
const PRUNE_CHUNK = 1_000;

export class CallLogWriter {
  private readonly queue: CallQueue<CallValues>;
  private settings: CallLogSettings;
  private owners: OwnerLookup = () => undefined;
  private pruneTimer: NodeJS.Timeout | null = null;
  private pruning: Promise<unknown> | null = null;
  private pruned = 0;
  private closed = false;

  constructor(
    readonly store: CallStore,
    readonly kind: 'sqlite' | 'postgres',
    settings: CallLogSettings,
    private readonly log: Logger,
  ) {
    this.settings = settings;
    this.queue = new CallQueue<CallValues>((batch) => this.store.insert(batch), log, settings, 'writer');
    this.pruneTimer = setInterval(() => void this.prune(), PRUNE_EVERY_MS).unref();
  }

  configure(settings: CallLogSettings): void {
    this.settings = settings;
    this.queue.configure(settings);
  }

  /** Route → owner, refreshed with every config version. */
  setOwners(owners: OwnerLookup): void {
    this.owners = owners;
  }

  /** Queues one record of this process (never blocks). */
  readonly record = (record: CallRecord): void => {
    this.push(rowValues(record));
  };

  /** A worker's batch (as values), and how many records its own queue dropped since its last batch. */
  accept(rows: readonly CallValues[], droppedByWorker: number): void {
    if (droppedByWorker > 0) this.queue.addDropped(droppedByWorker);
    for (const row of rows) this.push(row);
  }

  private push(row: CallValues): void {
    const owner = this.owners(row[COLUMN.route] as string);
    if (owner !== undefined) {
      row[COLUMN.team] = owner.team;
      row[COLUMN.api] = owner.api;
      row[COLUMN.api_version] = owner.apiVersion;
    }
    this.queue.push(row);
  }

  stats(): CallLogStats {
    const { queued, delivered, dropped, failed } = this.queue.snapshot();
    return { store: this.kind, queued, written: delivered, dropped, failed, pruned: this.pruned };
  }

  /** Writes everything queued now. */
  flush(): Promise<void> {
    return this.queue.flush();
  }

  /** Applies retention once (also run every minute in the background). */
  prune(now = Date.now()): Promise<unknown> {
    if (this.pruning !== null || this.closed) return this.pruning ?? Promise.resolve();
    const { maxAgeMs, maxRows, rollupRetentionMs, hourlyRollupRetentionMs, dailyRollupRetentionMs } = this.settings;
    const policy = {
      callsBefore: now - maxAgeMs,
      maxRows,
      rollupsBefore: now - rollupRetentionMs,
      hourlyRollupsBefore: now - hourlyRollupRetentionMs,
      dailyRollupsBefore: now - dailyRollupRetentionMs,
      chunk: PRUNE_CHUNK,
    };
    this.pruning = this.store
      .prune(policy)
      .then(
        ({ calls }) => void (this.pruned += calls),
        (err: unknown) => this.log.warn({ err }, 'call log retention failed; will try again'),
      )
      .finally(() => (this.pruning = null));
    return this.pruning;
  }

  /** Flushes the queue, then closes the store. */
  async close(): Promise<void> {
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    await this.queue.flush();
    await this.pruning;
    this.closed = true;
    await this.store.close();
  }
}

/** What the metrics scrape reads of the node's writer. */
export function callLogMetrics(writer: CallLogWriter): CallLogSources {
  return { queued: () => writer.stats().queued, totals: () => writer.stats() };
}

/**
 * Opens the writer where the settings and the node's store say, or returns undefined when the
 * node keeps no state (no data folder, no store URL). It is opened even while
 * `callLog.enabled` is false, so turning the call log on is a reload, not a restart.
 */
export async function openCallLog(location: StoreLocation | undefined, settings: CallLogSettings, log: Logger): Promise<CallLogWriter | undefined> {
  const postgres = settings.store === 'default' && location?.storeUrl !== undefined && location.storeUrl !== '';
  if (postgres) {
    const { PostgresCallStore } = await import('./postgres-call-store.js');
    return new CallLogWriter(await PostgresCallStore.open(location.storeUrl!, { schema: location.schema }), 'postgres', settings, log);
  }
  if (location?.dataDir === undefined) {
    if (settings.enabled) log.warn('the call log is on but the node has no data folder (--data) nor store: calls are not recorded');
    return undefined;
  }
  return new CallLogWriter(new ThreadedSqliteCallStore(location.dataDir), 'sqlite', settings, log);
}
