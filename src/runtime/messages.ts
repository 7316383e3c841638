import type { HealthChange } from './health-monitor.js';
import type { StatsSnapshot } from '../flows/stats.js';
import type { RateLimitHits, RateLimitResults } from '../ratelimit/ipc.js';
import type { MetricsSnapshot } from '../observability/metrics.js';
import type { PurgeSpec } from '../cache/store.js';
import type { CallValues } from '../calls/store.js';

/** Messages between the cluster primary and its workers (node:cluster IPC). */
export type ToWorker =
  | { type: 'config'; text: string; source: string; listen: { host: string; port: number } }
  | { type: 'health'; changes: HealthChange[] }
  /** The primary's answer to a worker's batch of rate-limit hits (src/ratelimit/ipc.ts). */
  | { type: 'rate-limit'; results: RateLimitResults }
  /** A scrape of GET /metrics: answer with this process's metrics. */
  | { type: 'metrics-request'; id: number }
  /** Drop matching response-cache records (the admin API's purge); answered with `cache-purged`. */
  | { type: 'cache-purge'; id: number; spec: PurgeSpec }
  | { type: 'shutdown' };

export type ToPrimary =
  | { type: 'hello' }
  | { type: 'listening'; port: number }
  | { type: 'applied'; version: string }
  | { type: 'apply-failed'; version: string; message: string }
  | { type: 'drained' }
  /** The worker's observed flow step latencies, sent every few seconds when they changed. */
  | { type: 'flow-stats'; snapshot: StatsSnapshot }
  /** Rate-limit hits for the node's memory counters, which live in the primary. */
  | { type: 'rate-limit'; hits: RateLimitHits }
  | { type: 'metrics'; id: number; snapshot: MetricsSnapshot }
  /** What a worker purged for `cache-purge` `id`; `error` when its Redis purge failed. */
  | { type: 'cache-purged'; id: number; memory: number; redis: number; error?: string }
  /** A batch of call log records for the node's writer, and how many the worker's queue dropped since the last batch. */
  | { type: 'calls'; rows: CallValues[]; dropped: number };
