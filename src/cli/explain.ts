import { parseArgs } from 'node:util';
import { formatIssues, loadConfigFile } from '../config/load.js';
import { explainFlow } from '../flows/explain.js';
import { planFlow, type FlowPlan } from '../flows/plan.js';

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
  const e = explainFlow(plan, given);
  const lines = [`flow ${e.flow}: ${e.method} ${e.path} (timeout ${e.timeoutMs} ms)`];
  e.levels.forEach((steps, level) => {
    lines.push(`  level ${level}:`);
    for (const step of steps) {
      const notes = [step.optional ? 'optional' : '', step.cached ? 'cached' : '', step.compensates ? 'compensated on failure' : ''].filter((n) => n !== '');
      const waits = step.waitsFor.length === 0 ? '' : `  ← ${step.waitsFor.join(', ')}`;
      lines.push(`    ${step.name.padEnd(14)} ${step.does}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}${waits}`);
    }
  });
  const longest = e.longestChain.length;
  lines.push(
    e.criticalPath !== null
      ? `  critical path: ${e.criticalPath.steps.join(' → ')} = ${e.criticalPath.ms} ms (sum of every step: ${e.criticalPath.sumOfStepsMs} ms)`
      : `  longest chain: ${e.longestChain.join(' → ')} (${longest} dependent step${longest === 1 ? '' : 's'}; pass --latency STEP=MS for times)`,
  );
  return lines.join('\n');
}
