import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type { RequestContext } from '../../pipeline/plugin.js';
import { HideCredentials, invalid, Subscription, type Method, type Verdict } from './method.js';

type Jose = typeof import('jose');
/** jose is loaded with the first token checked: most gateways never verify a JWT. */
let jose: Promise<Jose> | undefined;
const loadJose = (): Promise<Jose> => (jose ??= import('jose'));

/** The issuer settings of `jwt-auth` and of the auth plugin's `jwt` method. */
export const JwtSettings = {
  issuer: Type.String({ minLength: 1, description: 'Required `iss`.' }),
  audience: Type.Optional(Type.String({ minLength: 1, description: 'Required `aud`, when given.' })),
  jwksUrl: Type.Optional(Type.String({ pattern: '^https?://', description: 'Where the issuer publishes its keys (cached; refetched for an unknown `kid`, so key rotation just works).' })),
  jwksCooldownSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 600, description: 'After a fetch, the JWKS is not fetched again for an unknown kid for this long (default 30): tokens with made-up kids cannot flood the issuer.' })),
  secret: Type.Optional(Type.String({ minLength: 32, description: 'Shared key for HS256/384/512 (use ${secret:name}).' })),
  publicKey: Type.Optional(Type.String({ pattern: '-----BEGIN PUBLIC KEY-----', description: 'PEM public key for RS*/PS*/ES*/EdDSA.' })),
  algorithms: Type.Optional(Type.Array(Type.String({ pattern: '^(HS|RS|PS|ES)(256|384|512)$|^EdDSA$' }), { minItems: 1 })),
  claim: Type.Optional(Type.String({ minLength: 1, description: 'The claim naming the consumer (default sub).' })),
  clockToleranceSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 300 })),
  hideCredentials: HideCredentials,
  consumers: Type.Record(Type.String(), Type.Object({ team: Type.String(), subscription: Subscription }, { additionalProperties: false }), {
    description: 'Consumer name → its team and subscription to the API. Filled in by the control plane.',
  }),
};
export const JwtOptions = Type.Object(JwtSettings, { additionalProperties: false, description: 'Bearer JWTs.' });
type Options = Static<typeof JwtOptions>;

/** Exactly one key source, and a PEM key that parses. */
export function checkJwt(config: Options): Array<{ path: string; message: string }> {
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
}

const INVALID_TOKEN = ['Bearer error="invalid_token"'];

/** Verified tokens kept per method instance (per config version). */
const VERIFIED_MAX_ENTRIES = 10_000;
const VERIFIED_MAX_BYTES = 8 * 1024 * 1024;
/** The longest a verified token is trusted without checking it again (key rotation, revocation by JWKS). */
const VERIFIED_TTL_MS = 60_000;

/**
 * Bearer JWTs checked with jose — signature (a JWKS URL with caching and rotation, a shared secret,
 * or a PEM key), `iss`, `aud`, `exp`/`nbf` with a clock tolerance, and the algorithms allowed; the
 * claim (default `sub`) names the consumer.
 */
export function jwtMethod(config: Options): Method {
  let key: Promise<KeyObject | JWTVerifyGetKey> | undefined;
  const claim = config.claim ?? 'sub';
  const consumers = new Map(Object.entries(config.consumers));
  const options = {
    issuer: config.issuer,
    ...(config.audience === undefined ? {} : { audience: config.audience }),
    ...(config.algorithms === undefined ? {} : { algorithms: config.algorithms }),
    clockTolerance: config.clockToleranceSeconds ?? 30,
  };
  // A client sends the same token for many requests; its signature is checked once, then the
  // token (all of it: header, claims and signature, so nothing else can match) is trusted until
  // it expires or for VERIFIED_TTL_MS, whichever is first. Only successes are kept.
  const verified = new LRUCache<string, { payload: Record<string, unknown>; until: number }>({
    max: VERIFIED_MAX_ENTRIES,
    maxSize: VERIFIED_MAX_BYTES,
    sizeCalculation: (_value, token) => token.length,
  });
  return {
    challenge: ['Bearer'],
    asks: 'a JWT as Authorization: Bearer <token>',
    hideCredentials: config.hideCredentials ?? true,
    async verify(ctx: RequestContext): Promise<Verdict> {
      const token = ctx.headers.authorization!.replace(/^Bearer\s+/i, '');
      const now = Date.now();
      const known = verified.get(token);
      let payload: Record<string, unknown>;
      if (known !== undefined && known.until > now) {
        payload = known.payload;
      } else {
        const lib = await loadJose();
        const verifyWith = await (key ??= keyOf(config, lib));
        try {
          payload = (await (typeof verifyWith === 'function' ? lib.jwtVerify(token, verifyWith, options) : lib.jwtVerify(token, verifyWith, options))).payload;
        } catch (err) {
          return invalid('WEIR_CREDENTIAL_INVALID', `the token was refused: ${reason(err, lib)}`, INVALID_TOKEN);
        }
        // As long as jose itself would accept it: its exp plus the clock tolerance.
        const exp = typeof payload['exp'] === 'number' ? (payload['exp'] + options.clockTolerance) * 1000 : Infinity;
        verified.set(token, { payload, until: Math.min(exp, now + VERIFIED_TTL_MS) });
      }
      const name = payload[claim];
      if (typeof name !== 'string') return invalid('WEIR_CREDENTIAL_INVALID', `the token was refused: it has no "${claim}" claim naming the application`, INVALID_TOKEN);
      const consumer = consumers.get(name);
      const credential = `jwt:${typeof payload['jti'] === 'string' ? payload['jti'] : claim}`;
      return { ok: true, identity: { consumer: name, team: consumer?.team ?? '', credential, subscription: consumer?.subscription ?? 'none' }, used: ['authorization'] };
    },
  };
}

async function keyOf(config: Options, lib: Jose): Promise<KeyObject | JWTVerifyGetKey> {
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
