/**
 * Services, routes and flows owned by teams: the same things weir.yaml says, with the same
 * schemas (src/config/schema.ts), as versioned resources. A write is checked twice before it
 * commits — its body against the kind's schema, then the whole gateway config with the change in
 * it through the same loader as the file (a route to an unknown service, a flow cycle …) — and a
 * change that would break the config is refused with every problem, the running config untouched.
 */
import { Type, type TSchema } from '@sinclair/typebox';
import { Flow, Route, Service } from '../../config/schema.js';
import { loadComposed, fileNames } from '../../control/compose.js';
import { ApiSpec, type ApiSpecT } from '../../control/apis.js';
import { apiValidationProblems } from '../../control/api-validation.js';
import { AlreadyExistsError, VersionConflictError, type ConfigStore, type Resource, type ResourceKind, type WritableKind } from '../../store/config-store.js';
import type { Principal } from './access.js';
import { teamsToList, visibleTeam } from './identity.js';
import { ApiError, Page, PageQuery, etagOf, pageOf, requiredVersion, type ApiRequest, type Operation } from './kit.js';

/** What the API needs of the running node. */
export interface ConfigHost {
  /** The config file's text as last loaded (resources are checked together with it). */
  fileText(): string;
  /** Resources with their `${secret:…}` references replaced, or the problems (src/control/secrets.ts). */
  resolve(resources: readonly Resource[]): { resources: Resource[]; problems: string[] };
  /** A write committed: reload now (every node also notices the store's revision within a second). */
  changed(): void;
}

const KINDS: ReadonlyArray<{ kind: WritableKind; plural: string; spec: TSchema; noun: string }> = [
  { kind: 'service', plural: 'services', spec: Service, noun: 'service' },
  { kind: 'route', plural: 'routes', spec: Type.Omit(Route, ['name'], { additionalProperties: false }), noun: 'route' },
  { kind: 'flow', plural: 'flows', spec: Type.Omit(Flow, ['name'], { additionalProperties: false }), noun: 'flow' },
  { kind: 'api', plural: 'apis', spec: ApiSpec, noun: 'API' },
];

const ResourceName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'Letters, digits, "_", "." and "-".' });

function resourceView(spec: TSchema, kind: string) {
  return Type.Object(
    {
      name: Type.String(),
      team: Type.String(),
      version: Type.Integer({ description: 'Also the ETag: send it back in If-Match to change or delete.' }),
      spec,
      createdAt: Type.String({ format: 'date-time' }),
      updatedAt: Type.String({ format: 'date-time' }),
      updatedBy: Type.String(),
    },
    { $id: kind },
  );
}

