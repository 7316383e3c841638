/**
 * Observed step latencies, for `explain`: each process keeps the last WINDOW durations of every
 * step of every flow (successful runs only) in a ring buffer — constant memory, O(1) per step on
 * the request path — and summarises them on demand. Workers send their summaries to the primary,
 * which merges them for the admin API.
 */
import type { StepRecord } from './types.js';

const WINDOW = 256;

export interface StepSummary {
  /** Runs seen in all (not only those in the window). */
  count: number;
  p50Ms: number;
  p95Ms: number;
}

/** flow → step → summary. */
export type StatsSnapshot = Record<string, Record<string, StepSummary>>;

class Ring {
  readonly values = new Float64Array(WINDOW);
  count = 0;

  push(value: number): void {
    this.values[this.count++ % WINDOW] = value;
  }

  summary(): StepSummary {
    const sorted = this.values.slice(0, Math.min(this.count, WINDOW)).sort();
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
    return { count: this.count, p50Ms: at(0.5), p95Ms: at(0.95) };
  }
}

export class FlowStats {
  private readonly flows = new Map<string, Map<string, Ring>>();
  private changed = false;

  /** Records a finished flow's steps (skipped, failed and cancelled steps say nothing about latency). */
  record(flow: string, records: readonly StepRecord[]): void {
    let steps = this.flows.get(flow);
    if (steps === undefined) this.flows.set(flow, (steps = new Map()));
    for (const record of records) {
      if (record.status !== 'ok' || record.compensates !== undefined) continue;
      let ring = steps.get(record.name);
      if (ring === undefined) steps.set(record.name, (ring = new Ring()));
      ring.push(record.durationMs);
    }
    this.changed = true;
  }

  /** Whether anything was recorded since the last call (workers only send news). */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  snapshot(): StatsSnapshot {
    const out: StatsSnapshot = {};
    for (const [flow, steps] of this.flows) {
      out[flow] = {};
      for (const [step, ring] of steps) out[flow][step] = ring.summary();
    }
    return out;
  }
}

/**
 * Several processes' summaries as one: counts add up, percentiles are averaged weighted by count
 * (an approximation, exact when the processes saw the same distribution).
 */
export function mergeSnapshots(snapshots: readonly StatsSnapshot[]): StatsSnapshot {
  const out: StatsSnapshot = {};
  for (const snapshot of snapshots) {
    for (const [flow, steps] of Object.entries(snapshot)) {
      const into = (out[flow] ??= {});
      for (const [step, s] of Object.entries(steps)) {
        const prev = into[step];
        if (prev === undefined) {
          into[step] = { ...s };
          continue;
        }
        const count = prev.count + s.count;
        const weigh = (a: number, b: number) => (count === 0 ? 0 : round((a * prev.count + b * s.count) / count));
        into[step] = { count, p50Ms: weigh(prev.p50Ms, s.p50Ms), p95Ms: weigh(prev.p95Ms, s.p95Ms) };
      }
    }
  }
  return out;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
