/**
 * Secrets through the admin API: written once (or rotated), never read back — answers show a
 * hint (the last characters) and the version. Values are sealed with the node's key before they
 * reach the store (src/control/secrets.ts); resources refer to them as `${secret:name}`.
 */
import { Type } from '@sinclair/typebox';
import type { SealedSecret, SecretBox } from '../../control/secrets.js';
import type { ConfigStore, Resource } from '../../store/config-store.js';
import { visibleTeam } from './identity.js';
import { ApiError, Page, PageQuery, etagOf, pageOf, requiredVersion, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

const SecretName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$' });
const Value = Type.String({ minLength: 1, maxLength: 64 * 1024, description: 'The secret value; it is never shown again.' });
const SecretView = Type.Object(
  {
    name: Type.String(),
    team: Type.String(),
    hint: Type.String({ description: 'The last characters of the value ("…" for short values).' }),
    version: Type.Integer(),
    updatedAt: Type.String({ format: 'date-time' }),
    updatedBy: Type.String(),
    reference: Type.String({ description: 'What to write in a spec to use it.' }),
  },
  { $id: 'Secret' },
);

export function secretOperations(store: ConfigStore, host: ConfigHost, box: SecretBox | undefined): Operation[] {
  const kit = resourceKit(store, host);
  const sealer = (): SecretBox => {
    if (box === undefined) throw new ApiError('WEIR_SECRETS_UNAVAILABLE', 'this node has no secret key: set WEIR_SECRET_KEY or WEIR_SECRET_KEY_FILE');
    return box;
  };
  const view = async (r: Resource) => ({
    name: r.name,
    team: await kit.teamName(r.teamId),
    hint: (r.body as unknown as SealedSecret).hint,
    version: r.version,
    updatedAt: new Date(r.updatedAt).toISOString(),
    updatedBy: r.updatedBy,
    reference: `\${secret:${r.name}}`,
  });
  const ok = async (r: Resource, status = 200) => ({ status, body: await view(r), headers: { etag: etagOf(r.version) } });
  const sealed = (value: string, teamId: string, name: string) => sealer().seal(value, teamId, name) as unknown as Record<string, unknown>;

  return [
    {
      method: 'GET',
      path: '/api/v1/secrets',
      operationId: 'listSecrets',
      summary: 'The secrets of the caller\'s teams: names and hints, never values.',
      tag: 'secrets',
      auth: 'user',
      query: PageQuery,
      response: Page(SecretView),
      async handle(r) {
        const page = await store.listResources('secret', pageOf(r.query), r.principal.readableTeams());
        return { status: 200, body: { items: await Promise.all(page.items.map(view)), next: page.next } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/secrets',
      operationId: 'createSecret',
      summary: 'Stores a secret for a team, sealed with AES-256-GCM; use it in specs as ${secret:name}.',
      tag: 'secrets',
      auth: 'user',
      status: 201,
      body: Type.Object({ name: SecretName, team: Type.String(), value: Value }),
      response: SecretView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_NOT_FOUND', 'WEIR_SECRETS_UNAVAILABLE'],
      async handle(r) {
        const { name, team: teamName, value } = r.body as { name: string; team: string; value: string };
        const team = await visibleTeam(store, r.principal, teamName);
        kit.mayWrite(r.principal, team.id, team.name, 'secret');
        const created = await kit.written(store.writeResource({ kind: 'secret', name, teamId: team.id, body: sealed(value, team.id, name), expectedVersion: null }, r.principal.user.username));
        return { ...(await ok(created!, 201)), headers: { etag: etagOf(created!.version), location: `/api/v1/secrets/${encodeURIComponent(name)}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/secrets/{name}',
      operationId: 'getSecret',
      summary: 'One secret\'s name, hint and version (never its value).',
      tag: 'secrets',
      auth: 'user',
      response: SecretView,
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => ok(await kit.visible('secret', r.params['name']!, r.principal, 'secret')),
    },
    {
      method: 'PUT',
      path: '/api/v1/secrets/{name}',
      operationId: 'rotateSecret',
      summary: 'Replaces a secret\'s value (rotation); everything using it gets the new value at once. Needs If-Match.',
      tag: 'secrets',
      auth: 'user',
      body: Type.Object({ value: Value }),
      response: SecretView,
      headers: { 'if-match': { required: true, description: 'The ETag you read ("3").' } },
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_SECRETS_UNAVAILABLE'],
      async handle(r) {
        const current = await kit.visible('secret', r.params['name']!, r.principal, 'secret');
        kit.mayWrite(r.principal, current.teamId, await kit.teamName(current.teamId), 'secret');
        const version = requiredVersion(r, 'the secret');
        const body = sealed((r.body as { value: string }).value, current.teamId, current.name);
        return ok((await kit.written(store.writeResource({ kind: 'secret', name: current.name, teamId: current.teamId, body, expectedVersion: version }, r.principal.user.username)))!);
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/secrets/{name}',
      operationId: 'deleteSecret',
      summary: 'Deletes a secret; refused while a spec still uses it. Needs If-Match.',
      tag: 'secrets',
      auth: 'user',
      status: 204,
      headers: { 'if-match': { required: true, description: 'The ETag you read ("3").' } },
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_CONFIG_INVALID'],
      async handle(r) {
        const current = await kit.visible('secret', r.params['name']!, r.principal, 'secret');
        kit.mayWrite(r.principal, current.teamId, await kit.teamName(current.teamId), 'secret');
        const version = requiredVersion(r, 'the secret');
        await kit.check('secret', current.name, null);
        await kit.written(store.writeResource({ kind: 'secret', name: current.name, teamId: current.teamId, body: null, expectedVersion: version }, r.principal.user.username));
        return { status: 204 };
      },
    },
  ];
}
