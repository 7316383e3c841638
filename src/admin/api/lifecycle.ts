/**
 * API releases and lifecycle (see src/control/apis.ts): cut a release from the draft, approve or
 * reject it when the API requires approval, publish it (again: a rollback), deprecate with a
 * sunset date, retire; compare two releases. Every step is a resource write, so it is versioned,
 * audited (who, when, before/after) and reaches every node like any other change.
 */
import { Type } from '@sinclair/typebox';
import { publishable, releaseName, type ApiSpecT, type ApiState, type ApiStatusBody, type ReleaseBody } from '../../control/apis.js';
import type { ConfigStore, Resource } from '../../store/config-store.js';
import type { Principal } from './access.js';
import { ApiError, type ApiRequest, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

const ReleaseView = Type.Object(
  {
    api: Type.String(),
    number: Type.Integer(),
    status: Type.Union([Type.Literal('ready'), Type.Literal('pending-approval'), Type.Literal('approved'), Type.Literal('rejected')]),
    note: Type.String(),
    createdBy: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    decidedBy: Type.Optional(Type.String()),
    reason: Type.Optional(Type.String()),
    spec: Type.Unknown({ description: 'The API as it was when the release was cut.' }),
  },
  { $id: 'Release' },
);
const StatusView = Type.Object(
  {
    api: Type.String(),
    state: Type.Union([Type.Literal('draft'), Type.Literal('published'), Type.Literal('deprecated'), Type.Literal('retired')]),
    release: Type.Union([Type.Integer(), Type.Null()]),
    sunset: Type.Union([Type.String(), Type.Null()]),
    version: Type.Integer(),
  },
  { $id: 'ApiStatus' },
);
const Diff = Type.Object({
  from: Type.Integer(),
  to: Type.Integer(),
  changes: Type.Array(Type.Object({ change: Type.Union([Type.Literal('added'), Type.Literal('removed'), Type.Literal('changed')]), what: Type.String(), before: Type.Unknown(), after: Type.Unknown() })),
});

export function lifecycleOperations(store: ConfigStore, host: ConfigHost): Operation[] {
  const kit = resourceKit(store, host);

  const api = (r: ApiRequest) => kit.visible('api', r.params['name']!, r.principal, 'API');
  const mayChange = async (principal: Principal, found: Resource) => kit.mayWrite(principal, found.teamId, await kit.teamName(found.teamId), 'api');
  const releasesOf = async (name: string) =>
    (await store.allResources()).filter((r) => r.kind === 'release' && (r.body as unknown as ReleaseBody).api === name).sort((a, b) => num(a) - num(b));
  const release = async (name: string, n: string) => {
    const found = await store.getResource('release', releaseName(name, Number(n)));
    if (found === undefined) throw new ApiError('WEIR_NOT_FOUND', `API "${name}" has no release ${n}`);
    return found;
  };
  const status = async (name: string): Promise<{ body: ApiStatusBody; version: number | null }> => {
    const found = await store.getResource('api-status', name);
    return found === undefined ? { body: { state: 'draft', release: null }, version: null } : { body: found.body as unknown as ApiStatusBody, version: found.version };
  };
  const releaseView = (r: Resource) => ({ ...(r.body as unknown as ReleaseBody), createdAt: new Date(r.createdAt).toISOString() });
  const statusView = (name: string, s: { body: ApiStatusBody; version: number | null }) => ({ api: name, state: s.body.state, release: s.body.release, sunset: s.body.sunset ?? null, version: s.version ?? 0 });

  /** Writes the API's new status after checking the whole config with it (a bad release never goes live). */
  const setStatus = async (r: ApiRequest, found: Resource, next: ApiStatusBody) => {
    const current = await status(found.name);
    const body = next as unknown as Record<string, unknown>;
    await kit.check('api-status', found.name, body, [], found.teamId);
    await kit.written(store.writeResource({ kind: 'api-status', name: found.name, teamId: found.teamId, body, expectedVersion: current.version }, r.principal.user.username));
    return { status: 200, body: statusView(found.name, await status(found.name)) };
  };

  /** Moves the API from one of `from` to the state `next` gives, or refuses with the state it is in. */
  const transition = async (r: ApiRequest, from: ApiState[], to: ApiState, next: (current: ApiStatusBody) => ApiStatusBody) => {
    const found = await api(r);
    await mayChange(r.principal, found);
    const current = (await status(found.name)).body;
    if (!from.includes(current.state)) throw new ApiError('WEIR_INVALID_STATE', `the API is ${current.state}; only a ${from.join(' or ')} API can become ${to}`);
    return setStatus(r, found, next(current));
  };

  const decide = (verdict: 'approved' | 'rejected'): Operation => ({
    method: 'POST',
    path: `/api/v1/apis/{name}/releases/{number}/${verdict === 'approved' ? 'approve' : 'reject'}`,
    operationId: verdict === 'approved' ? 'approveRelease' : 'rejectRelease',
    summary: verdict === 'approved' ? 'Approves a release waiting for approval (a team admin other than its author).' : 'Rejects a release waiting for approval, with a reason (a team admin).',
    tag: 'apis',
    auth: 'user',
    body: Type.Object({ reason: verdict === 'approved' ? Type.Optional(Type.String({ maxLength: 2000 })) : Type.String({ minLength: 1, maxLength: 2000 }) }),
    response: ReleaseView,
    errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_INVALID_STATE'],
    async handle(r) {
      const found = await api(r);
      if (!r.principal.canManage(found.teamId)) throw new ApiError('WEIR_FORBIDDEN', `only an admin of the API's team may ${verdict === 'approved' ? 'approve' : 'reject'} releases`);
      const rel = await release(found.name, r.params['number']!);
      const body = rel.body as unknown as ReleaseBody;
      if (body.status !== 'pending-approval') throw new ApiError('WEIR_INVALID_STATE', `release ${body.number} is ${body.status}, not waiting for approval`);
      if (verdict === 'approved' && body.createdBy === r.principal.user.username) throw new ApiError('WEIR_FORBIDDEN', 'a release is approved by someone other than its author');
      const { reason } = r.body as { reason?: string };
      const next: ReleaseBody = { ...body, status: verdict, decidedBy: r.principal.user.username, ...(reason === undefined ? {} : { reason }) };
      const saved = await kit.written(store.writeResource({ kind: 'release', name: rel.name, teamId: rel.teamId, body: next as unknown as Record<string, unknown>, expectedVersion: rel.version }, r.principal.user.username));
      return { status: 200, body: releaseView(saved!) };
    },
  });

  return [
    {
      method: 'POST',
      path: '/api/v1/apis/{name}/releases',
      operationId: 'createRelease',
      summary: 'Cuts a release: an immutable snapshot of the API as it is now (checked to load as if published). Waits for approval when the API requires it.',
      tag: 'apis',
      auth: 'user',
      status: 201,
      body: Type.Object({ note: Type.Optional(Type.String({ maxLength: 2000 })) }),
      response: ReleaseView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_CONFIG_INVALID'],
      async handle(r) {
        const found = await api(r);
        await mayChange(r.principal, found);
        const spec = found.body as unknown as ApiSpecT;
        const number = ((await releasesOf(found.name)).map(num).pop() ?? 0) + 1;
        const body: ReleaseBody = {
          api: found.name,
          number,
          spec,
          note: (r.body as { note?: string }).note ?? '',
          createdBy: r.principal.user.username,
          status: spec.requireApproval === true ? 'pending-approval' : 'ready',
        };
        // The release must load as the API's traffic: check the config as if it were published.
        const asRelease = { kind: 'release' as const, name: releaseName(found.name, number), body: body as unknown as Record<string, unknown>, teamId: found.teamId };
        await kit.check('api-status', found.name, { state: 'published', release: number }, [asRelease], found.teamId);
        const saved = await kit.written(store.writeResource({ kind: 'release', name: releaseName(found.name, number), teamId: found.teamId, body: body as unknown as Record<string, unknown>, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: releaseView(saved!), headers: { location: `/api/v1/apis/${encodeURIComponent(found.name)}/releases/${number}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/apis/{name}/releases',
      operationId: 'listReleases',
      summary: 'The API\'s releases, oldest first.',
      tag: 'apis',
      auth: 'user',
      response: Type.Object({ items: Type.Array(ReleaseView) }),
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => ({ status: 200, body: { items: (await releasesOf((await api(r)).name)).map(releaseView) } }),
    },
    {
      method: 'GET',
      path: '/api/v1/apis/{name}/releases/{number}',
      operationId: 'getRelease',
      summary: 'One release.',
      tag: 'apis',
      auth: 'user',
      response: ReleaseView,
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => ({ status: 200, body: releaseView(await release((await api(r)).name, r.params['number']!)) }),
    },
    {
      method: 'GET',
      path: '/api/v1/apis/{name}/releases/{number}/diff',
      operationId: 'diffRelease',
      summary: 'What changed from another release (`against`, default the one before) to this one: routes, flows and settings added, removed or changed.',
      tag: 'apis',
      auth: 'user',
      query: { against: { schema: Type.Integer({ minimum: 1 }), description: 'The release to compare with (default: the previous one).' } },
      response: Diff,
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const found = await api(r);
        const to = await release(found.name, r.params['number']!);
        const toBody = to.body as unknown as ReleaseBody;
        const against = r.query.get('against') ?? String(toBody.number - 1);
        const from = Number(against) >= 1 ? ((await release(found.name, against)).body as unknown as ReleaseBody) : undefined;
        return { status: 200, body: { from: from?.number ?? 0, to: toBody.number, changes: diffSpecs(from?.spec, toBody.spec) } };
      },
    },
    decide('approved'),
    decide('rejected'),
    {
      method: 'GET',
      path: '/api/v1/apis/{name}/status',
      operationId: 'getApiStatus',
      summary: 'The API\'s lifecycle state and the release serving it.',
      tag: 'apis',
      auth: 'user',
      response: StatusView,
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const found = await api(r);
        return { status: 200, body: statusView(found.name, await status(found.name)) };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/apis/{name}/publish',
      operationId: 'publishApi',
      summary: 'Serves a release (a newer one to change the API, an older one to roll back); live within a second, in-flight requests unharmed.',
      tag: 'apis',
      auth: 'user',
      body: Type.Object({ release: Type.Integer({ minimum: 1 }) }),
      response: StatusView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_NOT_APPROVED', 'WEIR_INVALID_STATE', 'WEIR_CONFIG_INVALID', 'WEIR_PRECONDITION_FAILED'],
      async handle(r) {
        const found = await api(r);
        await mayChange(r.principal, found);
        const rel = (await release(found.name, String((r.body as { release: number }).release))).body as unknown as ReleaseBody;
        if (!publishable(rel)) throw new ApiError('WEIR_NOT_APPROVED', `release ${rel.number} is ${rel.status}${rel.status === 'pending-approval' ? ': a team admin must approve it first' : ''}`);
        const current = (await status(found.name)).body;
        if (current.state === 'retired') throw new ApiError('WEIR_INVALID_STATE', 'the API is retired; a retired API stays retired (create a new version)');
        return setStatus(r, found, { state: 'published', release: rel.number });
      },
    },
    {
      method: 'POST',
      path: '/api/v1/apis/{name}/deprecate',
      operationId: 'deprecateApi',
      summary: 'Marks a published API deprecated: it keeps serving, with Deprecation and (given a sunset) Sunset headers.',
      tag: 'apis',
      auth: 'user',
      body: Type.Object({ sunset: Type.Optional(Type.String({ format: 'date-time', description: 'When it will be retired.' })) }),
      response: StatusView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_INVALID_STATE'],
      handle: (r) =>
        transition(r, ['published', 'deprecated'], 'deprecated', (current) => {
          const { sunset } = r.body as { sunset?: string };
          return { ...current, state: 'deprecated', deprecatedAt: current.deprecatedAt ?? Date.now(), ...(sunset === undefined ? {} : { sunset }) };
        }),
    },
    {
      method: 'POST',
      path: '/api/v1/apis/{name}/retire',
      operationId: 'retireApi',
      summary: 'Retires the API: its paths answer 410 WEIR_API_RETIRED from now on.',
      tag: 'apis',
      auth: 'user',
      response: StatusView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_INVALID_STATE'],
      handle: (r) => transition(r, ['published', 'deprecated'], 'retired', (current) => ({ ...current, state: 'retired' })),
    },
  ];
}

function num(r: Resource): number {
  return (r.body as unknown as ReleaseBody).number;
}

/** Routes, flows and settings added, removed or changed between two snapshots of an API. */
export function diffSpecs(from: ApiSpecT | undefined, to: ApiSpecT): Array<{ change: 'added' | 'removed' | 'changed'; what: string; before: unknown; after: unknown }> {
  const out: Array<{ change: 'added' | 'removed' | 'changed'; what: string; before: unknown; after: unknown }> = [];
  const compare = (what: string, before: unknown, after: unknown) => {
    if (before === undefined && after !== undefined) out.push({ change: 'added', what, before: null, after });
    else if (before !== undefined && after === undefined) out.push({ change: 'removed', what, before, after: null });
    else if (JSON.stringify(before) !== JSON.stringify(after)) out.push({ change: 'changed', what, before, after });
  };
  for (const key of ['basePath', 'version', 'description', 'requireApproval', 'openapi'] as const) compare(key, from?.[key], to[key]);
  for (const list of ['routes', 'flows'] as const) {
    const before = new Map((from?.[list] ?? []).map((x) => [x.name, x]));
    const after = new Map((to[list] ?? []).map((x) => [x.name, x]));
    for (const name of new Set([...before.keys(), ...after.keys()])) compare(`${list.slice(0, -1)} ${name}`, before.get(name), after.get(name));
  }
  return out;
}
