/**
 * APIs and their lifecycle. An API is a team's routes and flows under a base path and a version
 * (`/shop` + `v1` → `/shop/v1/...`), edited as a draft; a release is an immutable snapshot of the
 * draft (`<api>#<n>`); the API's status says which release serves traffic and how:
 *
 *   draft ──publish──▶ published ──deprecate──▶ deprecated ──retire──▶ retired
 *                         ▲   │ publish (another release: a change, or a rollback)
 *                         └───┘
 *
 * Only published and deprecated APIs receive traffic; deprecated answers carry `Deprecation`
 * (RFC 9745) and `Sunset` (RFC 8594) headers; a retired API answers 410 `WEIR_API_RETIRED`.
 * What is served is derived here from the stored resources, when the config is composed.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Flow, Route } from '../config/schema.js';
import { HmacOptions } from '../dataplane/plugins/auth/hmac.js';
import { BasicOptions, KeysOptions } from '../dataplane/plugins/auth/keys.js';
import type { Resource } from '../store/config-store.js';
import { validationPluginFor } from './api-validation.js';

const Named = Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' }) });

export const ApiSpec = Type.Object(
  {
    basePath: Type.String({ pattern: '^/[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$', description: 'e.g. /shop' }),
    version: Type.String({ pattern: '^[A-Za-z0-9._-]{1,32}$', description: 'e.g. v1: paths are served under basePath/version.' }),
    description: Type.Optional(Type.String({ maxLength: 4000 })),
    requireApproval: Type.Optional(Type.Boolean({ description: 'A release must be approved by a team admin (not its author) before it can be published.' })),
    access: Type.Optional(
      Type.Object(
        {
          keys: Type.Optional(Type.Omit(KeysOptions, ['credentials'], { additionalProperties: false, description: 'Accept the consumers\' API keys (in the header, default x-api-key, or as Authorization: Bearer).' })),
          basic: Type.Optional(Type.Omit(BasicOptions, ['credentials'], { additionalProperties: false, description: 'Accept the consumers\' HTTP Basic credentials.' })),
          jwt: Type.Optional(
            Type.Object(
              {
                issuer: Type.String({ minLength: 1 }),
                audience: Type.Optional(Type.String({ minLength: 1 })),
                jwksUrl: Type.Optional(Type.String({ pattern: '^https?://' })),
                jwksCooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600 })),
                secret: Type.Optional(Type.String({ minLength: 1, description: 'HS* key; use ${secret:name}.' })),
                publicKey: Type.Optional(Type.String({ minLength: 1 })),
                algorithms: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
                claim: Type.Optional(Type.String({ minLength: 1, description: 'The claim naming the consumer (default sub).' })),
                clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
                hideCredentials: Type.Optional(Type.Boolean()),
              },
              { additionalProperties: false, description: 'Accept bearer JWTs from this issuer; the claim names the consumer, whose subscription must be approved.' },
            ),
          ),
          hmac: Type.Optional(Type.Omit(HmacOptions, ['credentials'], { additionalProperties: false, description: 'Accept HTTP message signatures (RFC 9421, hmac-sha256) made with the consumers\' HMAC credentials.' })),
          approval: Type.Optional(Type.Union([Type.Literal('auto'), Type.Literal('manual')], { description: 'Subscriptions are approved at once (auto, default) or wait for a team admin (manual).' })),
        },
        { additionalProperties: false, description: 'Who may call the API: with any credential method (keys, basic, jwt, hmac, in any mix), only applications (consumers) with an approved subscription.' },
      ),
    ),
    validation: Type.Optional(
      Type.Object(
        {
          requests: Type.Optional(Type.Boolean({ description: 'Check each request against its operation in `openapi` (parameters, Content-Type, JSON body) before it is proxied: 400 WEIR_REQUEST_INVALID, 415 WEIR_UNSUPPORTED_MEDIA_TYPE. Default false.' })),
          maxErrors: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Most problems listed in one 400 answer (default 10).' })),
        },
        { additionalProperties: false, description: 'Request validation against the API\'s OpenAPI schemas (the validate plugin on each route whose operation declares parameters or a body).' },
      ),
    ),
    routes: Type.Optional(Type.Array(Type.Composite([Route, Named]), { description: 'Paths relative to basePath/version; the prefix is stripped before proxying unless stripPrefix says otherwise.' })),
    flows: Type.Optional(Type.Array(Type.Composite([Type.Omit(Flow, ['name']), Named]), { description: 'Paths relative to basePath/version.' })),
    openapi: Type.Optional(
      Type.Object(
        {
          info: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          tags: Type.Optional(Type.Array(Type.Unknown())),
          components: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          routes: Type.Optional(
            Type.Record(
              Type.String(),
              Type.Object(
                {
                  operationId: Type.Optional(Type.String()),
                  summary: Type.Optional(Type.String()),
                  description: Type.Optional(Type.String()),
                  tags: Type.Optional(Type.Array(Type.String())),
                  deprecated: Type.Optional(Type.Boolean()),
                  parameters: Type.Optional(Type.Array(Type.Unknown())),
                  requestBody: Type.Optional(Type.Unknown()),
                  responses: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
                },
                { additionalProperties: false },
              ),
              { description: 'By route name: what OpenAPI says of its operation.' },
            ),
          ),
        },
        { additionalProperties: false, description: 'OpenAPI documentation of the API (as POST /api/v1/apis/import keeps it; exports and the portal show it): the document\'s info, tags and components (OpenAPI 3.1), and per route its operation\'s text, parameters, body and answers. Used to serve traffic only with `validation.requests`.' },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ApiSpecT = Static<typeof ApiSpec>;

export type ReleaseStatus = 'ready' | 'pending-approval' | 'approved' | 'rejected';

export interface ReleaseBody {
  api: string;
  number: number;
  spec: ApiSpecT;
  note: string;
  createdBy: string;
  status: ReleaseStatus;
  decidedBy?: string;
  reason?: string;
}

export type ApiState = 'draft' | 'published' | 'deprecated' | 'retired';

export interface ApiStatusBody {
  state: ApiState;
  /** The release serving traffic (published, deprecated), or the last one that did (retired). */
  release: number | null;
  /** When it was deprecated (ms), and the announced end (ISO date), for the headers. */
  deprecatedAt?: number;
  sunset?: string;
}

