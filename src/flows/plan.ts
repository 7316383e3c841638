/**
 * Planning a flow: compile every template once, infer each step's dependencies from the steps
 * it reads (plus `after`), and check the result is a DAG. Done when the config loads, so that
 * a request only evaluates prepared closures.
 */
import { compileBatch, type CompiledBatch } from './batch.js';
import { compileCall, callTemplates, type CompiledCall } from './call.js';
import { FlowPlanError, TemplateError, pointerSegment } from './errors.js';
import { findCycles, heaviestPath, invert, topologicalOrder } from './graph.js';
import { closestName } from '../config/suggest.js';
import { compileCollecting, compileExpression, compileTemplate, type Compiled } from './template.js';
import { compileStepCache, type StepCache } from './cache.js';
import type { Compensation, FlowConfig, ForEachStep, HttpStep, Step, TransformStep } from './types.js';

interface PlannedStepBase {
  readonly name: string;
  /** Names of the steps this one waits for. */
  readonly deps: readonly string[];
  /** Indexes (in `FlowPlan.steps`) of the steps that wait for this one. */
  readonly dependents: readonly number[];
  /** 0 for steps that wait for nothing, else one more than its deepest dependency. */
  readonly level: number;
  readonly when: Compiled | null;
  /** Failure yields the fallback (or null) instead of failing the flow. */
  readonly optional: boolean;
  readonly fallback: Compiled | null;
  /** Set when the step reuses answers (http and forEach steps). */
  readonly cache: StepCache | null;
}

/** The call that undoes an http step, compiled; its templates may read any step (no dependency). */
export interface PlannedCompensation {
  readonly config: Compensation;
  readonly call: CompiledCall;
}

/** What a step does, by kind, with its templates compiled. */
type StepWork =
  | { readonly kind: 'http'; readonly config: HttpStep; readonly call: CompiledCall; readonly compensate: PlannedCompensation | null }
  | { readonly kind: 'transform'; readonly config: TransformStep; readonly value: Compiled }
  | {
      readonly kind: 'forEach';
      readonly config: ForEachStep;
      readonly items: Compiled;
      /** Per element, or per batch when `batch` is set. */
      readonly call: CompiledCall;
      readonly batch: CompiledBatch | null;
    };

export type PlannedStep = PlannedStepBase & StepWork;

export interface FlowPlan {
  readonly flow: FlowConfig;
  /** In topological order: every step comes after the steps it waits for. */
  readonly steps: readonly PlannedStep[];
  /** Step names grouped by level. */
  readonly levels: readonly (readonly string[])[];
  readonly response: Compiled;
  /** The chain of dependent steps whose latencies add up to the most; missing latencies count 0. */
  criticalPath(latencies: ReadonlyMap<string, number>): { steps: string[]; ms: number };
}

/** Names a forEach element cannot take: they would hide the context's own fields. */
const RESERVED_NAMES = new Set(['request', 'steps', 'index']);

/**
 * Plans a flow; throws the first problem as a FlowPlanError (see `planFlowProblems` for all).
 * @example const plan = planFlow(config.flows[0]); await runFlow(plan, ctx, callService, { timeoutMs: 5000 });
 */
export function planFlow(flow: FlowConfig): FlowPlan {
  const { plan, problems } = buildPlan(flow);
  if (!plan) throw problems[0];
  return plan;
}

/** Every problem of the flow, in file order; empty when it plans. */
export function planFlowProblems(flow: FlowConfig): FlowPlanError[] {
  return buildPlan(flow).problems;
}

interface Draft {
  step: Step;
  pointer: string;
  when: Compiled | null;
  fallback: Compiled | null;
  work: StepWork;
  /** Step name → JSON pointer of the first place that waits for it. */
  reads: Map<string, string>;
  /** Steps the compensation reads: checked to exist, but not waited for. */
  compensationReads: ReadonlyMap<string, string>;
  cache: StepCache | null;
  deps: number[];
}

function buildPlan(flow: FlowConfig): { plan?: FlowPlan; problems: FlowPlanError[] } {
  const problems: FlowPlanError[] = [];
  const templateProblems: TemplateError[] = [];
  const indexOf = new Map<string, number>();
  flow.steps.forEach((step, i) => {
    if (indexOf.has(step.name)) problems.push(new FlowPlanError(`/steps/${i}/name`, `two steps are named "${step.name}"`));
    else indexOf.set(step.name, i);
  });
  const drafts = flow.steps.map((step, i) => draftStep(step, `/steps/${i}`, templateProblems));
  const response = compileCollecting(templateProblems, () => compileTemplate(flow.response, '/response'));
  problems.push(...templateProblems.map((e) => new FlowPlanError(e.path, e.message)));

  const names = [...indexOf.keys()];
  const unknown = (name: string) => {
    const guess = closestName(name, names);
    const known = names.length === 0 ? 'the flow has no steps' : `steps: ${names.map((n) => `"${n}"`).join(', ')}`;
    return `no step is named "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}; ${known}`;
  };
  drafts.forEach((draft, i) => {
    for (const [name, pointer] of draft.reads) {
      const dep = indexOf.get(name);
      const isAfter = pointer.startsWith(`${draft.pointer}/after/`);
      const verb = isAfter ? `runs after "${name}"` : `reads steps.${name}`;
      if (dep === undefined) problems.push(new FlowPlanError(pointer, `step "${draft.step.name}" ${verb}, but ${unknown(name)}`));
      else if (dep === i) problems.push(new FlowPlanError(pointer, isAfter ? `step "${name}" runs after itself` : `step "${name}" reads its own result (steps.${name})`));
      else draft.deps.push(dep);
    }
    for (const [name, pointer] of draft.compensationReads) {
      if (!indexOf.has(name)) problems.push(new FlowPlanError(pointer, `the compensation of step "${draft.step.name}" reads steps.${name}, but ${unknown(name)}`));
    }
  });
  for (const [name, pointer] of response.refPaths) {
    if (!indexOf.has(name)) problems.push(new FlowPlanError(pointer, `the response reads steps.${name}, but ${unknown(name)}`));
  }

  const deps = drafts.map((d) => d.deps);
  const order = topologicalOrder(deps);
  if (order.length < drafts.length) {
    for (const cycle of findCycles(deps)) {
      const [first] = cycle;
      const last = cycle[cycle.length - 1]!;
      const chain = [...cycle, first!].map((i) => `"${drafts[i]!.step.name}"`).join(' → ');
      const pointer = drafts[first!]!.reads.get(drafts[last]!.step.name) ?? drafts[first!]!.pointer;
      problems.push(new FlowPlanError(pointer, `steps ${chain} form a cycle`));
    }
  }
  problems.sort((a, b) => comparePointers(a.path, b.path));
  if (problems.length > 0) return { problems };
  return { plan: assemble(flow, drafts, order, response), problems };
}

