/**
 * HMAC request signing with HTTP Message Signatures (RFC 9421), `hmac-sha256`, verified with the
 * `http-message-signatures` library. A consumer signs with the secret of one of its HMAC
 * credentials, naming it by `keyid`; Weir insists that the signature covers the method, the target
 * (`@target-uri`, or `@path` and `@query`) and, when there is a body, `content-digest` (RFC 9530),
 * which is then checked against the body itself; and that it was `created` within the clock-skew
 * window (and, when given, has not passed `expires`). A `nonce` (required with `requireNonce`) is
 * accepted once: it is remembered in the rate-limit counters (the node's, exact across its workers,
 * or Redis, across nodes) for twice the skew window, as long as its signature could be accepted.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { createRequire } from 'node:module';
import type { Verifier } from 'http-message-signatures';

type Signatures = typeof import('http-message-signatures');
// Loaded with the first HMAC credential table (synchronously: plugins are built in one go), so a
// process whose APIs take no signatures never pays for it.
const load = createRequire(import.meta.url);
let signatures: Signatures | undefined;
const lib = (): Signatures => (signatures ??= load('http-message-signatures') as Signatures);
import { CounterStoreUnavailable, rateLimits } from '../../../ratelimit/runtime.js';
import { hasBody } from '../../http/request-body.js';
import type { RequestContext } from '../../pipeline/plugin.js';
import { Entry, HideCredentials, invalid, live, type EntryT, type Method, type Verdict } from './method.js';

const HmacEntry = Type.Composite([Entry, Type.Object({ secret: Type.String({ minLength: 16, description: 'The shared secret (its UTF-8 bytes are the HMAC key).' }) })]);
export const HmacOptions = Type.Object(
  {
    clockSkewSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 3600, description: 'How far `created` may lie in the past or the future (default 300).' })),
    maxBodyBytes: Type.Optional(Type.Integer({ minimum: 0, description: 'The largest body whose Content-Digest is checked (default 1 MiB); a larger signed body is refused with 413.' })),
    scheme: Type.Optional(Type.Union([Type.Literal('http'), Type.Literal('https')], { description: 'The scheme clients use, for `@target-uri` and `@scheme` (default http; https behind a TLS-terminating load balancer).' })),
    requireNonce: Type.Optional(Type.Boolean({ description: 'Signatures must carry a nonce (default false). A nonce, required or not, is accepted once.' })),
    hideCredentials: HideCredentials,
    credentials: Type.Record(Type.String(), HmacEntry, { description: 'Key id → the secret and the consumer entry. Filled in by the control plane (secrets are stored sealed).' }),
  },
  { additionalProperties: false, description: 'HMAC request signatures (RFC 9421, hmac-sha256).' },
);
type Options = Static<typeof HmacOptions>;

const USED = ['signature', 'signature-input', 'content-digest'] as const;
const DIGESTS: Record<string, string> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };

export function hmacMethod(api: string, options: Options): Method {
  const keys = new Map(Object.entries(options.credentials).map(([id, entry]) => [id, { entry, verifier: lib().createVerifier(Buffer.from(entry.secret), 'hmac-sha256') }]));
  const skew = options.clockSkewSeconds ?? 300;
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const scheme = options.scheme ?? 'http';
  const requireNonce = options.requireNonce ?? false;
  // Limit 1 over 2 × skew: a sliding window remembers a hit for between one and two windows.
  const nonces = { kind: 'sliding-window', limit: 1, windowMs: 2 * skew * 1000, burst: 1 } as const;
  const challenge = [`Signature realm="${api}", alg="hmac-sha256"`];
  const refuse = (code: Parameters<typeof invalid>[0], detail: string): Verdict => invalid(code, detail, challenge);

  return {
    challenge,
    asks: 'an HTTP message signature (Signature-Input and Signature, hmac-sha256)',
    hideCredentials: options.hideCredentials ?? true,
    async verify(ctx: RequestContext): Promise<Verdict> {
      const now = Math.floor(Date.now() / 1000);
      let found: { entry: EntryT; keyId: string; created: number | undefined; expires: number | undefined; nonce: string | undefined } | undefined;
      const covered = new Set<string>();
      let result: boolean | null;
      try {
        const url = targetUri(ctx, scheme);
        result = await lib().httpbis.verifyMessage(
          {
            // Called for every label in order before any is verified: only the first one naming a
            // live key is checked (and its components alone count), so labels cannot pool coverage.
            keyLookup: async (params) => {
              if (found !== undefined) return null;
              const key = typeof params.keyid === 'string' ? keys.get(params.keyid) : undefined;
              if (key === undefined || !live(key.entry)) return null;
              const created = params.created instanceof Date ? params.created.getTime() / 1000 : undefined;
              found = { entry: key.entry, keyId: params.keyid as string, created, expires: typeof params.expires === 'number' ? params.expires : undefined, nonce: typeof params.nonce === 'string' ? params.nonce : undefined };
              return { id: params.keyid as string, algs: ['hmac-sha256'], verify: key.verifier satisfies Verifier };
            },
            requiredParams: ['created'],
            componentParser: (name) => {
              covered.add(name);
              return null;
            },
            maxAge: skew,
            notAfter: now + skew,
            tolerance: 0,
          },
          { method: ctx.method, url, headers: ctx.headers as Record<string, string | string[]> },
        );
      } catch (err) {
        if (err instanceof lib().ExpiredError) return refuse('WEIR_SIGNATURE_EXPIRED', expiredDetail(found, now, skew));
        if (err instanceof lib().UnsupportedAlgorithmError) return refuse('WEIR_SIGNATURE_INVALID', 'the signature\'s alg is not hmac-sha256');
        if (err instanceof lib().UnacceptableSignatureError) return refuse('WEIR_SIGNATURE_INVALID', 'the signature has no created parameter');
        if (err instanceof lib().MalformedSignatureError) return refuse('WEIR_SIGNATURE_INVALID', `the signature is malformed (${(err as Error).message})`);
        return refuse('WEIR_SIGNATURE_INVALID', `Signature-Input and Signature cannot be used: ${(err as Error).message}`);
      }
      if (found === undefined) return refuse('WEIR_CREDENTIAL_INVALID', 'no signature names a known key id (keyid): the key is unknown, revoked or expired');
      if (result !== true) return refuse('WEIR_SIGNATURE_INVALID', 'the signature does not verify: a wrong secret, or the request differs from what was signed');
      const body = hasBody(ctx);
      const lacking = [
        ...(covered.has('@method') ? [] : ['@method']),
        ...(covered.has('@target-uri') || (covered.has('@path') && covered.has('@query')) ? [] : ['@target-uri (or @path and @query)']),
        ...(body && !covered.has('content-digest') ? ['content-digest (the request has a body)'] : []),
      ];
      if (lacking.length > 0) return refuse('WEIR_SIGNATURE_INVALID', `the signature must cover ${lacking.join(', ')}`);
      if (requireNonce && found.nonce === undefined) return refuse('WEIR_SIGNATURE_INVALID', 'the signature must carry a nonce parameter (a fresh random value per request)');
      if (body) {
        const problem = await digestProblem(ctx, maxBody);
        if (problem !== null) return problem.code === 'WEIR_BODY_TOO_LARGE' ? invalid(problem.code, problem.detail) : refuse(problem.code, problem.detail);
      }
      if (found.nonce !== undefined) {
        // Counted last, so that refused requests do not use nonces up.
        let first: boolean;
        try {
          first = (await rateLimits.hit(`nonce|${found.keyId}|${found.nonce}`, 1, nonces, Date.now())).allowed;
        } catch (err) {
          if (!(err instanceof CounterStoreUnavailable)) throw err;
          return invalid('WEIR_RATE_LIMIT_UNAVAILABLE', 'the store that remembers nonces cannot be reached; try again shortly');
        }
        if (!first) return refuse('WEIR_SIGNATURE_REPLAYED', 'this signature\'s nonce was already used: sign each request with a fresh nonce');
      }
      return { ok: true, identity: found.entry, used: USED };
    },
  };
}

/** The request's URI as its client addressed it (RFC 9421 @target-uri). */
function targetUri(ctx: RequestContext, scheme: string): URL {
  const host = ctx.headers.host;
  if (host === undefined || host === '') throw new Error('the request has no Host header');
  return new URL(`${scheme}://${host}${ctx.path}${ctx.query === '' ? '' : `?${ctx.query}`}`);
}