/** What every operation on resources needs: visibility, permissions, the whole-config check, writes. */
export function resourceKit(store: ConfigStore, host: ConfigHost) {
  const teamName = async (id: string) => (await store.teamById(id))?.name ?? id;
  const view = async (r: Resource) => ({
    name: r.name,
    team: await teamName(r.teamId),
    version: r.version,
    spec: r.body,
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
    updatedBy: r.updatedBy,
  });

  /** The resource if the caller may see it; others' answer 404 as if absent. */
  const visible = async (kind: ResourceKind, name: string, principal: Principal, noun: string): Promise<Resource> => {
    const found = await store.getResource(kind, name);
    if (found === undefined || !principal.canRead(found.teamId)) throw new ApiError('WEIR_NOT_FOUND', `no ${noun} "${name}"`);
    return found;
  };

  const mayWrite = (principal: Principal, teamId: string, teamLabel: string, kind: WritableKind): void => {
    if (!principal.canWrite(teamId, kind)) throw new ApiError('WEIR_FORBIDDEN', `your role in team "${teamLabel}" does not allow changing ${kind}s`);
  };

  /**
   * The whole config with the change in it must load, exactly as a file would. `also`: more
   * changes to consider together (a release and the status that would publish it).
   */
  const check = async (
    kind: ResourceKind,
    name: string,
    body: Record<string, unknown> | null,
    also: ReadonlyArray<{ kind: ResourceKind; name: string; body: Record<string, unknown>; teamId?: string }> = [],
    teamId?: string,
  ): Promise<void> => {
    const fileText = host.fileText();
    if (body !== null && fileNames(fileText)[kind]?.has(name) === true) {
      throw new ApiError('WEIR_ALREADY_EXISTS', `the config file defines a ${kind} "${name}"; change it there, or choose another name`);
    }
    if (kind === 'api' && body !== null) {
      const problems = apiValidationProblems(body as ApiSpecT).map((p) => ({ pointer: `/spec${p.path}`, message: p.message }));
      if (problems.length > 0) throw new ApiError('WEIR_VALIDATION_FAILED', `${problems[0]!.pointer}: ${problems[0]!.message}`, { problems });
    }
    const changes = body === null ? also : [{ kind, name, body, teamId }, ...also];
    const replaced = (r: { kind: ResourceKind; name: string }) => (r.kind === kind && r.name === name) || also.some((a) => a.kind === r.kind && a.name === r.name);
    const others = (await store.allResources()).filter((r) => !replaced(r));
    const next = [...others, ...changes.map((c) => ({ ...c, teamId: c.teamId ?? '', version: 0, createdAt: 0, updatedAt: 0, updatedBy: '' }))];
    const resolved = host.resolve(next);
    if (resolved.problems.length > 0) {
      throw new ApiError('WEIR_CONFIG_INVALID', resolved.problems[0]!, { problems: resolved.problems.map((message) => ({ pointer: '', message })) });
    }
    const { result } = loadComposed(fileText, resolved.resources, 'admin API');
    if (!result.ok) {
      const problems = result.issues.map((i) => ({ pointer: i.path, message: i.message }));
      throw new ApiError('WEIR_CONFIG_INVALID', `the gateway config would not load: ${problems[0]!.message}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`, { problems });
    }
  };

  const written = async (write: Promise<Resource | null>): Promise<Resource | null> => {
    try {
      const result = await write;
      host.changed();
      return result;
    } catch (err) {
      if (err instanceof VersionConflictError) {
        throw new ApiError('WEIR_PRECONDITION_FAILED', `it changed since you read it: ${err.message}; read it again and reapply your change`, err.current === null ? {} : { currentVersion: err.current });
      }
      if (err instanceof AlreadyExistsError) throw new ApiError('WEIR_ALREADY_EXISTS', err.message);
      throw err;
    }
  };
  return { teamName, view, visible, mayWrite, check, written };
}

