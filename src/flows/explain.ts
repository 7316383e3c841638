/**
 * A flow explained: its DAG level by level, what each step does and waits for, and its critical
 * path for given step latencies (observed ones in the admin API, `--latency` in the CLI). One
 * structure, printed by `weir explain` and returned by `GET /api/v1/flows/{name}/explain`.
 */
import type { FlowPlan, PlannedStep } from './plan.js';

export interface FlowExplanation {
  flow: string;
  method: string;
  path: string;
  timeoutMs: number;
  levels: Array<Array<{ name: string; does: string; waitsFor: string[]; optional: boolean; compensates: boolean; cached: boolean }>>;
  /** null when no latency was given for any step. */
  criticalPath: { steps: string[]; ms: number; sumOfStepsMs: number } | null;
  /** The longest chain of dependent steps, counting each step once. */
  longestChain: string[];
}

export function explainFlow(plan: FlowPlan, latencies: ReadonlyMap<string, number>): FlowExplanation {
  const { flow } = plan;
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  const chain = plan.criticalPath(new Map(plan.steps.map((s) => [s.name, 1])));
  const critical = latencies.size === 0 ? null : plan.criticalPath(latencies);
  return {
    flow: flow.name,
    method: flow.method,
    path: flow.path,
    timeoutMs: flow.timeoutMs,
    levels: plan.levels.map((names) =>
      names.map((name) => {
        const step = byName.get(name)!;
        return {
          name,
          does: describeStep(step),
          waitsFor: [...step.deps],
          optional: step.optional,
          compensates: step.kind === 'http' && step.compensate !== null,
          cached: step.cache !== null,
        };
      }),
    ),
    criticalPath: critical === null ? null : { ...critical, sumOfStepsMs: plan.steps.reduce((sum, step) => sum + (latencies.get(step.name) ?? 0), 0) },
    longestChain: chain.steps,
  };
}

function describeStep(step: PlannedStep): string {
  switch (step.kind) {
    case 'http':
      return `${step.config.call.method} ${step.config.call.service} ${step.config.call.path}`;
    case 'forEach':
      return `for each of ${step.config.items}: ${step.config.call.method} ${step.config.call.service} ${step.config.call.path}`;
    case 'transform':
      return 'transform';
  }
}
