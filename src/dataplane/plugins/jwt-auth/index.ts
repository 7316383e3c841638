import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { JWTVerifyGetKey } from 'jose';

type Jose = typeof import('jose');
/** jose is loaded with the first token checked: most gateways never verify a JWT. */
let jose: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));
import type { PluginDefinition } from '../../pipeline/plugin.js';
import { IDENTITY_HEADERS, refuseRequest, REFUSALS, type SubscriptionState } from '../key-auth/index.js';

const Schema = Type.Object(
  {
    api: Type.String({ minLength: 1 }),
    issuer: Type.String({ minLength: 1, description: 'Required `iss`.' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: 'Required `aud`, when given.' })),
    jwksUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'Where the issuer publishes its keys (cached; refetched for an unknown `kid`, so key rotation just works).' })),
    jwksCooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, description: 'After a fetch, the JWKS is not fetched again for an unknown kid for this long (default 30): tokens with made-up kids cannot flood the issuer.' })),
    secret: Type.Optional(Type.String({ minLength: 32, description: 'Shared key for HS256/384/512 (use ${secret:name}).' })),
    publicKey: Type.Optional(Type.String({ pattern: '-----BEGIN PUBLIC KEY-----', description: 'PEM public key for RS*/PS*/ES*/EdDSA.' })),
    algorithms: Type.Optional(Type.Array(Type.String({ pattern: '^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$' }), { minItems: 1 })),
    claim: Type.Optional(Type.String({ minLength: 1, description: 'The claim naming the consumer (default sub).' })),
    clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
    hideCredentials: Type.Optional(Type.Boolean({ description: 'Remove Authorization before the upstream (default true).' })),
    consumers: Type.Record(
      Type.String(),
      Type.Object({ team: Type.String(), subscription: Type.Union(['approved', 'pending', 'rejected', 'revoked', 'none'].map((s) => Type.Literal(s))) }, { additionalProperties: false }),
      { description: 'Consumer name → its team and subscription to the API. Filled in by the control plane.' },
    ),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `jwt-auth`: bearer JWTs checked with jose — signature (a JWKS URL with caching and rotation, a
 * shared secret, or a PEM key), `iss`, `aud`, `exp`/`nbf` with a clock tolerance, and the
 * algorithms allowed — then the consumer named by a claim must have an approved subscription to
 * the API. Identity headers as with keys.
 */
export const jwtAuthPlugin: PluginDefinition<Config> = {
  name: 'jwt-auth',
  stage: 'authenticate',
  schema: Schema,
  check(config) {
    const sources = [config.jwksUrl, config.secret, config.publicKey].filter((s) => s !== undefined).length;
    if (sources !== 1) return [{ path: '', message: 'give exactly one of jwksUrl, secret or publicKey' }];
    if (config.publicKey !== undefined) {
      try {
        createPublicKey(config.publicKey);
      } catch (err) {
        return [{ path: '/publicKey', message: `not a usable public key: ${(err as Error).message}` }];
      }
    }
    return [];
  },
  create(config) {
    let key: Promise<KeyObject | JWTVerifyGetKey> | undefined;
    const claim = config.claim ?? 'sub';
    const hide = config.hideCredentials ?? true;
    const consumers = new Map(Object.entries(config.consumers));
    const options = {
      issuer: config.issuer,
      ...(config.audience === undefined ? {} : { audience: config.audience }),
      ...(config.algorithms === undefined ? {} : { algorithms: config.algorithms }),
      clockTolerance: config.clockToleranceSeconds ?? 30,
    };
    return {
      name: 'jwt-auth',
      stage: 'authenticate',
      async onRequest(ctx) {
        const upstream = ctx.upstreamHeaders;
        for (const name of IDENTITY_HEADERS) upstream.remove(name);
        const match = /^Bearer\s+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(ctx.headers.authorization ?? '');
        if (match === null) return refuseRequest(ctx, 'WEIR_CREDENTIAL_MISSING', 'send a JWT as Authorization: Bearer <token>', 'Bearer');
        const lib = await loadJose();
        const verifyWith = await (key ??= keyOf(config, lib));
        let payload: Record<string, unknown>;
        try {
          payload = (await (typeof verifyWith === 'function' ? lib.jwtVerify(match[1]!, verifyWith, options) : lib.jwtVerify(match[1]!, verifyWith, options))).payload;
        } catch (err) {
          return refuseRequest(ctx, 'WEIR_CREDENTIAL_INVALID', `the token was refused: ${reason(err, lib)}`, 'Bearer error="invalid_token"');
        }
        const name = payload[claim];
        const consumer = typeof name === 'string' ? consumers.get(name) : undefined;
        const state: SubscriptionState = consumer?.subscription as SubscriptionState | undefined ?? 'none';
        if (state !== 'approved') {
          const refusal = REFUSALS[state];
          return refuseRequest(ctx, refusal.code, `${refusal.detail} (API "${config.api}", consumer ${JSON.stringify(name ?? null)})`);
        }
        if (hide) upstream.remove('authorization');
        upstream.set('x-consumer-id', name as string).set('x-consumer-team', consumer!.team).set('x-credential-id', `jwt:${typeof payload['jti'] === 'string' ? payload['jti'] : claim}`);
        ctx.state.set('consumer', { id: name, team: consumer!.team });
      },
    };
  },
};

async function keyOf(config: Config, lib: Jose): Promise<KeyObject | JWTVerifyGetKey> {
  if (config.jwksUrl !== undefined) {
    return lib.createRemoteJWKSet(new URL(config.jwksUrl), { cacheMaxAge: 10 * 60_000, cooldownDuration: (config.jwksCooldownSeconds ?? 30) * 1000 });
  }
  if (config.secret !== undefined) return createSecretKey(Buffer.from(config.secret));
  if (config.publicKey !== undefined) return createPublicKey(config.publicKey);
  throw new Error('jwt-auth needs jwksUrl, secret or publicKey');
}

/** What was wrong with a token, in words a client can act on (never the key material). */
function reason(err: unknown, { errors }: Jose): string {
  if (err instanceof errors.JWTExpired) return 'it has expired';
  if (err instanceof errors.JWTClaimValidationFailed) return `claim "${err.claim}" is not acceptable (${err.reason})`;
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof errors.JOSEAlgNotAllowed) return 'its algorithm is not allowed';
  if (err instanceof errors.JWKSNoMatchingKey) return 'no key of the issuer matches it';
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return 'it is malformed';
  return 'it could not be verified';
}
