/**
 * Consumers (a team's applications), their API keys and their subscriptions to APIs. A key is
 * shown once and stored as a SHA-256 hash; rotating is creating a new key and revoking the old one
 * when clients have moved (both work meanwhile). A consumer subscribes to a published API of any
 * team; the API's team approves or rejects (at once when the API says `approval: auto`), and can
 * revoke later. Every change is a resource write: audited, and live on every node within a second.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { ApiSpecT, ApiStatusBody } from '../../control/apis.js';
import { hmacSealName, type SecretBox } from '../../control/secrets.js';
import type { ConfigStore, Resource } from '../../store/config-store.js';
import type { Principal } from './access.js';
import { visibleTeam } from './identity.js';
import { ApiError, Page, PageQuery, pageOf, type ApiRequest, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

const KEY_PREFIX = 'weir_key_';
const HMAC_KEY_PREFIX = 'weir_hk_';
const HMAC_SECRET_PREFIX = 'weir_hs_';
const Expiry = Type.Object({ expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) });
const expiresAtOf = (body: unknown): number | null => {
  const { expiresInDays } = body as { expiresInDays?: number };
  return expiresInDays === undefined ? null : Date.now() + expiresInDays * 86_400_000;
};
const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' });
const ConsumerView = Type.Object({ name: Type.String(), team: Type.String(), description: Type.String(), createdAt: Type.String({ format: 'date-time' }) }, { $id: 'Consumer' });
const KeyView = Type.Object(
  {
    id: Type.String(),
    type: Type.Union([Type.Literal('key'), Type.Literal('basic'), Type.Literal('hmac')]),
    prefix: Type.Union([Type.String(), Type.Null()], { description: 'A key\'s first characters.' }),
    username: Type.Union([Type.String(), Type.Null()], { description: 'A Basic credential\'s user name.' }),
    keyId: Type.Union([Type.String(), Type.Null()], { description: 'An HMAC credential\'s key id (the signature\'s keyid); its secret is never shown again.' }),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'Credential' },
);
type SubscriptionState = 'pending' | 'approved' | 'rejected' | 'revoked';
const SubscriptionView = Type.Object(
  {
    consumer: Type.String(),
    api: Type.String(),
    state: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('rejected'), Type.Literal('revoked')]),
    reason: Type.Union([Type.String(), Type.Null()]),
    decidedBy: Type.Union([Type.String(), Type.Null()]),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'Subscription' },
);
interface SubscriptionBody {
  consumer: string;
  api: string;
  state: SubscriptionState;
  reason: string | null;
  decidedBy: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function consumerOperations(store: ConfigStore, host: ConfigHost, box?: SecretBox): Operation[] {
  const kit = resourceKit(store, host);
  const consumerView = async (r: Resource) => ({ name: r.name, team: await kit.teamName(r.teamId), description: (r.body as { description?: string }).description ?? '', createdAt: iso(r.createdAt)! });
  const subscriptionView = (r: Resource) => {
    const b = r.body as unknown as SubscriptionBody;
    return { consumer: b.consumer, api: b.api, state: b.state, reason: b.reason, decidedBy: b.decidedBy, updatedAt: iso(r.updatedAt)! };
  };
  const consumer = (r: ApiRequest) => kit.visible('consumer', r.params['name']!, r.principal, 'consumer');
  const mayChange = async (principal: Principal, c: Resource) => kit.mayWrite(principal, c.teamId, await kit.teamName(c.teamId), 'consumer');
  const all = async (kind: 'credential' | 'subscription', match: (body: Record<string, unknown>) => boolean) => (await store.allResources()).filter((r) => r.kind === kind && match(r.body));

  /** A published (or deprecated) API anyone may subscribe to; others' drafts stay invisible. */
  const subscribable = async (name: string, principal: Principal): Promise<{ api: Resource; spec: ApiSpecT }> => {
    const api = await store.getResource('api', name);
    const state = ((await store.getResource('api-status', name))?.body as ApiStatusBody | undefined)?.state;
    const listed = state === 'published' || state === 'deprecated';
    if (api === undefined || (!listed && !principal.canRead(api.teamId))) throw new ApiError('WEIR_NOT_FOUND', `no API "${name}"`);
    if (!listed) throw new ApiError('WEIR_INVALID_STATE', `API "${name}" is ${state ?? 'draft'}: only published APIs take subscriptions`);
    return { api, spec: api.body as unknown as ApiSpecT };
  };

  const decide = (verb: 'approve' | 'reject' | 'revoke', to: SubscriptionState, from: SubscriptionState[]): Operation => ({
    method: 'POST',
    path: `/api/v1/apis/{api}/subscriptions/{consumer}/${verb}`,
    operationId: `${verb}Subscription`,
    summary: `${verb[0]!.toUpperCase()}${verb.slice(1)}s a subscription to the API (an admin of the API's team)${verb === 'revoke' ? '; the key stops working for this API within a second' : ''}.`,
    tag: 'consumers',
    auth: 'user',
    body: Type.Object({ reason: verb === 'approve' ? Type.Optional(Type.String({ maxLength: 2000 })) : Type.String({ minLength: 1, maxLength: 2000 }) }),
    response: SubscriptionView,
    errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_INVALID_STATE'],
    async handle(r) {
      const api = await kit.visible('api', r.params['api']!, r.principal, 'API');
      if (!r.principal.canManage(api.teamId)) throw new ApiError('WEIR_FORBIDDEN', `only an admin of the API's team may ${verb} subscriptions`);
      const name = `${r.params['consumer']}@${api.name}`;
      const found = await store.getResource('subscription', name);
      if (found === undefined) throw new ApiError('WEIR_NOT_FOUND', `consumer "${r.params['consumer']}" has no subscription to API "${api.name}"`);
      const body = found.body as unknown as SubscriptionBody;
      if (!from.includes(body.state)) throw new ApiError('WEIR_INVALID_STATE', `the subscription is ${body.state}; only a ${from.join(' or ')} one can be ${to}`);
      const next: SubscriptionBody = { ...body, state: to, reason: (r.body as { reason?: string }).reason ?? null, decidedBy: r.principal.user.username };
      const saved = await kit.written(store.writeResource({ kind: 'subscription', name, teamId: found.teamId, body: next as unknown as Record<string, unknown>, expectedVersion: found.version }, r.principal.user.username));
      return { status: 200, body: subscriptionView(saved!) };
    },
  });

  return [
    {
      method: 'GET',
      path: '/api/v1/consumers',
      operationId: 'listConsumers',
      summary: 'The consumers (applications) of the caller\'s teams.',
      tag: 'consumers',
      auth: 'user',
      query: PageQuery,
      response: Page(ConsumerView),
      async handle(r) {
        const page = await store.listResources('consumer', pageOf(r.query), r.principal.readableTeams());
        return { status: 200, body: { items: await Promise.all(page.items.map(consumerView)), next: page.next } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/consumers',
      operationId: 'createConsumer',
      summary: 'Creates a consumer: an application of a team that calls APIs with its keys.',
      tag: 'consumers',
      auth: 'user',
      status: 201,
      body: Type.Object({ name: Name, team: Type.String(), description: Type.Optional(Type.String({ maxLength: 2000 })) }),
      response: ConsumerView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_NOT_FOUND'],
      async handle(r) {
        const { name, team: teamName, description } = r.body as { name: string; team: string; description?: string };
        const team = await visibleTeam(store, r.principal, teamName);
        kit.mayWrite(r.principal, team.id, team.name, 'consumer');
        const saved = await kit.written(store.writeResource({ kind: 'consumer', name, teamId: team.id, body: { description: description ?? '' }, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: await consumerView(saved!), headers: { location: `/api/v1/consumers/${encodeURIComponent(name)}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/consumers/{name}',
      operationId: 'getConsumer',
      summary: 'One consumer.',
      tag: 'consumers',
      auth: 'user',
      response: ConsumerView,
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => ({ status: 200, body: await consumerView(await consumer(r)) }),
    },
    {
      method: 'DELETE',
      path: '/api/v1/consumers/{name}',
      operationId: 'deleteConsumer',
      summary: 'Deletes a consumer with its keys and subscriptions (its keys stop working within a second).',
      tag: 'consumers',
      auth: 'user',
      status: 204,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        const actor = r.principal.user.username;
        const owned = (await store.allResources()).filter((o) => (o.kind === 'credential' || o.kind === 'subscription') && o.body['consumer'] === c.name);
        for (const o of owned) await store.writeResource({ kind: o.kind, name: o.name, teamId: o.teamId, body: null, expectedVersion: undefined }, actor);
        await kit.written(store.writeResource({ kind: 'consumer', name: c.name, teamId: c.teamId, body: null, expectedVersion: undefined }, actor));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/consumers/{name}/keys',
      operationId: 'listKeys',
      summary: 'The consumer\'s credentials: API keys (prefixes only), Basic user names and HMAC key ids.',
      tag: 'consumers',
      auth: 'user',
      response: Type.Object({ items: Type.Array(KeyView) }),
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const c = await consumer(r);
        const keys = await all('credential', (b) => b['consumer'] === c.name);
        const view = (k: Resource) => {
          const b = k.body as { type?: string; prefix?: string; username?: string; keyId?: string; expiresAt: number | null };
          const type = b.type === 'basic' || b.type === 'hmac' ? b.type : 'key';
          return { id: k.name, type, prefix: b.prefix ?? null, username: b.username ?? null, keyId: b.keyId ?? null, createdAt: iso(k.createdAt)!, expiresAt: iso(b.expiresAt) };
        };
        return { status: 200, body: { items: keys.map(view) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/consumers/{name}/keys',
      operationId: 'createKey',
      summary: 'Creates an API key; the key is in this answer only. Rotate by creating a new key, then revoking the old one.',
      tag: 'consumers',
      auth: 'user',
      status: 201,
      body: Expiry,
      response: Type.Object({ id: Type.String(), key: Type.String({ description: 'Shown once.' }), prefix: Type.String(), expiresAt: Type.Union([Type.String(), Type.Null()]) }),
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        const key = KEY_PREFIX + randomBytes(24).toString('base64url');
        const expiresAt = expiresAtOf(r.body);
        const body = { consumer: c.name, type: 'key', prefix: key.slice(0, KEY_PREFIX.length + 6), hash: createHash('sha256').update(key).digest('base64url'), expiresAt };
        const id = randomUUID();
        await kit.written(store.writeResource({ kind: 'credential', name: id, teamId: c.teamId, body, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: { id, key, prefix: body.prefix, expiresAt: iso(expiresAt) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/consumers/{name}/hmac-credentials',
      operationId: 'createHmacCredential',
      summary: 'Creates an HMAC credential for signing requests (RFC 9421 HTTP Message Signatures, hmac-sha256; for APIs with access.hmac): a key id and a secret, the secret in this answer only. The secret is stored sealed (AES-256-GCM), since the gateway recomputes signatures. Rotate by creating a new one, then revoking the old one; revoke it like a key.',
      tag: 'consumers',
      auth: 'user',
      status: 201,
      body: Expiry,
      response: Type.Object({
        id: Type.String(),
        keyId: Type.String({ description: 'What the signature names as keyid.' }),
        secret: Type.String({ description: 'Shown once. Its UTF-8 bytes are the HMAC key.' }),
        expiresAt: Type.Union([Type.String(), Type.Null()]),
      }),
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_SECRETS_UNAVAILABLE'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        if (box === undefined) throw new ApiError('WEIR_SECRETS_UNAVAILABLE', 'this node has no secret key to seal the HMAC secret with: set WEIR_SECRET_KEY or WEIR_SECRET_KEY_FILE');
        const id = randomUUID();
        const keyId = HMAC_KEY_PREFIX + randomBytes(12).toString('base64url');
        const secret = HMAC_SECRET_PREFIX + randomBytes(32).toString('base64url');
        const expiresAt = expiresAtOf(r.body);
        const body = { consumer: c.name, type: 'hmac', keyId, sealed: box.seal(secret, c.teamId, hmacSealName(id)).sealed, expiresAt };
        await kit.written(store.writeResource({ kind: 'credential', name: id, teamId: c.teamId, body: body as unknown as Record<string, unknown>, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: { id, keyId, secret, expiresAt: iso(expiresAt) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/consumers/{name}/basic-credentials',
      operationId: 'createBasicCredential',
      summary: 'Creates an HTTP Basic credential (for APIs with access.basic); the password is stored salted and hashed. Revoke it like a key.',
      tag: 'consumers',
      auth: 'user',
      status: 201,
      body: Type.Object({ username: Type.String({ pattern: '^[^:\\s]{1,128}$', description: 'No colon, no spaces; unique among Basic credentials.' }), password: Type.String({ minLength: 16, maxLength: 1000, description: 'At least 16 characters.' }) }),
      response: Type.Object({ id: Type.String(), username: Type.String() }),
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        const { username, password } = r.body as { username: string; password: string };
        if ((await all('credential', (b) => b['type'] === 'basic' && b['username'] === username)).length > 0) throw new ApiError('WEIR_ALREADY_EXISTS', `a Basic credential "${username}" exists`);
        const salt = randomBytes(16).toString('base64url');
        // Checked on every request, so a fast hash with a per-credential salt (and long passwords) rather than scrypt.
        const hash = createHash('sha256').update(salt).update(password).digest('base64url');
        const id = randomUUID();
        await kit.written(store.writeResource({ kind: 'credential', name: id, teamId: c.teamId, body: { consumer: c.name, type: 'basic', username, salt, hash, expiresAt: null }, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: { id, username } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/consumers/{name}/keys/{id}',
      operationId: 'revokeKey',
      summary: 'Revokes a credential (API key, Basic or HMAC): it stops working on every node within a second.',
      tag: 'consumers',
      auth: 'user',
      status: 204,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        const key = await store.getResource('credential', r.params['id']!);
        if (key === undefined || (key.body as { consumer: string }).consumer !== c.name) throw new ApiError('WEIR_NOT_FOUND', `consumer "${c.name}" has no key "${r.params['id']}"`);
        await kit.written(store.writeResource({ kind: 'credential', name: key.name, teamId: key.teamId, body: null, expectedVersion: key.version }, r.principal.user.username));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/consumers/{name}/subscriptions',
      operationId: 'listConsumerSubscriptions',
      summary: 'The consumer\'s subscriptions and their states.',
      tag: 'consumers',
      auth: 'user',
      response: Type.Object({ items: Type.Array(SubscriptionView) }),
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const c = await consumer(r);
        return { status: 200, body: { items: (await all('subscription', (b) => b['consumer'] === c.name)).map(subscriptionView) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/consumers/{name}/subscriptions',
      operationId: 'subscribe',
      summary: 'Subscribes the consumer to a published API: approved at once, or pending until the API\'s team decides.',
      tag: 'consumers',
      auth: 'user',
      status: 201,
      body: Type.Object({ api: Type.String() }),
      response: SubscriptionView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_INVALID_STATE'],
      async handle(r) {
        const c = await consumer(r);
        await mayChange(r.principal, c);
        const { api, spec } = await subscribable((r.body as { api: string }).api, r.principal);
        const state: SubscriptionState = spec.access?.approval === 'manual' ? 'pending' : 'approved';
        const body: SubscriptionBody = { consumer: c.name, api: api.name, state, reason: null, decidedBy: state === 'approved' ? 'auto' : null };
        const saved = await kit.written(store.writeResource({ kind: 'subscription', name: `${c.name}@${api.name}`, teamId: c.teamId, body: body as unknown as Record<string, unknown>, expectedVersion: null }, r.principal.user.username));
        return { status: 201, body: subscriptionView(saved!) };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/apis/{api}/subscriptions',
      operationId: 'listApiSubscriptions',
      summary: 'Who subscribed to the API, and in which state (the API\'s team: its approval queue).',
      tag: 'consumers',
      auth: 'user',
      response: Type.Object({ items: Type.Array(SubscriptionView) }),
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const api = await kit.visible('api', r.params['api']!, r.principal, 'API');
        return { status: 200, body: { items: (await all('subscription', (b) => b['api'] === api.name)).map(subscriptionView) } };
      },
    },
    decide('approve', 'approved', ['pending', 'rejected', 'revoked']),
    decide('reject', 'rejected', ['pending']),
    decide('revoke', 'revoked', ['approved']),
  ];
}