export const releaseName = (api: string, n: number): string => `${api}#${n}`;

/** Whether a release may be published: approval is needed when the API says so. */
export function publishable(release: ReleaseBody): boolean {
  return release.status === 'ready' || release.status === 'approved';
}

/** The routes and flows the APIs' statuses put into traffic, as weir.yaml entries. */
export function servedByApis(resources: readonly Resource[], anyService: string | undefined): { routes: Record<string, unknown>[]; flows: Record<string, unknown>[] } {
  const releases = new Map(resources.filter((r) => r.kind === 'release').map((r) => [r.name, r.body as unknown as ReleaseBody]));
  const routes: Record<string, unknown>[] = [];
  const flows: Record<string, unknown>[] = [];
  for (const status of resources.filter((r) => r.kind === 'api-status')) {
    const { state, release: number, deprecatedAt, sunset } = status.body as unknown as ApiStatusBody;
    if (state === 'draft' || number === null) continue;
    const release = releases.get(releaseName(status.name, number));
    if (release === undefined) continue;
    const { spec } = release;
    const prefix = `${spec.basePath}/${spec.version}`;
    if (state === 'retired') {
      const service = spec.routes?.[0]?.service ?? anyService;
      if (service === undefined) continue;
      const detail = `${prefix} (API "${status.name}") is retired`;
      for (const path of [prefix, `${prefix}/*`]) {
        routes.push({ name: `${status.name}:retired${path === prefix ? '' : ':*'}`, path, service, plugins: [{ name: 'respond', config: { code: 'WEIR_API_RETIRED', detail } }] });
      }
      continue;
    }
    const plugins: Record<string, unknown>[] = state === 'deprecated' ? [deprecationHeaders(deprecatedAt ?? 0, sunset)] : [];
    const auth = spec.access === undefined ? null : authPlugin(status.name, spec.access, resources);
    if (auth !== null) plugins.unshift(auth);
    for (const route of spec.routes ?? []) {
      // A route that lists its own validate plugin keeps it instead of the one from the documentation.
      const own = route.plugins?.some((p) => p.name === 'validate') === true;
      const validate = spec.validation?.requests === true && !own ? validationPluginFor(spec, route.name) : null;
      routes.push({
        ...route,
        name: `${status.name}:${route.name}`,
        path: join(prefix, route.path),
        stripPrefix: route.stripPrefix ?? prefix,
        plugins: [...(route.plugins ?? []), ...plugins, ...(validate === null ? [] : [validate])],
      });
    }
    for (const flow of spec.flows ?? []) {
      flows.push({ ...flow, name: `${status.name}:${flow.name}`, path: join(prefix, flow.path), plugins: [...(flow.plugins ?? []), ...plugins] });
    }
  }
  return { routes, flows };
}

