/**
 * Where synthetic check runs are kept: `<data>/checks.db` (SQLite, its own file: the primary
 * writes it, and config writes never wait for it) or PostgreSQL (`--store postgres://`, its own
 * migration numbers from 2001). Both pass one conformance suite (store.conformance.ts); the SQL is
 * written once here for both, only the placeholders differ. Runs are few (one per check per
 * interval), so series are computed from the raw runs rather than kept as rollups.
 */

/** Why a run failed; null when it passed. */
export type FailureReason = 'status' | 'assertion' | 'latency' | 'timeout' | 'error';

/** One step of a flow as its Server-Timing header told it. */
export interface StepTiming {
  name: string;
  durationMs: number;
  /** The step's outcome as the flow described it ("ok 200", "failed 503" …). */
  desc: string | null;
}

export interface CheckRun {
  check: string;
  /** The owning team's id. */
  team: string;
  /** When the run started, epoch ms. */
  at: number;
  ok: boolean;
  reason: FailureReason | null;
  /** What went wrong, in words. */
  detail: string | null;
  /** The answer's status; null without one (timeout, refused connection). */
  status: number | null;
  /** From sending the request to the end of the answer's body. */
  latencyMs: number;
  /** A flow's steps (from Server-Timing); null for a route. */
  steps: StepTiming[] | null;
  /** The node that ran it. */
  node: string;
}

export interface CheckResultStore {
  insert(run: CheckRun): Promise<void>;
  /** The check's runs with `from <= at < to`, newest first, at most `limit`. */
  runs(check: string, from: number, to: number, limit: number): Promise<CheckRun[]>;
  /** The newest run of each named check that has one. */
  latest(checks: readonly string[]): Promise<Map<string, CheckRun>>;
  /** Deletes runs older than `before`; how many went. */
  prune(before: number): Promise<number>;
  /** Deletes a check's runs and its lease (the check was deleted). */
  forget(check: string): Promise<void>;
  /**
   * Takes (or keeps) the right to run `check` until `until`: true when `holder` has it now — it
   * had it already, or nobody did, or the last holder's lease ran out before `now`.
   */
  claim(check: string, holder: string, until: number, now: number): Promise<boolean>;
  close(): Promise<void>;
}

/** The tables, for both stores (`int`: a 64-bit integer type; `seq`: the key column). */
export function checkTablesSql(types: { seq: string; int: string; real: string }): string {
  return `
    CREATE TABLE check_runs (
      seq ${types.seq},
      check_name text NOT NULL,
      team text NOT NULL,
      at ${types.int} NOT NULL,
      ok integer NOT NULL,
      reason text,
      detail text,
      status integer,
      latency_ms ${types.real} NOT NULL,
      steps text,
      node text NOT NULL
    );
    CREATE INDEX check_runs_by_check ON check_runs (check_name, at);
    CREATE INDEX check_runs_by_time ON check_runs (at);
    CREATE TABLE check_leases (
      check_name text PRIMARY KEY,
      holder text NOT NULL,
      lease_until ${types.int} NOT NULL
    );`;
}

/** Placeholders of one dialect: `?` or `$n`. */
type Param = (n: number) => string;

export function checkSql(p: Param) {
  return {
    insert: `INSERT INTO check_runs (check_name, team, at, ok, reason, detail, status, latency_ms, steps, node) VALUES (${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(p).join(', ')})`,
    runs: `SELECT * FROM check_runs WHERE check_name = ${p(1)} AND at >= ${p(2)} AND at < ${p(3)} ORDER BY at DESC, seq DESC LIMIT ${p(4)}`,
    latest: `SELECT * FROM check_runs WHERE check_name = ${p(1)} ORDER BY at DESC, seq DESC LIMIT 1`,
    prune: `DELETE FROM check_runs WHERE at < ${p(1)}`,
    forgetRuns: `DELETE FROM check_runs WHERE check_name = ${p(1)}`,
    forgetLease: `DELETE FROM check_leases WHERE check_name = ${p(1)}`,
    // One statement: two nodes claiming at once cannot both win (the row's conflict serialises them).
    claim: `INSERT INTO check_leases (check_name, holder, lease_until) VALUES (${p(1)}, ${p(2)}, ${p(3)})
      ON CONFLICT (check_name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until
      WHERE check_leases.holder = excluded.holder OR check_leases.lease_until < ${p(4)}
      RETURNING holder`,
  };
}

export function runValues(run: CheckRun): unknown[] {
  return [run.check, run.team, run.at, run.ok ? 1 : 0, run.reason, run.detail, run.status, run.latencyMs, run.steps === null ? null : JSON.stringify(run.steps), run.node];
}

export interface RunRow {
  check_name: string;
  team: string;
  at: number | string;
  ok: number;
  reason: string | null;
  detail: string | null;
  status: number | null;
  latency_ms: number;
  steps: string | null;
  node: string;
}

export function runOfRow(row: RunRow): CheckRun {
  return {
    check: row.check_name,
    team: row.team,
    at: Number(row.at),
    ok: Number(row.ok) === 1,
    reason: row.reason as FailureReason | null,
    detail: row.detail,
    status: row.status,
    latencyMs: Number(row.latency_ms),
    steps: row.steps === null ? null : (JSON.parse(row.steps) as StepTiming[]),
    node: row.node,
  };
}

/** One bucket of a check's series. */
export interface SeriesPoint {
  /** The bucket's start, epoch ms. */
  start: number;
  runs: number;
  successes: number;
  /** successes / runs. */
  successRatio: number;
  latencyP50Ms: number;
  latencyP95Ms: number;
}

export const RESOLUTIONS = { minute: 60_000, hour: 3_600_000 } as const;
export type Resolution = keyof typeof RESOLUTIONS;

/** Most runs a series reads (a 10 s check over 30 days is 259,200). */
const SERIES_MAX_RUNS = 300_000;

/**
 * A check's series from `from` to `to` at a resolution: per bucket with runs, the success ratio
 * and latency percentiles (nearest rank). What alert rules read.
 */
export async function checkSeries(store: CheckResultStore, check: string, range: { from: number; to: number; resolution: Resolution }): Promise<SeriesPoint[]> {
  return seriesOf(await store.runs(check, range.from, range.to, SERIES_MAX_RUNS), RESOLUTIONS[range.resolution]);
}

export function seriesOf(runs: readonly CheckRun[], bucketMs: number): SeriesPoint[] {
  const buckets = new Map<number, CheckRun[]>();
  for (const run of runs) {
    const start = Math.floor(run.at / bucketMs) * bucketMs;
    const list = buckets.get(start);
    if (list === undefined) buckets.set(start, [run]);
    else list.push(run);
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([start, list]) => {
      const latencies = list.map((r) => r.latencyMs).sort((a, b) => a - b);
      const successes = list.filter((r) => r.ok).length;
      return { start, runs: list.length, successes, successRatio: successes / list.length, latencyP50Ms: percentile(latencies, 0.5), latencyP95Ms: percentile(latencies, 0.95) };
    });
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}
