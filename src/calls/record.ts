/**
 * One call log record per request (proxied or answered by a flow), and the per-minute rollups
 * maintained from them. The data plane fills what it knows at the end of the request; the writer
 * adds who owns the route (team, API, version) before the batch is stored.
 */

/** One step of a flow, enough to draw the request's waterfall. */
export interface CallStep {
  name: string;
  /** ms after the flow started. */
  startMs: number;
  durationMs: number;
  /** ok, skipped, failed, cancelled, not-started (a compensation's record: compensated, failed). */
  status: string;
  /** Upstream calls the step made (retries, fan-out, batches). */
  attempts: number;
  httpStatus?: number;
  cache?: string;
  /** Of `attempts`, how many joined an identical request already in flight. */
  coalesced?: number;
  /** Set on a compensation's record: the step it undid. */
  compensates?: string;
  errorCode?: string;
}

export interface CallRecord {
  /** The request id (X-Request-Id). Not necessarily unique: a client may send its own. */
  id: string;
  /** When the request arrived (epoch ms). */
  at: number;
  /** Host name of the node and the worker (0: a single-process node). */
  node: string;
  worker: number;
  /** Filled in by the writer from the route's owner; null for the file's own routes. */
  team: string | null;
  api: string | null;
  apiVersion: string | null;
  route: string;
  kind: 'proxy' | 'flow';
  consumer: string | null;
  clientIp: string;
  method: string;
  path: string;
  status: number;
  errorCode: string | null;
  bytesIn: number;
  bytesOut: number;
  /** From arrival to the last byte sent; gateway = duration − upstream. */
  durationMs: number;
  gatewayMs: number;
  /** Time spent in upstream calls: every attempt (proxy), or the flow's steps' critical path. */
  upstreamMs: number;
  /** Upstream targets tried, in order (proxy); empty for flows (see steps). */
  targets: string[];
  attempts: number;
  retries: number;
  /** What the cache said (hit, miss, stale, bypass …), when a cache plugin ran. */
  cache: string | null;
  /** A flow's steps, in plan order; null for proxied requests. */
  steps: CallStep[] | null;
  /** The request's trace id (its span's with tracing on, else the client's valid traceparent's), or null. */
  traceId: string | null;
}

/** Upper bounds (ms) of the rollups' latency buckets; the last bucket is everything slower. */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000] as const;
export const BUCKET_COUNT = LATENCY_BUCKETS_MS.length + 1;

export function bucketOf(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= LATENCY_BUCKETS_MS[i]!) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** One minute of one API/route/consumer/status class: counts, a latency histogram, bytes. */
export interface Rollup {
  /** Start of the minute (epoch ms). */
  minute: number;
  /** '' where the record had none (so the key is unique). */
  team: string;
  api: string;
  route: string;
  consumer: string;
  /** 2 for 2xx … 5 for 5xx (1 for 1xx, 4 for 499 client gone). */
  statusClass: number;
  count: number;
  /** Records with status >= 500, or with an error code. */
  errors: number;
  bytesIn: number;
  bytesOut: number;
  latencySumMs: number;
  /** Counts per LATENCY_BUCKETS_MS bucket (BUCKET_COUNT of them). */
  buckets: number[];
}

/**
 * The latency below which `q` (0..1) of the requests fell, from a histogram: the upper bound of
 * the bucket holding that rank (an over-estimate by at most one bucket's width).
 */
export function quantileMs(buckets: readonly number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil(q * total);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= rank) return i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[i]! : Infinity;
  }
  return Infinity;
}
