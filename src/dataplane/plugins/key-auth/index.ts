import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { ErrorCode } from '../../../errors.js';
import { respondProblem, type PluginDefinition, type RequestContext } from '../../pipeline/plugin.js';

const Entry = Type.Object(
  {
    consumer: Type.String(),
    team: Type.String(),
    credential: Type.String(),
    /** ms since the epoch; null: no expiry. */
    expiresAt: Type.Union([Type.Number(), Type.Null()]),
    subscription: Type.Union([Type.Literal('approved'), Type.Literal('pending'), Type.Literal('rejected'), Type.Literal('revoked'), Type.Literal('none')]),
  },
  { additionalProperties: false },
);
const Schema = Type.Object(
  {
    api: Type.String({ minLength: 1, description: 'The API whose subscriptions are checked.' }),
    header: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'Where the key is sent (default x-api-key; `Authorization: Bearer <key>` works too).' })),
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Remove the key before the request goes upstream (default true).' })),
    keys: Type.Record(Type.String(), Entry, { description: 'SHA-256 (base64url) of each live key → its consumer and that consumer\'s subscription to the API. Filled in by the control plane.' }),
    basic: Type.Optional(
      Type.Record(Type.String(), Type.Composite([Entry, Type.Object({ salt: Type.String(), hash: Type.String() })]), {
        description: 'HTTP Basic: user name → salt, SHA-256 of salt and password, and the same consumer entry. Filled in by the control plane when the API accepts Basic.',
      }),
    ),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/** Identity headers the upstream may trust: a client's own copies are always removed. */
export const IDENTITY_HEADERS = ['x-consumer-id', 'x-consumer-team', 'x-credential-id'] as const;

export type SubscriptionState = Static<typeof Entry>['subscription'];

/** Why a consumer without an approved subscription is refused. */
export const REFUSALS: Record<Exclude<SubscriptionState, 'approved'>, { code: ErrorCode; detail: string }> = {
  none: { code: 'WEIR_NOT_SUBSCRIBED', detail: 'this application has no subscription to the API: subscribe first' },
  pending: { code: 'WEIR_SUBSCRIPTION_PENDING', detail: 'the subscription waits for the API team\'s approval' },
  rejected: { code: 'WEIR_SUBSCRIPTION_REJECTED', detail: 'the API team rejected the subscription' },
  revoked: { code: 'WEIR_SUBSCRIPTION_REVOKED', detail: 'the subscription was revoked' },
};

/**
 * `key-auth`: the API-key check of an API that requires keys (the control plane adds it to the
 * API's routes and flows, with the table of hashed keys). No key or an unknown, expired or
 * revoked one → 401 with `WWW-Authenticate`; a known key without an approved subscription → 403
 * saying which; otherwise the request goes on with `X-Consumer-Id`, `X-Consumer-Team` and
 * `X-Credential-Id` set (client-sent copies removed) and, by default, without the key.
 */
export const keyAuthPlugin: PluginDefinition<Config> = {
  name: 'key-auth',
  stage: 'authenticate',
  schema: Schema,
  create(config) {
    const header = (config.header ?? 'x-api-key').toLowerCase();
    const hide = config.hideCredentials ?? true;
    const keys = new Map(Object.entries(config.keys));
    const basic = config.basic === undefined ? null : new Map(Object.entries(config.basic));
    const challenge = `ApiKey header="${header}", Bearer${basic === null ? '' : `, Basic realm="${config.api}", charset="UTF-8"`}`;
    return {
      name: 'key-auth',
      stage: 'authenticate',
      onRequest(ctx) {
        const upstream = ctx.upstreamHeaders;
        for (const name of IDENTITY_HEADERS) upstream.remove(name);
        const sent = keyOf(ctx, header);
        if (sent === undefined && basic !== null && /^Basic\s/i.test(ctx.headers.authorization ?? '')) {
          const entry = basicEntry(basic, ctx.headers.authorization!);
          return entry === undefined ? refuseRequest(ctx, 'WEIR_CREDENTIAL_INVALID', 'wrong user name or password', challenge) : admit(ctx, config.api, entry, hide ? 'authorization' : null);
        }
        if (sent === undefined) return refuseRequest(ctx, 'WEIR_CREDENTIAL_MISSING', `send your API key in ${header} (or Authorization: Bearer)`, challenge);
        const entry = keys.get(createHash('sha256').update(sent.key).digest('base64url'));
        if (entry === undefined || (entry.expiresAt !== null && entry.expiresAt <= Date.now())) {
          return refuseRequest(ctx, 'WEIR_CREDENTIAL_INVALID', 'the API key is unknown, revoked or expired', challenge);
        }
        admit(ctx, config.api, entry, hide ? sent.from : null);
      },
    };
  },
};

type KeyEntry = Static<typeof Entry>;

/** A known credential: refused without an approved subscription, else passed on with identity headers. */
function admit(ctx: RequestContext, api: string, entry: KeyEntry, hide: string | null): void {
  if (entry.subscription !== 'approved') {
    const refusal = REFUSALS[entry.subscription];
    return refuseRequest(ctx, refusal.code, `${refusal.detail} (API "${api}")`);
  }
  if (hide !== null) ctx.upstreamHeaders.remove(hide);
  ctx.upstreamHeaders.set('x-consumer-id', entry.consumer).set('x-consumer-team', entry.team).set('x-credential-id', entry.credential);
  ctx.state.set('consumer', { id: entry.consumer, team: entry.team });
}

/** The live entry for `Authorization: Basic …` when the user exists and the password matches. */
function basicEntry(basic: ReadonlyMap<string, KeyEntry & { salt: string; hash: string }>, authorization: string): KeyEntry | undefined {
  const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const entry = basic.get(decoded.slice(0, colon));
  if (entry === undefined || (entry.expiresAt !== null && entry.expiresAt <= Date.now())) return undefined;
  const hash = createHash('sha256').update(entry.salt).update(decoded.slice(colon + 1)).digest();
  const expected = Buffer.from(entry.hash, 'base64url');
  return hash.length === expected.length && timingSafeEqual(hash, expected) ? entry : undefined;
}

function keyOf(ctx: RequestContext, header: string): { key: string; from: string } | undefined {
  const direct = ctx.headers[header];
  if (typeof direct === 'string' && direct !== '') return { key: direct, from: header };
  const authorization = ctx.headers.authorization;
  if (authorization !== undefined && /^Bearer\s+\S+$/i.test(authorization)) return { key: authorization.replace(/^Bearer\s+/i, ''), from: 'authorization' };
  return undefined;
}

/** Answers problem+json for `code`, with a `WWW-Authenticate` challenge for 401s. */
export function refuseRequest(ctx: RequestContext, code: ErrorCode, detail: string, challenge?: string): void {
  respondProblem(ctx, code, detail, challenge === undefined ? {} : { 'www-authenticate': challenge });
}
