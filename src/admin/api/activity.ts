/**
 * Read-only views: the audit log (every change, who made it, before and after) and the running
 * node's flows (their DAG and critical path from observed step latencies, and compensations that
 * failed and need an operator).
 */
import { Type } from '@sinclair/typebox';
import { explainFlow } from '../../flows/explain.js';
import { planFlow } from '../../flows/plan.js';
import type { StatsSnapshot } from '../../flows/stats.js';
import type { FlowConfig } from '../../flows/types.js';
import type { ConfigStore } from '../../store/config-store.js';
import type { FlowStateStore } from '../../store/flow-state.js';
import { ApiError, Page, PageQuery, pageOf, type Operation } from './kit.js';
import { teamsToList } from './identity.js';
import type { PurgeResult } from '../../cache/purge-fanout.js';
import type { PurgeSpec } from '../../cache/store.js';
import type { CallLogWriter } from '../../calls/writer.js';
import type { CheckScheduler } from '../../checks/scheduler.js';

export interface RuntimeSources {
  /** The flows of the running config and their observed step latencies (merged across workers). */
  flows?: () => { flows: readonly FlowConfig[]; stats: StatsSnapshot };
  state?: FlowStateStore;
  /** Purges the response cache on every process of the node and in Redis (src/cache/). */
  purgeCache?: (spec: PurgeSpec) => Promise<PurgeResult>;
  /** The node's call log writer (its store answers queries); absent when the call log is off. */
  calls?: CallLogWriter;
  /** The node's synthetic check scheduler (its store answers queries); absent without a store. */
  checks?: CheckScheduler;
}

const AuditView = Type.Object(
  {
    id: Type.Integer(),
    at: Type.String({ format: 'date-time' }),
    actor: Type.String(),
    team: Type.Union([Type.String(), Type.Null()]),
    action: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
    kind: Type.String(),
    name: Type.String(),
    before: Type.Unknown(),
    after: Type.Unknown(),
  },
  { $id: 'AuditEntry' },
);

export function activityOperations(store: ConfigStore, runtime: RuntimeSources): Operation[] {
  const ops: Operation[] = [
    {
      method: 'GET',
      path: '/api/v1/audit',
      operationId: 'listAudit',
      summary: 'The audit log, newest first: every change with who, when, before and after. Team members see their teams\' entries.',
      tag: 'audit',
      auth: 'user',
      query: { ...PageQuery, team: { schema: Type.String(), description: 'Only this team\'s.' }, kind: { schema: Type.String(), description: 'service, route, flow, team, membership, user.' } },
      response: Page(AuditView),
      async handle(r) {
        const teams = await teamsToList(store, r.principal, r.query);
        const page = await store.listAudit(pageOf(r.query), { teams, kind: r.query.get('kind') ?? undefined });
        const names = new Map<string, string>();
        const items = await Promise.all(
          page.items.map(async (e) => {
            if (e.teamId !== null && !names.has(e.teamId)) names.set(e.teamId, (await store.teamById(e.teamId))?.name ?? e.teamId);
            return { id: e.id, at: new Date(e.at).toISOString(), actor: e.actor, team: e.teamId === null ? null : names.get(e.teamId)!, action: e.action, kind: e.kind, name: e.name, before: e.before, after: e.after };
          }),
        );
        return { status: 200, body: { items, next: page.next } };
      },
    },
  ];
  const { flows, state } = runtime;
  if (flows !== undefined) {
    ops.push(
      {
        method: 'GET',
        path: '/api/v1/runtime/flows',
        operationId: 'listRunningFlows',
        summary: 'The flows the node is running (from the file and the store).',
        tag: 'runtime',
        auth: 'user',
        response: Type.Object({ items: Type.Array(Type.Object({ name: Type.String(), method: Type.String(), path: Type.String(), mode: Type.String(), timeoutMs: Type.Integer(), steps: Type.Array(Type.String()) })) }),
        async handle() {
          const items = flows().flows.map((f) => ({ name: f.name, method: f.method, path: f.path, mode: f.mode, timeoutMs: f.timeoutMs, steps: f.steps.map((s) => s.name) }));
          return { status: 200, body: { items } };
        },
      },
      {
        method: 'GET',
        path: '/api/v1/runtime/flows/{name}/explain',
        operationId: 'explainFlow',
        summary: 'A running flow\'s DAG, level by level, and its critical path from the step latencies every worker observed (p50 of the last 256 runs), or from `latency`.',
        tag: 'runtime',
        auth: 'user',
        query: { latency: { schema: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*:\\d+(\\.\\d+)?(,[A-Za-z_][A-Za-z0-9_]*:\\d+(\\.\\d+)?)*$' }), description: 'step:ms pairs to assume, e.g. order:120,user:40.' } },
        response: Type.Object({}, { additionalProperties: true }),
        errors: ['WEIR_NOT_FOUND', 'WEIR_VALIDATION_FAILED'],
        async handle(r) {
          const current = flows();
          const name = r.params['name']!;
          const flow = current.flows.find((f) => f.name === name);
          if (flow === undefined) throw new ApiError('WEIR_NOT_FOUND', `no flow "${name}" (flows: ${current.flows.map((f) => f.name).join(', ') || 'none'})`);
          const observed = current.stats[name] ?? {};
          const latencies = new Map(Object.entries(observed).map(([step, s]) => [step, s.p50Ms]));
          const given = r.query.get('latency');
          for (const pair of given === null ? [] : given.split(',')) {
            const match = /^([A-Za-z_][A-Za-z0-9_]*):(\d+(?:\.\d+)?)$/.exec(pair.trim());
            if (match === null) throw new ApiError('WEIR_VALIDATION_FAILED', `latency takes step:ms pairs separated by commas, e.g. latency=order:120,user:40 (got "${pair}")`);
            latencies.set(match[1]!, Number(match[2]));
          }
          return { status: 200, body: { ...explainFlow(planFlow(flow), latencies), observed, latencySource: given !== null ? 'given and observed (p50)' : 'observed (p50)' } };
        },
      },
    );
  }
  if (state !== undefined) {
    ops.push({
      method: 'GET',
      path: '/api/v1/runtime/compensation-failures',
      operationId: 'listCompensationFailures',
      summary: 'Compensations that failed: finished steps of failed flows that were NOT undone and need an operator (system admins).',
      tag: 'runtime',
      auth: 'user',
      query: { limit: PageQuery.limit },
      response: Type.Object({ items: Type.Array(Type.Object({ id: Type.Integer(), at: Type.String(), flow: Type.String(), requestId: Type.String(), step: Type.String(), call: Type.Unknown(), error: Type.Unknown() })) }),
      errors: ['WEIR_FORBIDDEN'],
      async handle(r) {
        r.principal.requireSystemAdmin('read failed compensations');
        const failures = await state.listCompensationFailures(pageOf(r.query).limit);
        return { status: 200, body: { items: failures.map((f) => ({ ...f, at: new Date(f.at).toISOString() })) } };
      },
    });
  }
  return ops;
}
