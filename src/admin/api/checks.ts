/**
 * Synthetic checks over the admin API: team-owned resources (kind `check`, versioned and audited
 * like routes), their runs, their series, and running one now. A check may call the routes and
 * flows of its own team only (system admins: any); what it calls is found with the router of the
 * running config when the check is written.
 */
import { Type } from '@sinclair/typebox';
import { loadComposed } from '../../control/compose.js';
import { routeOwners } from '../../control/apis.js';
import { Router } from '../../dataplane/router/router.js';
import { flowRouteConfig } from '../../flows/handler.js';
import type { CheckScheduler } from '../../checks/scheduler.js';
import { CheckSpec, checkDefinitions, specProblems, type CheckSpecT, type SpecProblem } from '../../checks/spec.js';
import { checkSeries, type CheckRun, type Resolution } from '../../checks/store.js';
import type { ConfigStore, Resource } from '../../store/config-store.js';
import type { Principal } from './access.js';
import { teamsToList, visibleTeam } from './identity.js';
import { ApiError, Page, PageQuery, etagOf, pageOf, requiredVersion, type ApiRequest, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const RunView = Type.Object(
  {
    at: Type.String({ format: 'date-time', description: 'When the run started.' }),
    ok: Type.Boolean(),
    reason: Nullable(Type.Union(['status', 'assertion', 'latency', 'timeout', 'error'].map((r) => Type.Literal(r)), { description: 'Why it failed: the first of no answer (timeout, error), status, assertion, latency.' })),
    detail: Nullable(Type.String()),
    status: Nullable(Type.Integer()),
    latencyMs: Type.Number({ description: 'From sending the request to the end of the answer.' }),
    steps: Nullable(Type.Array(Type.Object({ name: Type.String(), durationMs: Type.Number(), desc: Nullable(Type.String()) }), { description: "A flow's steps, from its Server-Timing header." })),
    node: Type.String({ description: "The node that ran it: host name and traffic port." }),
  },
  { $id: 'CheckRun' },
);

const CheckView = Type.Object(
  {
    name: Type.String(),
    team: Type.String(),
    version: Type.Integer({ description: 'Also the ETag: send it back in If-Match to change or delete.' }),
    spec: CheckSpec,
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
    updatedBy: Type.String(),
    lastRun: Nullable(RunView),
  },
  { $id: 'Check' },
);

const SeriesPoint = Type.Object(
  {
    start: Type.String({ format: 'date-time', description: 'Start of the minute or hour.' }),
    runs: Type.Integer(),
    successes: Type.Integer(),
    successRatio: Type.Number({ minimum: 0, maximum: 1 }),
    latencyP50Ms: Type.Number(),
    latencyP95Ms: Type.Number(),
  },
  { $id: 'CheckSeriesPoint' },
);

const CheckName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'Letters, digits, "_", "." and "-".' });
const IfMatch = { 'if-match': { required: true, description: 'The ETag you read ("3").' } };
const RANGE = {
  from: { schema: Type.String(), description: 'Runs at or after (ISO 8601 date-time, or epoch ms).' },
  to: { schema: Type.String(), description: 'Runs before (ISO 8601 date-time, or epoch ms; default now).' },
};

const runView = (run: CheckRun) => ({ at: new Date(run.at).toISOString(), ok: run.ok, reason: run.reason, detail: run.detail, status: run.status, latencyMs: run.latencyMs, steps: run.steps, node: run.node });

