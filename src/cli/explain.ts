import { parseArgs } from 'node:util';
import { formatIssues, loadConfigFile } from '../config/load.js';
import { planFlow, type FlowPlan, type PlannedStep } from '../flows/plan.js';

/**
 * `weir explain [FLOW] [--config FILE] [--latency STEP=MS …]`: each flow's DAG level by level,
 * what every step waits for, and its critical path — with the latencies given (e.g. measured),
 * or counting one per step to show the longest chain of dependent calls.
 */
export async function explain(args: string[]): Promise<number> {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args,
      options: { config: { type: 'string', short: 'c', default: 'weir.yaml' }, latency: { type: 'string', multiple: true, default: [] } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    console.error(`weir explain: ${(err as Error).message}`);
    return 2;
  }
  const latencies = new Map<string, number>();
  for (const pair of values.latency) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(\d+(?:\.\d+)?)$/.exec(pair);
    if (match === null) {
      console.error(`weir explain: --latency takes STEP=MS, e.g. --latency order=200 (got "${pair}")`);
      return 2;
    }
    latencies.set(match[1]!, Number(match[2]));
  }
  const result = await loadConfigFile(values.config);
  if (!result.ok) {
    console.error(formatIssues(result.issues, values.config));
    return 1;
  }
  const wanted = positionals[0];
  const flows = result.config.flows.filter((f) => wanted === undefined || f.name === wanted);
  if (flows.length === 0) {
    const names = result.config.flows.map((f) => f.name).join(', ') || 'none';
    console.error(wanted === undefined ? `weir explain: ${values.config} defines no flows` : `weir explain: no flow "${wanted}" (flows: ${names})`);
    return 1;
  }
  console.log(flows.map((flow) => describe(planFlow(flow), latencies)).join('\n\n'));
  return 0;
}

function describe(plan: FlowPlan, given: ReadonlyMap<string, number>): string {
  const { flow } = plan;
  const lines = [`flow ${flow.name}: ${flow.method} ${flow.path} (timeout ${flow.timeoutMs} ms)`];
  const byName = new Map(plan.steps.map((s) => [s.name, s]));
  plan.levels.forEach((names, level) => {
    lines.push(`  level ${level}:`);
    for (const name of names) {
      const step = byName.get(name)!;
      const waits = step.deps.length === 0 ? '' : `  ← ${step.deps.join(', ')}`;
      lines.push(`    ${name.padEnd(14)} ${what(step)}${waits}`);
    }
  });
  const measured = given.size > 0;
  const latencies = measured ? given : new Map(plan.steps.map((s) => [s.name, 1]));
  const path = plan.criticalPath(latencies);
  lines.push(
    measured
      ? `  critical path: ${path.steps.join(' → ')} = ${path.ms} ms (sum of every step: ${[...given.values()].reduce((a, b) => a + b, 0)} ms)`
      : `  longest chain: ${path.steps.join(' → ')} (${path.ms} dependent step${path.ms === 1 ? '' : 's'}; pass --latency STEP=MS for times)`,
  );
  return lines.join('\n');
}

function what(step: PlannedStep): string {
  const optional = step.optional ? ' (optional)' : '';
  switch (step.kind) {
    case 'http':
      return `${step.config.call.method} ${step.config.call.service} ${step.config.call.path}${optional}`;
    case 'forEach':
      return `for each of ${step.config.items}: ${step.config.call.method} ${step.config.call.service} ${step.config.call.path}${optional}`;
    case 'transform':
      return `transform${optional}`;
  }
}
