/**
 * Gateway-wide settings through the admin API: the live part of weir.yaml's `global` (plugins on
 * every route and flow, proxy headers, limits, jobs, shutdown — not the ports, which need a
 * restart), laid over the file's section by section. System admins only; versioned, checked and
 * audited like every other change.
 */
import { Type } from '@sinclair/typebox';
import { Global } from '../../config/schema.js';
import { AlreadyExistsError, SYSTEM_TEAM, type ConfigStore, type Team } from '../../store/config-store.js';
import { ApiError, etagOf, requiredVersion, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

const LiveSettings = Type.Omit(Global, ['listen', 'admin'], { additionalProperties: false });
const SettingsView = Type.Object(
  {
    settings: Type.Record(Type.String(), Type.Unknown(), { description: 'What the API sets; the file\'s `global` fills in the rest.' }),
    version: Type.Integer({ description: 'Also the ETag ("0" before anything was set).' }),
  },
  { $id: 'Settings' },
);

export function settingsOperations(store: ConfigStore, host: ConfigHost): Operation[] {
  const kit = resourceKit(store, host);
  const systemTeam = async (actor: string): Promise<Team> =>
    (await store.teamByName(SYSTEM_TEAM)) ??
    (await store.createTeam({ name: SYSTEM_TEAM, description: 'Owns gateway-wide settings' }, actor).catch(async (err: unknown) => {
      if (err instanceof AlreadyExistsError) return (await store.teamByName(SYSTEM_TEAM))!;
      throw err;
    }));
  const current = async () => {
    const found = await store.getResource('settings', 'global');
    return { settings: found?.body ?? {}, version: found?.version ?? 0 };
  };
  return [
    {
      method: 'GET',
      path: '/api/v1/settings',
      operationId: 'getSettings',
      summary: 'The gateway-wide settings set through the API (over the config file\'s `global`).',
      tag: 'settings',
      auth: 'user',
      response: SettingsView,
      errors: ['WEIR_FORBIDDEN'],
      async handle(r) {
        r.principal.requireSystemAdmin('read gateway settings');
        const now = await current();
        return { status: 200, body: now, headers: { etag: etagOf(now.version) } };
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/settings',
      operationId: 'replaceSettings',
      summary: 'Replaces the gateway-wide settings (system admins). Needs If-Match ("0" the first time); live on every node at once.',
      tag: 'settings',
      auth: 'user',
      body: Type.Object({ settings: LiveSettings }),
      response: SettingsView,
      headers: { 'if-match': { required: true, description: 'The ETag you read ("0" before anything was set).' } },
      errors: ['WEIR_FORBIDDEN', 'WEIR_PRECONDITION_REQUIRED', 'WEIR_PRECONDITION_FAILED', 'WEIR_CONFIG_INVALID'],
      async handle(r) {
        r.principal.requireSystemAdmin('change gateway settings');
        const version = requiredVersion(r, 'the settings');
        const now = await current();
        if (version !== now.version) throw new ApiError('WEIR_PRECONDITION_FAILED', `the settings changed since you read them: they are at version ${now.version}`, { currentVersion: now.version });
        const body = (r.body as { settings: Record<string, unknown> }).settings;
        const team = await systemTeam(r.principal.user.username);
        await kit.check('settings', 'global', body, [], team.id);
        const saved = await kit.written(store.writeResource({ kind: 'settings', name: 'global', teamId: team.id, body, expectedVersion: version === 0 ? null : version }, r.principal.user.username));
        return { status: 200, body: { settings: saved!.body, version: saved!.version }, headers: { etag: etagOf(saved!.version) } };
      },
    },
  ];
}
