import { Type, type Static } from '@sinclair/typebox';
import { Duration, Size } from '../../../config/schema.js';
import { durationMs, sizeBytes } from '../../../config/units.js';
import { parseCacheControl, storability, type StoreRules } from '../../../cache/policy.js';
import { responseCache } from '../../../cache/runtime.js';
import { variantKey, type CachedResponse, type MemoryStore } from '../../../cache/store.js';
import type { RedisStore } from '../../../cache/redis.js';
import { HeaderList } from '../../http/header-list.js';
import type { Plugin, PluginDefinition, RequestContext, ResponseInfo } from '../../pipeline/plugin.js';

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const Schema = Type.Object(
  {
    store: Type.Optional(Type.Union([Type.Literal('memory'), Type.Literal('redis')], { description: 'memory (each process its own, bounded by global.cache.memory.maxSize) or redis (shared by every node with the same global.cache.redis); default memory.' })),
    ttl: Type.Optional(Type.Union([...Duration.anyOf], { title: 'Duration', description: 'How long a response is fresh when the upstream gives no s-maxage, max-age or Expires (default 60s; 0: such responses are not stored).' })),
    staleWhileRevalidate: Type.Optional(Type.Union([...Duration.anyOf], { title: 'Duration', description: 'How long after it goes stale a response is still served (X-Cache: STALE) while one background request refreshes it, when the response has no stale-while-revalidate directive (default 0).' })),
    maxBodySize: Type.Optional(Type.Union([...Size.anyOf], { title: 'Size', description: 'Largest body stored; a longer response is streamed to the client and not stored (default 1mb).' })),
    methods: Type.Optional(Type.Array(Type.Union([Type.Literal('GET'), Type.Literal('HEAD')]), { minItems: 1, uniqueItems: true, description: 'Methods answered from the cache (default [GET, HEAD]); a HEAD is answered from the stored GET.' })),
    statuses: Type.Optional(Type.Array(Type.Integer({ minimum: 200, maximum: 599 }), { minItems: 1, uniqueItems: true, description: 'Response statuses that may be stored (default [200, 203, 300, 301, 308, 404, 410]).' })),
    keyHeaders: Type.Optional(Type.Array(HeaderName, { maxItems: 8, uniqueItems: true, description: 'Request headers whose values are part of the key.' })),
    keyConsumer: Type.Optional(Type.Boolean({ description: 'Key by the consumer an auth plugin identified: each consumer gets its own copy, and answers to requests with Authorization may be stored (default false).' })),
    clientCacheControl: Type.Optional(Type.Union([Type.Literal('ignore'), Type.Literal('honor')], { description: 'What a client\'s Cache-Control does: ignore (default: the cache protects the upstream) or honor (no-cache / max-age=0 fetch a fresh copy, which is stored; no-store bypasses the cache).' })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

const DEFAULT_STATUSES = [200, 203, 300, 301, 308, 404, 410];
const MAX_BODY_LIMIT = 64 * 1024 * 1024;
const STATE_KEY = 'cache';

type Store = MemoryStore | RedisStore;
/** What a finished miss hands to the requests that waited for it: the stored response, or null. */
type Shared = { record: CachedResponse; names: readonly string[]; variant: string } | null;

/** What the plugin decided for a request, kept until its response. */
type State =
  | { mode: 'HIT' | 'STALE'; age: number }
  | { mode: 'BYPASS' }
  | { mode: 'MISS'; key: string; store: Store; settle: ((shared: Shared) => void) | null };

/** Misses in flight in this process, by key: later requests for the key wait for the first. */
const flights = new Map<string, Promise<Shared>>();
/** Keys being refreshed in the background, so a stale response is refreshed once. */
const refreshing = new Set<string>();

/**
 * `cache`: answers GET (and HEAD) requests from stored upstream responses, per route, keyed by
 * route, path and query (plus chosen request headers and optionally the consumer), honouring
 * the upstream's Cache-Control / Expires / Vary as a shared cache must (src/cache/policy.ts).
 * Concurrent misses for one key make one upstream call; stale responses within their
 * stale-while-revalidate window are served at once and refreshed by one background request.
 * Every answer says `X-Cache: HIT | MISS | STALE | BYPASS`.
 *
 * @example
 * plugins:
 *   - name: cache
 *     config: { ttl: 30s, staleWhileRevalidate: 10s, keyHeaders: [accept-language] }
 */
export const cachePlugin: PluginDefinition<Config> = {
  name: 'cache',
  stage: 'cache',
  schema: Schema,
  check(config) {
    const problems: Array<{ path: string; message: string }> = [];
    const max = config.maxBodySize === undefined ? 1 : sizeBytes(config.maxBodySize);
    if (max < 1 || max > MAX_BODY_LIMIT) problems.push({ path: '/maxBodySize', message: `must be from 1 byte to 64mb (got ${JSON.stringify(config.maxBodySize)})` });
    for (const [i, status] of (config.statuses ?? []).entries()) {
      if (status === 204 || status === 206 || status === 304) problems.push({ path: `/statuses/${i}`, message: `${status} responses are never stored (no body to keep, or a partial/conditional answer)` });
    }
    return problems;
  },
  create(config) {
    const storeName = config.store ?? 'memory';
    responseCache.use(storeName);
    const methods = new Set<string>(config.methods ?? ['GET', 'HEAD']);
    const statuses = new Set(config.statuses ?? DEFAULT_STATUSES);
    const keyHeaders = (config.keyHeaders ?? []).map((h) => h.toLowerCase());
    const keyConsumer = config.keyConsumer ?? false;
    const honorClient = config.clientCacheControl === 'honor';
    const maxBody = config.maxBodySize === undefined ? 1024 * 1024 : sizeBytes(config.maxBodySize);
    const defaultTtlMs = config.ttl === undefined ? 60_000 : durationMs(config.ttl);
    const defaultSwrMs = config.staleWhileRevalidate === undefined ? 0 : durationMs(config.staleWhileRevalidate);

    const keyOf = (ctx: RequestContext, consumer: string | undefined): string => {
      let key = `${ctx.route.name} ${ctx.path}${ctx.query === '' ? '' : `?${ctx.query}`} GET`;
      for (const h of keyHeaders) key += ` h:${h}=${encodeURIComponent(headerOf(ctx, h) ?? '')}`;
      if (keyConsumer) key += ` c:${encodeURIComponent(consumer ?? '')}`;
      return key;
    };
    const rulesFor = (ctx: RequestContext): StoreRules => {
      const consumer = consumerOf(ctx);
      // A consumer identified by any credential (an API key header too) counts as Authorization.
      return { defaultTtlMs, defaultSwrMs, authorized: ctx.headers.authorization !== undefined || consumer !== undefined, keyedByConsumer: keyConsumer && consumer !== undefined };
    };

    /** Stores a response the upstream sent for `ctx` at `key`, if it may be; what waiting requests get. */
    const save = (ctx: RequestContext, store: Store, key: string, status: number, headers: string[], body: Buffer): Shared => {
      if (!statuses.has(status) || body.length > maxBody) return null;
      const list = new HeaderList(headers);
      const now = Date.now();
      const verdict = storability((name) => list.get(name), rulesFor(ctx), now);
      if (!verdict.store) return null;
      list.remove('age');
      const freshUntil = now + verdict.freshMs;
      const staleUntil = freshUntil + verdict.staleMs;
      const record: CachedResponse = { kind: 'response', status, headers: list.raw, body, storedAt: now, freshUntil, staleUntil, initialAge: verdict.ageSeconds };
      const names = varyNames(list.get('vary'));
      const ttl = staleUntil - now;
      let variant = key;
      if (names.length > 0) {
        variant = variantKey(key, names, (h) => headerOf(ctx, h));
        void responseCache.set(store, key, { kind: 'vary', names, staleUntil }, ttl);
      }
      void responseCache.set(store, variant, record, ttl);
      return { record, names, variant };
    };

    const serve = (ctx: RequestContext, record: CachedResponse, mode: 'HIT' | 'STALE'): void => {
      const age = record.initialAge + Math.max(0, Math.floor((Date.now() - record.storedAt) / 1000));
      ctx.state.set(STATE_KEY, { mode, age } satisfies State);
      ctx.respondStored!(record.status, record.headers, record.body);
    };

    /** One background request per key refreshes a stale response; the stale copy stays if it fails. */
    const refresh = (ctx: RequestContext, store: Store, key: string, variant: string): void => {
      if (refreshing.has(variant)) return;
      refreshing.add(variant);
      ctx.fetchUpstream!(maxBody).then(
        (answer) => {
          if (answer.body !== null) save(ctx, store, key, answer.status, answer.headers, answer.body);
        },
        () => {},
      ).finally(() => refreshing.delete(variant));
    };

    const lookup = async (ctx: RequestContext, store: Store, key: string, fresh: boolean): Promise<void> => {
      if (!fresh) {
        let record = await responseCache.get(store, key);
        let variant = key;
        if (record?.kind === 'vary') {
          variant = variantKey(key, record.names, (h) => headerOf(ctx, h));
          record = await responseCache.get(store, variant);
        }
        if (record?.kind === 'response') {
          const now = Date.now();
          if (now < record.freshUntil) return serve(ctx, record, 'HIT');
          if (now < record.staleUntil) {
            refresh(ctx, store, key, variant); // a GET even for a HEAD
            return serve(ctx, record, 'STALE');
          }
        }
      }
      if (ctx.method === 'HEAD') {
        // A HEAD is answered from a stored GET but never stores one.
        ctx.state.set(STATE_KEY, { mode: 'MISS', key, store, settle: null } satisfies State);
        return;
      }
      const flight = flights.get(key);
      if (flight !== undefined && !fresh) {
        const shared = await flight;
        if (shared !== null && (shared.names.length === 0 || variantKey(key, shared.names, (h) => headerOf(ctx, h)) === shared.variant)) {
          return serve(ctx, shared.record, 'HIT');
        }
        // Not cacheable after all (or another variant): this request goes upstream itself.
        ctx.state.set(STATE_KEY, { mode: 'MISS', key, store, settle: null } satisfies State);
        return;
      }
      let settle: ((shared: Shared) => void) | null = null;
      if (flight === undefined) {
        const promise = new Promise<Shared>((resolve) => {
          settle = (shared) => {
            if (flights.get(key) === promise) flights.delete(key);
            resolve(shared);
          };
        });
        flights.set(key, promise);
      }
      ctx.state.set(STATE_KEY, { mode: 'MISS', key, store, settle } satisfies State);
    };

    const bypass = (ctx: RequestContext): void => {
      ctx.state.set(STATE_KEY, { mode: 'BYPASS' } satisfies State);
    };

    return {
      name: 'cache',
      stage: 'cache',
      onRequest(ctx: RequestContext): void | Promise<void> {
        // Flow routes have no stored-response path: the cache is for proxied routes.
        if (ctx.respondStored === undefined) return;
        if (!methods.has(ctx.method) || ctx.headers.range !== undefined) return bypass(ctx);
        let fresh = false;
        if (honorClient) {
          const header = ctx.headers['cache-control'];
          const cc = parseCacheControl(header ?? (ctx.headers.pragma === 'no-cache' ? 'no-cache' : undefined));
          if (cc.noStore) return bypass(ctx);
          fresh = cc.noCache || cc.maxAge === 0;
        }
        const store = responseCache.store(storeName);
        if (store === 'unavailable') return bypass(ctx);
        return lookup(ctx, store, keyOf(ctx, consumerOf(ctx)), fresh);
      },
      onResponse(ctx: RequestContext, response: ResponseInfo): void {
        const state = ctx.state.get(STATE_KEY) as State | undefined;
        if (state === undefined) return;
        response.headers.set('x-cache', state.mode);
        if (state.mode === 'HIT' || state.mode === 'STALE') {
          response.headers.set('age', String(state.age));
          return;
        }
        if (state.mode !== 'MISS' || ctx.method === 'HEAD') return;
        const { key, store, settle } = state;
        const status = response.status;
        if (!statuses.has(status) || response.transformBody === undefined) return settle?.(null);
        const headers = response.upstreamHeaders!();
        const list = new HeaderList(headers);
        // Decided now, so requests waiting for this one need not wait for its body to be refused.
        if (!storability((name) => list.get(name), rulesFor(ctx), Date.now()).store) return settle?.(null);
        response.transformBody(maxBody, (body) => {
          const shared = save(ctx, store, key, status, headers, body);
          settle?.(shared);
          return body;
        });
      },
      onLog(ctx: RequestContext): void {
        // A miss that ended without its body being stored (too large, failed, client gone).
        const state = ctx.state.get(STATE_KEY) as State | undefined;
        if (state?.mode === 'MISS') state.settle?.(null);
      },
    } satisfies Plugin;
  },
};

function headerOf(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function consumerOf(ctx: RequestContext): string | undefined {
  const c = ctx.state.get('consumer') as { id?: unknown } | undefined;
  return c === undefined || c === null || c.id === undefined || c.id === null ? undefined : String(c.id);
}

/** The request headers a response's Vary names, lower-case, sorted, once each. */
function varyNames(vary: string | undefined): string[] {
  if (vary === undefined) return [];
  return [...new Set(vary.split(',').map((v) => v.trim().toLowerCase()).filter((v) => v !== ''))].sort();
}
