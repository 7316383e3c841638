/**
 * `auth`: one authentication plugin for every credential method a consumer can hold — API keys,
 * HTTP Basic, JWTs and HMAC request signatures (RFC 9421) — in any mix. Which method a request
 * uses is read from what the client sent (Signature headers; the key header; Basic; a Bearer
 * token shaped like a JWT, else an API key). Whatever the method, what follows is the same: no or
 * a bad credential → 401 with a `WWW-Authenticate` challenge naming every accepted method; a
 * consumer without an approved subscription → 403 saying which; otherwise the request goes on
 * with `X-Consumer-Id`, `X-Consumer-Team` and `X-Credential-Id` (a client's own copies are always
 * removed) and, by default, without what the method used.
 *
 * The control plane adds it to an API's routes and flows with the tables filled in (src/control/
 * apis.ts); a file route can list its own methods and tables. `key-auth` and `jwt-auth` are the
 * same plugin with one method each.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ERRORS, type ErrorCode } from '../../../errors.js';
import { respondProblem, type Plugin, type PluginDefinition, type RequestContext } from '../../pipeline/plugin.js';
import { hmacMethod, HmacOptions } from './hmac.js';
import { checkJwt, jwtMethod, JwtOptions } from './jwt.js';
import { BasicOptions, basicMethod, KeysOptions, keysMethod } from './keys.js';
import type { Method } from './method.js';
import { IDENTITY_HEADERS, REFUSALS } from './method.js';

export { IDENTITY_HEADERS, REFUSALS } from './method.js';

export const AuthSchema = Type.Object(
  {
    api: Type.String({ minLength: 1, description: 'The API whose subscriptions are checked.' }),
    keys: Type.Optional(KeysOptions),
    basic: Type.Optional(BasicOptions),
    jwt: Type.Optional(JwtOptions),
    hmac: Type.Optional(HmacOptions),
  },
  { additionalProperties: false },
);
export type AuthConfig = Static<typeof AuthSchema>;

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The configured methods, the order they are named in challenges and messages. */
interface Methods {
  keys: (Method & { header: string }) | null;
  basic: Method | null;
  jwt: Method | null;
  hmac: Method | null;
}

/** The plugin for `config`, under `name` (`auth`, or the single-method `key-auth` / `jwt-auth`). */
export function createAuth(config: AuthConfig, name: string): Plugin {
  const methods: Methods = {
    keys: config.keys === undefined ? null : keysMethod(config.keys),
    basic: config.basic === undefined ? null : basicMethod(config.api, config.basic),
    jwt: config.jwt === undefined ? null : jwtMethod(config.jwt),
    hmac: config.hmac === undefined ? null : hmacMethod(config.api, config.hmac),
  };
  const accepted = [methods.keys, methods.basic, methods.jwt, methods.hmac].filter((m): m is Method => m !== null);
  const challenge = challengeOf(accepted, null);
  const missing = `send ${accepted.map((m) => m.asks).join(', or ')}`;
  const { api } = config;

  const choose = (ctx: RequestContext): Method | null => {
    const { headers } = ctx;
    if (methods.hmac !== null && (headers['signature-input'] !== undefined || headers['signature'] !== undefined)) return methods.hmac;
    if (methods.keys !== null && typeof headers[methods.keys.header] === 'string' && headers[methods.keys.header] !== '') return methods.keys;
    const authorization = headers.authorization;
    if (authorization === undefined) return null;
    if (methods.basic !== null && /^Basic\s/i.test(authorization)) return methods.basic;
    const bearer = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (bearer === null) return null;
    if (methods.jwt !== null && JWT_SHAPE.test(bearer[1]!)) return methods.jwt;
    return methods.keys;
  };

  const decide = (ctx: RequestContext, method: Method, verdict: Awaited<ReturnType<Method['verify']>>): void => {
    if (!verdict.ok) {
      if (ERRORS[verdict.code].status !== 401) return respondProblem(ctx, verdict.code, verdict.detail, verdict.code === 'WEIR_RATE_LIMIT_UNAVAILABLE' ? { 'retry-after': '1' } : {});
      return refuse(ctx, verdict.code, verdict.detail, verdict.challenge === undefined ? challenge : challengeOf(accepted, verdict.challenge));
    }
    const { identity } = verdict;
    if (identity.subscription !== 'approved') {
      const refusal = REFUSALS[identity.subscription];
      return respondProblem(ctx, refusal.code, `${refusal.detail} (API "${api}", consumer ${JSON.stringify(identity.consumer)})`);
    }
    const upstream = ctx.upstreamHeaders;
    if (method.hideCredentials) for (const header of verdict.used) upstream.remove(header);
    upstream.set('x-consumer-id', identity.consumer).set('x-consumer-team', identity.team).set('x-credential-id', identity.credential);
    ctx.state.set('consumer', { id: identity.consumer, team: identity.team });
  };

  return {
    name,
    stage: 'authenticate',
    onRequest(ctx) {
      for (const header of IDENTITY_HEADERS) ctx.upstreamHeaders.remove(header);
      const method = choose(ctx);
      if (method === null) return refuse(ctx, 'WEIR_CREDENTIAL_MISSING', missing, challenge);
      const verdict = method.verify(ctx);
      if (!(verdict instanceof Promise)) return decide(ctx, method, verdict);
      return verdict.then((v) => decide(ctx, method, v));
    },
  };
}

/** `WWW-Authenticate`: one challenge per scheme of the accepted methods; a failed method's own replaces its scheme's. */
function challengeOf(methods: readonly Method[], failed: readonly string[] | null): string {
  const byScheme = new Map<string, string>();
  const scheme = (part: string) => part.split(' ', 1)[0]!.toLowerCase();
  for (const method of methods) for (const part of method.challenge) if (!byScheme.has(scheme(part))) byScheme.set(scheme(part), part);
  for (const part of failed ?? []) byScheme.set(scheme(part), part);
  return [...byScheme.values()].join(', ');
}

function refuse(ctx: RequestContext, code: ErrorCode, detail: string, challenge: string): void {
  respondProblem(ctx, code, detail, { 'www-authenticate': challenge });
}

export const authPlugin: PluginDefinition<AuthConfig> = {
  name: 'auth',
  stage: 'authenticate',
  schema: AuthSchema,
  check(config) {
    if ([config.keys, config.basic, config.jwt, config.hmac].every((m) => m === undefined)) return [{ path: '', message: 'accept at least one method: keys, basic, jwt or hmac' }];
    return config.jwt === undefined ? [] : checkJwt(config.jwt).map((p) => ({ ...p, path: `/jwt${p.path}` }));
  },
  create: (config) => createAuth(config, 'auth'),
};