type Access = NonNullable<ApiSpecT['access']>;

/**
 * The auth plugin of an API that accepts credentials: for each method it accepts, every live
 * credential (keys and passwords hashed, HMAC secrets as opened by the control plane) with its
 * consumer and that consumer's subscription to this API, so the data plane answers 401, 403 or
 * lets through on its own. Null when the API accepts no credentials (anyone may call it).
 */
function authPlugin(api: string, access: Access, resources: readonly Resource[]): Record<string, unknown> | null {
  const { keys, basic, jwt, hmac } = access;
  if (keys === undefined && basic === undefined && jwt === undefined && hmac === undefined) return null;
  const consumers = new Map(resources.filter((r) => r.kind === 'consumer').map((r) => [r.name, r]));
  const subscriptions = new Map(resources.filter((r) => r.kind === 'subscription').map((r) => [r.name, (r.body as { state: string }).state]));
  const subscription = (consumer: string) => subscriptions.get(`${consumer}@${api}`) ?? 'none';
  const tables = { key: {} as Record<string, unknown>, basic: {} as Record<string, unknown>, hmac: {} as Record<string, unknown> };
  for (const credential of resources.filter((r) => r.kind === 'credential')) {
    const body = credential.body as { consumer: string; type?: string; hash: string; salt?: string; username?: string; keyId?: string; secret?: string; expiresAt: number | null };
    const consumer = consumers.get(body.consumer);
    if (consumer === undefined) continue;
    const entry = { consumer: consumer.name, team: consumer.teamId, credential: credential.name, expiresAt: body.expiresAt, subscription: subscription(consumer.name) };
    if (body.type === 'basic') tables.basic[body.username!] = { ...entry, salt: body.salt, hash: body.hash };
    // A secret this node could not open is left out: its signatures are refused (401).
    else if (body.type === 'hmac') { if (typeof body.secret === 'string') tables.hmac[body.keyId!] = { ...entry, secret: body.secret }; }
    else tables.key[body.hash] = entry;
  }
  const config: Record<string, unknown> = { api };
  if (keys !== undefined) config['keys'] = { ...keys, credentials: tables.key };
  if (basic !== undefined) config['basic'] = { ...basic, credentials: tables.basic };
  if (hmac !== undefined) config['hmac'] = { ...hmac, credentials: tables.hmac };
  if (jwt !== undefined) {
    const named: Record<string, unknown> = {};
    for (const consumer of consumers.values()) named[consumer.name] = { team: consumer.teamId, subscription: subscription(consumer.name) };
    config['jwt'] = { ...jwt, consumers: named };
  }
  return { name: 'auth', config };
}

function join(prefix: string, path: string): string {
  return path === '/' ? prefix : `${prefix}${path}`;
}

/** `Deprecation: @<seconds>` (RFC 9745) and, when announced, `Sunset: <HTTP-date>` (RFC 8594). */
function deprecationHeaders(deprecatedAt: number, sunset: string | undefined): Record<string, unknown> {
  const set: Record<string, string> = { deprecation: `@${Math.floor(deprecatedAt / 1000)}` };
  if (sunset !== undefined) set['sunset'] = new Date(sunset).toUTCString();
  return { name: 'headers', config: { response: { set } } };
}

/**
 * Who owns each served route and flow, by name, for the call log: a stored route or flow is its
 * team's; a route or flow an API serves is the API's team's, with the API's name and version.
 * The file's own routes are nobody's (only system admins see their calls).
 */
export function routeOwners(resources: readonly Resource[]): Map<string, { team: string | null; api: string | null; apiVersion: string | null }> {
  const owners = new Map<string, { team: string | null; api: string | null; apiVersion: string | null }>();
  for (const r of resources) if (r.kind === 'route' || r.kind === 'flow') owners.set(r.name, { team: r.teamId, api: null, apiVersion: null });
  const releases = new Map(resources.filter((r) => r.kind === 'release').map((r) => [r.name, r.body as unknown as ReleaseBody]));
  for (const status of resources.filter((r) => r.kind === 'api-status')) {
    const { release: number } = status.body as unknown as ApiStatusBody;
    const spec = number === null ? undefined : releases.get(releaseName(status.name, number))?.spec;
    if (spec === undefined) continue;
    const owner = { team: status.teamId, api: status.name, apiVersion: spec.version };
    for (const item of [...(spec.routes ?? []), ...(spec.flows ?? []), { name: 'retired' }, { name: 'retired:*' }]) owners.set(`${status.name}:${item.name}`, owner);
  }
  return owners;
}