function draftStep(step: Step, pointer: string, problems: TemplateError[]): Draft {
  const compileAt = (field: string, compileIt: (at: string) => Compiled) =>
    compileCollecting(problems, () => compileIt(`${pointer}/${field}`));
  const when = step.when === null ? null : compileAt('when', (at) => compileExpression(step.when!, at));
  const fallback = step.fallback === undefined ? null : compileAt('fallback', (at) => compileTemplate(step.fallback, at));
  let work: StepWork;
  let templates: Compiled[];
  if (step.kind === 'transform') {
    const value = compileAt('value', (at) => compileTemplate(step.value, at));
    work = { kind: 'transform', config: step, value };
    templates = [value];
  } else if (step.kind === 'http') {
    const call = compileCall(step.call, `${pointer}/call`, problems);
    templates = callTemplates(call);
    const compensate = step.compensate === null ? null : { config: step.compensate, call: compileCall(step.compensate.call, `${pointer}/compensate`, problems) };
    work = { kind: 'http', config: step, call, compensate };
  } else {
    const items = compileAt('items', (at) => compileExpression(step.items, at));
    // A batched step's call is written under `batch` in the file.
    const call = compileCall(step.call, step.batch === null ? `${pointer}/call` : `${pointer}/batch`, problems);
    const batch = step.batch === null ? null : compileBatch(step.batch, `${pointer}/batch`, problems);
    templates = [...callTemplates(call), items];
    if (batch !== null) templates.push(batch.itemKey);
    work = { kind: 'forEach', config: step, items, call, batch };
    if (RESERVED_NAMES.has(step.as)) {
      problems.push(new TemplateError(`${pointer}/as`, `"${step.as}" is taken by the flow context; name the element something else`));
    }
  }
  const cache = step.cache === null || step.kind === 'transform' ? null : compileStepCache(step.cache, `${pointer}/cache`, problems);
  const reads = new Map<string, string>();
  for (const template of [when, ...templates, fallback, cache?.key ?? null]) {
    for (const [name, at] of template?.refPaths ?? []) if (!reads.has(name)) reads.set(name, at);
  }
  step.after.forEach((name, i) => {
    if (!reads.has(name)) reads.set(name, `${pointer}/after/${pointerSegment(i)}`);
  });
  const compensationReads = new Map<string, string>();
  if (work.kind === 'http' && work.compensate !== null) {
    for (const template of callTemplates(work.compensate.call)) {
      for (const [name, at] of template.refPaths) if (!compensationReads.has(name)) compensationReads.set(name, at);
    }
  }
  return { step, pointer, when, fallback, work, reads, compensationReads, cache, deps: [] };
}

function assemble(flow: FlowConfig, drafts: Draft[], order: number[], response: Compiled): FlowPlan {
  const position = new Map(order.map((draftIndex, i) => [draftIndex, i]));
  const deps = order.map((i) => drafts[i]!.deps.map((dep) => position.get(dep)!));
  const dependents = invert(deps);
  const levels: string[][] = [];
  const levelOf: number[] = [];
  const steps = order.map((draftIndex, i): PlannedStep => {
    const { step, when, fallback, work, cache } = drafts[draftIndex]!;
    const level = Math.max(-1, ...deps[i]!.map((dep) => levelOf[dep]!)) + 1;
    levelOf.push(level);
    (levels[level] ??= []).push(step.name);
    return {
      ...work,
      name: step.name,
      deps: deps[i]!.map((dep) => drafts[order[dep]!]!.step.name),
      dependents: dependents[i]!,
      level,
      when,
      optional: step.optional || step.fallback !== undefined,
      fallback,
      cache,
    };
  });
  const inOrder = steps.map((_, i) => i);
  return {
    flow,
    steps,
    levels,
    response,
    criticalPath(latencies) {
      const { path, total } = heaviestPath(inOrder, deps, (i) => latencies.get(steps[i]!.name) ?? 0);
      return { steps: path.map((i) => steps[i]!.name).filter((name) => latencies.has(name)), ms: total };
    },
  };
}

/** Roughly file order: by step, then the response (sort is stable within a step). */
function comparePointers(a: string, b: string): number {
  const stepOf = (pointer: string) => Number(/^\/steps\/(\d+)/.exec(pointer)?.[1] ?? Infinity);
  return stepOf(a) - stepOf(b) || 0;
}
