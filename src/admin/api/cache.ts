/**
 * Purging the response cache (the `cache` plugin): by route, by request target or by target
 * prefix, on every worker of this node and in the Redis store. A route from the config file is
 * the system admins'; a route a team manages (its own route, or one of its API's routes) may be
 * purged by those who may change it. Purging every route is for system admins.
 */
import { Type } from '@sinclair/typebox';
import type { PurgeResult } from '../../cache/purge-fanout.js';
import type { PurgeSpec } from '../../cache/store.js';
import type { ConfigStore, WritableKind } from '../../store/config-store.js';
import type { Principal } from './access.js';
import { ApiError, type Operation } from './kit.js';

const Target = Type.String({ pattern: '^/[^\\s]*$', maxLength: 8192 });
const PurgeBody = Type.Object(
  {
    route: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'The route whose responses go (API routes are named api:route). Without it: every route (system admins).' })),
    key: Type.Optional(Type.Union([Target], { description: 'A request target exactly, path and query as the client sent them, e.g. /products/7?lang=en: every stored variant of it goes (all keyHeaders values, consumers and Vary variants).' })),
    prefix: Type.Optional(Type.Union([Target], { description: 'A request target prefix, e.g. /products/: every target that starts with it goes.' })),
  },
  { additionalProperties: false, $id: 'CachePurge' },
);
const PurgeView = Type.Object(
  {
    processes: Type.Integer({ description: 'Processes of this node that purged their memory store.' }),
    memory: Type.Integer({ description: 'Records removed from memory stores, summed over the processes.' }),
    redis: Type.Integer({ description: 'Keys removed from the Redis store (0 when no cache plugin uses it).' }),
  },
  { $id: 'CachePurged' },
);

/** Who may purge `route`: the team of the route or API that defines it; null when it is the file's. */
async function ownerOf(store: ConfigStore, route: string): Promise<{ teamId: string; kind: WritableKind } | null> {
  const colon = route.indexOf(':');
  if (colon !== -1) {
    const api = await store.getResource('api', route.slice(0, colon));
    if (api !== undefined) return { teamId: api.teamId, kind: 'api' };
  }
  const own = await store.getResource('route', route);
  return own === undefined ? null : { teamId: own.teamId, kind: 'route' };
}

async function mayPurge(store: ConfigStore, principal: Principal, route: string | undefined): Promise<void> {
  if (principal.isSystemAdmin) return;
  if (route === undefined) throw new ApiError('WEIR_FORBIDDEN', 'only a system admin may purge every route; name the route');
  const owner = await ownerOf(store, route);
  // Routes of other teams (and the file's) answer as if absent, like every resource.
  if (owner === null || !principal.canRead(owner.teamId)) throw new ApiError('WEIR_NOT_FOUND', `no route "${route}" of your teams`);
  if (!principal.canWrite(owner.teamId, owner.kind)) throw new ApiError('WEIR_FORBIDDEN', `your role does not allow changing ${owner.kind}s of this team, so it may not purge their cache`);
}

export function cacheOperations(store: ConfigStore, purge: ((spec: PurgeSpec) => Promise<PurgeResult>) | undefined): Operation[] {
  if (purge === undefined) return [];
  return [
    {
      method: 'POST',
      path: '/api/v1/cache/purge',
      operationId: 'purgeCache',
      summary: 'Removes stored responses of the cache plugin on every worker of this node and in the Redis store: a route\'s, a request target\'s (`key`) or those under a target prefix. Other nodes\' memory stores are not reached.',
      tag: 'cache',
      auth: 'user',
      body: PurgeBody,
      response: PurgeView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_NOT_FOUND', 'WEIR_VALIDATION_FAILED', 'WEIR_CACHE_PURGE_FAILED'],
      async handle(r) {
        const body = r.body as { route?: string; key?: string; prefix?: string };
        if (body.key !== undefined && body.prefix !== undefined) throw new ApiError('WEIR_VALIDATION_FAILED', 'send key or prefix, not both');
        await mayPurge(store, r.principal, body.route);
        const spec: PurgeSpec = { ...(body.route === undefined ? {} : { route: body.route }), ...(body.key === undefined ? {} : { key: body.key }), ...(body.prefix === undefined ? {} : { prefix: body.prefix }) };
        try {
          return { status: 200, body: await purge(spec) };
        } catch (err) {
          throw new ApiError('WEIR_CACHE_PURGE_FAILED', (err as Error).message);
        }
      },
    },
  ];
}
