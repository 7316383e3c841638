/**
 * Closed-loop load for bench/flows.ts: `clients` loops, each sending its next request when the
 * previous one answered.
 */

export interface LoopStats {
  /** Latencies (ms) of the requests that succeeded. */
  latencies: Float64Array;
  completed: number;
  errors: number;
  errorSamples: Map<string, number>;
  seconds: number;
}

export async function closedLoop(clients: number, durationMs: number, one: (client: number) => Promise<void>, until: { minSamples?: number; maxMs?: number } = {}): Promise<LoopStats> {
  const latencies: number[] = [];
  const errorSamples = new Map<string, number>();
  let errors = 0;
  let completed = 0;
  const start = performance.now();
  const softEnd = start + durationMs;
  const hardEnd = start + Math.max(durationMs, until.maxMs ?? durationMs);
  const minSamples = until.minSamples ?? 0;
  const loop = async (client: number): Promise<void> => {
    for (;;) {
      const now = performance.now();
      if (now >= hardEnd || (now >= softEnd && completed >= minSamples)) return;
      const t0 = performance.now();
      try {
        await one(client);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        const message = err instanceof Error ? err.message : String(err);
        if (errorSamples.size < 5 || errorSamples.has(message)) errorSamples.set(message, (errorSamples.get(message) ?? 0) + 1);
      }
      completed++;
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, i) => loop(i)));
  return { latencies: Float64Array.from(latencies).sort(), completed, errors, errorSamples, seconds: (performance.now() - start) / 1000 };
}

export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export function errorText(stats: LoopStats): string {
  return [...stats.errorSamples].map(([m, n]) => `${n}× ${m}`).join('; ');
}

/** The errors of a measured loop and of its warm-up. */
export function failures2(measured: LoopStats, warm: LoopStats): string {
  const parts = [];
  if (measured.errors > 0) parts.push(errorText(measured));
  if (warm.errors > 0) parts.push(`in the warm-up: ${errorText(warm)}`);
  return parts.join('; ');
}