export function checkOperations(store: ConfigStore, host: ConfigHost, scheduler: CheckScheduler): Operation[] {
  const kit = resourceKit(store, host);
  const results = scheduler.store;
  const view = async (r: Resource, last?: CheckRun) => ({ ...(await kit.view(r)), lastRun: last === undefined ? null : runView(last) });
  const one = async (r: Resource, status = 200) => ({ status, body: await view(r, (await results.latest([r.name])).get(r.name)), headers: { etag: etagOf(r.version) } });
  const check = (r: ApiRequest) => kit.visible('check', r.params['name']!, r.principal, 'check');

  /** Everything wrong with a spec for this team and caller, with pointers; refused as 422. */
  const validate = async (name: string, spec: CheckSpecT, teamId: string, principal: Principal): Promise<void> => {
    const problems: SpecProblem[] = specProblems(spec, scheduler.minIntervalMs);
    const all = await store.allResources();
    const self: Resource = { kind: 'check', name, teamId, version: 0, body: spec as unknown as Record<string, unknown>, createdAt: 0, updatedAt: 0, updatedBy: '' };
    const resolved = host.resolve([...all.filter((r) => r.kind === 'secret' && r.teamId === teamId), self]);
    for (const message of resolved.problems) problems.push({ pointer: '/spec/request/headers', message });
    const target = targetOf(host, all, spec);
    if (typeof target === 'string') problems.push({ pointer: '/spec/request/path', message: target });
    else if (!principal.isSystemAdmin && target.team !== teamId) {
      problems.push({ pointer: '/spec/request/path', message: `${spec.request.method ?? 'GET'} ${spec.request.path} is served by "${target.route}", which is not a route or flow of the check's team` });
    }
    if (problems.length > 0) throw new ApiError('WEIR_VALIDATION_FAILED', `${problems[0]!.pointer}: ${problems[0]!.message}`, { problems });
  };

  const written = async (write: Promise<Resource | null>) => {
    const saved = await kit.written(write);
    await scheduler.refresh();
    return saved;
  };

  const range = (r: ApiRequest, defaultSpanMs: number): { from: number; to: number } => {
    const time = (name: string): number | undefined => {
      const raw = r.query.get(name);
      if (raw === null) return undefined;
      const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
      if (Number.isNaN(ms)) throw new ApiError('WEIR_VALIDATION_FAILED', `${name} is an ISO 8601 date-time or epoch milliseconds (got "${raw}")`);
      return ms;
    };
    const to = time('to') ?? Date.now() + 1;
    const from = time('from') ?? to - defaultSpanMs;
    if (from >= to) throw new ApiError('WEIR_VALIDATION_FAILED', 'from must be before to');
    return { from, to };
  };

  return [
    {
      method: 'GET',
      path: '/api/v1/checks',
      operationId: 'listChecks',
      summary: 'The synthetic checks of the caller\'s teams (all for system admins), by name, each with its last run.',
      tag: 'checks',
      auth: 'user',
      query: { ...PageQuery, team: { schema: Type.String(), description: 'Only this team\'s.' } },
      response: Page(CheckView),
      async handle(r) {
        const page = await store.listResources('check', pageOf(r.query), await teamsToList(store, r.principal, r.query));
        const last = await results.latest(page.items.map((c) => c.name));
        return { status: 200, body: { items: await Promise.all(page.items.map((c) => view(c, last.get(c.name)))), next: page.next } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/checks',
      operationId: 'createCheck',
      summary: 'Creates a synthetic check owned by a team; its first run is at once, then one per interval.',
      tag: 'checks',
      auth: 'user',
      status: 201,
      body: Type.Object({ name: CheckName, team: Type.String({ description: 'The owning team\'s name.' }), spec: CheckSpec }),
      response: CheckView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_VALIDATION_FAILED', 'WEIR_NOT_FOUND'],
      async handle(r) {
        const { name, team: teamLabel, spec } = r.body as { name: string; team: string; spec: CheckSpecT };
        const team = await visibleTeam(store, r.principal, teamLabel);
        kit.mayWrite(r.principal, team.id, team.name, 'check');
        if ((await store.getResource('check', name)) !== undefined) throw new ApiError('WEIR_ALREADY_EXISTS', `a check "${name}" exists`);
        await validate(name, spec, team.id, r.principal);
        const body = spec as unknown as Record<string, unknown>;
        const created = (await written(store.writeResource({ kind: 'check', name, teamId: team.id, body, expectedVersion: null }, r.principal.user.username)))!;
        const result = await one(created, 201);
        return { ...result, headers: { ...result.headers, location: `/api/v1/checks/${encodeURIComponent(name)}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/checks/{name}',
      operationId: 'getCheck',
      summary: 'One synthetic check with its last run, its version as the ETag.',
      tag: 'checks',
      auth: 'user',
      response: CheckView,
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => one(await check(r)),
    },
    {
      method: 'PUT',
      path: '/api/v1/checks/{name}',
      operationId: 'replaceCheck',
      summary: 'Replaces a check\'s spec. Needs If-Match.',
      tag: 'checks',
      auth: 'user',
      body: Type.Object({ spec: CheckSpec }),
      response: CheckView,
      headers: IfMatch,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const current = await check(r);
        kit.mayWrite(r.principal, current.teamId, await kit.teamName(current.teamId), 'check');
        const version = requiredVersion(r, 'the check');
        const { spec } = r.body as { spec: CheckSpecT };
        await validate(current.name, spec, current.teamId, r.principal);
        const body = spec as unknown as Record<string, unknown>;
        return one((await written(store.writeResource({ kind: 'check', name: current.name, teamId: current.teamId, body, expectedVersion: version }, r.principal.user.username)))!);
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/checks/{name}',
      operationId: 'deleteCheck',
      summary: 'Deletes a check with its runs. Needs If-Match.',
      tag: 'checks',
      auth: 'user',
      status: 204,
      headers: IfMatch,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED'],
      async handle(r) {
        const current = await check(r);
        kit.mayWrite(r.principal, current.teamId, await kit.teamName(current.teamId), 'check');
        const version = requiredVersion(r, 'the check');
        await written(store.writeResource({ kind: 'check', name: current.name, teamId: current.teamId, body: null, expectedVersion: version }, r.principal.user.username));
        await results.forget(current.name);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/checks/{name}/results',
      operationId: 'listCheckResults',
      summary: 'The check\'s runs in a time range (default the last hour), newest first.',
      tag: 'checks',
      auth: 'user',
      query: { ...RANGE, limit: { schema: Type.Integer({ minimum: 1, maximum: 10_000, default: 500 }), description: 'At most this many runs (default 500).' } },
      response: Type.Object({ items: Type.Array(RunView) }),
      errors: ['WEIR_NOT_FOUND', 'WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const c = await check(r);
        const { from, to } = range(r, 3_600_000);
        const limit = r.query.get('limit') === null ? 500 : Number(r.query.get('limit'));
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new ApiError('WEIR_VALIDATION_FAILED', 'limit is a whole number from 1 to 10000');
        return { status: 200, body: { items: (await results.runs(c.name, from, to, limit)).map(runView) } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/checks/{name}/series',
      operationId: 'getCheckSeries',
      summary: 'The check\'s success ratio and latency p50/p95 per minute or hour (default: per minute over the last 24 hours); buckets without runs are left out.',
      tag: 'checks',
      auth: 'user',
      query: { ...RANGE, resolution: { schema: Type.Union([Type.Literal('minute'), Type.Literal('hour')], { default: 'minute' }), description: 'minute (default) or hour.' } },
      response: Type.Object({ check: Type.String(), resolution: Type.String(), points: Type.Array(SeriesPoint) }),
      errors: ['WEIR_NOT_FOUND', 'WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const c = await check(r);
        const resolution = r.query.get('resolution') ?? 'minute';
        if (resolution !== 'minute' && resolution !== 'hour') throw new ApiError('WEIR_VALIDATION_FAILED', 'resolution is minute or hour');
        const points = await checkSeries(results, c.name, { ...range(r, 86_400_000), resolution: resolution as Resolution });
        return { status: 200, body: { check: c.name, resolution, points: points.map((p) => ({ ...p, start: new Date(p.start).toISOString() })) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/checks/{name}/run',
      operationId: 'runCheck',
      summary: 'Runs the check now (on this node, enabled or not), records the run and answers with it.',
      tag: 'checks',
      auth: 'user',
      response: RunView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const c = await check(r);
        kit.mayWrite(r.principal, c.teamId, await kit.teamName(c.teamId), 'check');
        const [def] = checkDefinitions([...(await store.allResources()).filter((o) => o.kind === 'secret' && o.teamId === c.teamId), c], host.resolve);
        const run = await scheduler.runNow(def!);
        if (run === null) throw new ApiError('WEIR_INTERNAL', 'the traffic port is not listening yet');
        return { status: 200, body: runView(run) };
      },
    },
  ];
}

/** The route or flow the check's request reaches in the config with the store's resources, or why none does. */
function targetOf(host: ConfigHost, resources: readonly Resource[], spec: CheckSpecT): { route: string; team: string | null } | string {
  const { result } = loadComposed(host.fileText(), host.resolve(resources).resources, 'admin API');
  if (!result.ok) return 'the running config cannot be read to find the route';
  const { config } = result;
  const router = new Router([...config.routes, ...config.flows.map((f) => flowRouteConfig(f, config.routes.length + f.index))], () => null);
  const method = spec.request.method ?? 'GET';
  const headers = Object.fromEntries(Object.entries(spec.request.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const match = router.find(method, spec.request.path.split('?', 1)[0]!, headers['host'], headers);
  if (match === null) return `no route or flow answers ${method} ${spec.request.path}`;
  const name = match.entry.route.name;
  return { route: name, team: routeOwners(resources).get(name)?.team ?? null };
}
