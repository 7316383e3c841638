import { createHash, timingSafeEqual } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { RequestContext } from '../../pipeline/plugin.js';
import { Entry, HideCredentials, invalid, live, type EntryT, type Method, type Verdict } from './method.js';

export const KeysOptions = Type.Object(
  {
    header: Type.Optional(Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", description: 'Where the key is sent (default x-api-key; `Authorization: Bearer <key>` works too).' })),
    hideCredentials: HideCredentials,
    credentials: Type.Record(Type.String(), Entry, { description: 'SHA-256 (base64url) of each live key → its consumer entry. Filled in by the control plane.' }),
  },
  { additionalProperties: false, description: 'API keys.' },
);

const BasicEntry = Type.Composite([Entry, Type.Object({ salt: Type.String(), hash: Type.String() })]);
export const BasicOptions = Type.Object(
  {
    hideCredentials: HideCredentials,
    credentials: Type.Record(Type.String(), BasicEntry, { description: 'User name → salt, SHA-256 (base64url) of salt and password, and the consumer entry. Filled in by the control plane.' }),
  },
  { additionalProperties: false, description: 'HTTP Basic.' },
);

/** API keys in a header of their own or as `Authorization: Bearer <key>`, looked up by SHA-256. */
export function keysMethod(options: Static<typeof KeysOptions>): Method & { header: string } {
  const header = (options.header ?? 'x-api-key').toLowerCase();
  const keys = new Map(Object.entries(options.credentials));
  return {
    header,
    challenge: [`ApiKey header="${header}"`, 'Bearer'],
    asks: `an API key in ${header} (or Authorization: Bearer)`,
    hideCredentials: options.hideCredentials ?? true,
    verify(ctx: RequestContext): Verdict {
      const direct = ctx.headers[header];
      const from = typeof direct === 'string' && direct !== '' ? header : 'authorization';
      const key = from === header ? (direct as string) : ctx.headers.authorization!.replace(/^Bearer\s+/i, '');
      const entry = keys.get(createHash('sha256').update(key).digest('base64url'));
      if (entry === undefined || !live(entry)) return invalid('WEIR_CREDENTIAL_INVALID', 'the API key is unknown, revoked or expired');
      return { ok: true, identity: entry, used: [from] };
    },
  };
}

/** `Authorization: Basic …` against salted SHA-256 hashes. */
export function basicMethod(api: string, options: Static<typeof BasicOptions>): Method {
  const users = new Map(Object.entries(options.credentials));
  return {
    challenge: [`Basic realm="${api}", charset="UTF-8"`],
    asks: 'HTTP Basic credentials',
    hideCredentials: options.hideCredentials ?? true,
    verify(ctx: RequestContext): Verdict {
      const entry = basicEntry(users, ctx.headers.authorization!);
      return entry === undefined ? invalid('WEIR_CREDENTIAL_INVALID', 'wrong user name or password') : { ok: true, identity: entry, used: ['authorization'] };
    },
  };
}

/** The live entry for `Authorization: Basic …` when the user exists and the password matches. */
function basicEntry(users: ReadonlyMap<string, EntryT & { salt: string; hash: string }>, authorization: string): EntryT | undefined {
  const decoded = Buffer.from(authorization.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const entry = users.get(decoded.slice(0, colon));
  if (entry === undefined || !live(entry)) return undefined;
  const hash = createHash('sha256').update(entry.salt).update(decoded.slice(colon + 1)).digest();
  const expected = Buffer.from(entry.hash, 'base64url');
  return hash.length === expected.length && timingSafeEqual(hash, expected) ? entry : undefined;
}