function expiredDetail(found: { created: number | undefined; expires: number | undefined } | undefined, now: number, skew: number): string {
  if (found?.created !== undefined && found.created > now + skew) return `the signature was created ${Math.round(found.created - now)} s in the future (more than the ${skew} s clock skew allowed)`;
  if (found?.expires !== undefined && found.expires < now) return 'the signature has passed its expires time';
  return `the signature was created more than ${skew} s ago: sign each request when sending it`;
}

/** Null when every sha-256 / sha-512 digest of Content-Digest matches the body. */
async function digestProblem(ctx: RequestContext, maxBody: number): Promise<{ code: 'WEIR_CONTENT_DIGEST_MISMATCH' | 'WEIR_BODY_TOO_LARGE' | 'WEIR_SIGNATURE_INVALID'; detail: string } | null> {
  const digests = parseDigests(String(ctx.headers['content-digest'] ?? ''));
  if (digests.size === 0) return { code: 'WEIR_CONTENT_DIGEST_MISMATCH', detail: 'Content-Digest has no sha-256 (or sha-512) digest' };
  const body = ctx.readBody === undefined ? null : await ctx.readBody(maxBody);
  if (body === null) return { code: 'WEIR_BODY_TOO_LARGE', detail: `signed bodies are verified up to ${maxBody} bytes` };
  for (const [alg, expected] of digests) {
    const actual = createHash(DIGESTS[alg]!).update(body).digest();
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return { code: 'WEIR_CONTENT_DIGEST_MISMATCH', detail: `the body does not match its Content-Digest (${alg})` };
  }
  return null;
}

/** The sha-256 / sha-512 members of a Content-Digest dictionary (`sha-256=:<base64>:`). */
function parseDigests(header: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const member of header.split(',')) {
    const match = /^\s*([a-z0-9*_.-]+)=:([A-Za-z0-9+/]*={0,2}):(;.*)?\s*$/.exec(member);
    if (match !== null && DIGESTS[match[1]!] !== undefined) out.set(match[1]!, Buffer.from(match[2]!, 'base64'));
  }
  return out;
}