export function resourceOperations(store: ConfigStore, host: ConfigHost): Operation[] {
  const { teamName, view, visible, mayWrite, check, written } = resourceKit(store, host);

  return KINDS.flatMap(({ kind, plural, spec, noun }): Operation[] => {
    const View = resourceView(spec, `${kind[0]!.toUpperCase()}${kind.slice(1)}`);
    const item = `/api/v1/${plural}/{name}`;
    const ok = async (r: Resource, status = 200) => ({ status, body: await view(r), headers: { etag: etagOf(r.version) } });
    return [
      {
        method: 'GET',
        path: `/api/v1/${plural}`,
        operationId: `list${cap(plural)}`,
        summary: `The ${plural} of the caller's teams (all for system admins), by name.`,
        tag: plural,
        auth: 'user',
        query: { ...PageQuery, team: { schema: Type.String(), description: 'Only this team\'s.' } },
        response: Page(View),
        async handle(r: ApiRequest) {
          const teams = await teamsToList(store, r.principal, r.query);
          const page = await store.listResources(kind, pageOf(r.query), teams);
          return { status: 200, body: { items: await Promise.all(page.items.map(view)), next: page.next } };
        },
      },
      {
        method: 'POST',
        path: `/api/v1/${plural}`,
        operationId: `create${cap(noun)}`,
        summary: `Creates a ${noun} owned by a team; it is live on every node within a second.`,
        tag: plural,
        auth: 'user',
        status: 201,
        body: Type.Object({ name: ResourceName, team: Type.String({ description: 'The owning team\'s name.' }), spec }),
        response: View,
        errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_CONFIG_INVALID', 'WEIR_NOT_FOUND'],
        async handle(r) {
          const { name, team: teamLabel, spec: body } = r.body as { name: string; team: string; spec: Record<string, unknown> };
          const team = await visibleTeam(store, r.principal, teamLabel);
          mayWrite(r.principal, team.id, team.name, kind);
          if ((await store.getResource(kind, name)) !== undefined) throw new ApiError('WEIR_ALREADY_EXISTS', `a ${noun} "${name}" exists`);
          await check(kind, name, body, [], team.id);
          const created = (await written(store.writeResource({ kind, name, teamId: team.id, body, expectedVersion: null }, r.principal.user.username)))!;
          const result = await ok(created, 201);
          return { ...result, headers: { ...result.headers, location: `/api/v1/${plural}/${encodeURIComponent(name)}` } };
        },
      },
      {
        method: 'GET',
        path: item,
        operationId: `get${cap(noun)}`,
        summary: `One ${noun}, with its version as the ETag.`,
        tag: plural,
        auth: 'user',
        response: View,
        errors: ['WEIR_NOT_FOUND'],
        handle: async (r) => ok(await visible(kind, r.params['name']!, r.principal, noun)),
      },
      {
        method: 'PUT',
        path: item,
        operationId: `replace${cap(noun)}`,
        summary: `Replaces a ${noun}'s spec (and optionally moves it to another team). Needs If-Match.`,
        tag: plural,
        auth: 'user',
        body: Type.Object({ team: Type.Optional(Type.String()), spec }),
        response: View,
        headers: { 'if-match': { required: true, description: 'The ETag you read ("3").' } },
        errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_CONFIG_INVALID'],
        async handle(r) {
          const name = r.params['name']!;
          const current = await visible(kind, name, r.principal, noun);
          const currentTeam = await teamName(current.teamId);
          mayWrite(r.principal, current.teamId, currentTeam, kind);
          const version = requiredVersion(r, `the ${noun}`);
          const { team: teamLabel, spec: body } = r.body as { team?: string; spec: Record<string, unknown> };
          let teamId = current.teamId;
          if (teamLabel !== undefined && teamLabel !== currentTeam) {
            const target = await visibleTeam(store, r.principal, teamLabel);
            mayWrite(r.principal, target.id, target.name, kind);
            teamId = target.id;
          }
          await check(kind, name, body, [], teamId);
          return ok((await written(store.writeResource({ kind, name, teamId, body, expectedVersion: version }, r.principal.user.username)))!);
        },
      },
      {
        method: 'DELETE',
        path: item,
        operationId: `delete${cap(noun)}`,
        summary: `Deletes a ${noun}. Needs If-Match; refused while others use it (a route of a service …).`,
        tag: plural,
        auth: 'user',
        status: 204,
        headers: { 'if-match': { required: true, description: 'The ETag you read ("3").' } },
        errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_CONFIG_INVALID', ...(kind === 'api' ? (['WEIR_INVALID_STATE'] as const) : [])],
        async handle(r) {
          const name = r.params['name']!;
          const current = await visible(kind, name, r.principal, noun);
          mayWrite(r.principal, current.teamId, await teamName(current.teamId), kind);
          const version = requiredVersion(r, `the ${noun}`);
          if (kind === 'api') {
            const state = ((await store.getResource('api-status', name))?.body as { state?: string } | undefined)?.state;
            if (state === 'published' || state === 'deprecated') throw new ApiError('WEIR_INVALID_STATE', `API "${name}" is ${state}: retire it before deleting it`);
          }
          await check(kind, name, null);
          await written(store.writeResource({ kind, name, teamId: current.teamId, body: null, expectedVersion: version }, r.principal.user.username));
          return { status: 204 };
        },
      },
    ];
  });
}

function cap(word: string): string {
  return word[0]!.toUpperCase() + word.slice(1);
}
