/**
 * RFC 9111 for a shared cache, as Weir's response cache applies it: what a `Cache-Control`
 * header says, whether a response may be stored, and for how long it is fresh (and then usable
 * stale while it is refreshed). Pure functions of headers and times, so they are tested alone.
 */

/** The directives Weir acts on; a seconds value is -1 when absent. */
export interface Directives {
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  maxAge: number;
  sMaxAge: number;
  staleWhileRevalidate: number;
}

const NONE: Directives = Object.freeze({ noStore: false, noCache: false, private: false, public: false, mustRevalidate: false, maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1 });

/**
 * Parses `Cache-Control` (RFC 9111 §5.2): comma-separated, case-insensitive names, optional
 * `=value` (token or quoted). A malformed or negative seconds value counts as 0 (§4.2.1: treat as
 * stale); a repeated directive keeps its first value.
 */
export function parseCacheControl(header: string | undefined): Directives {
  if (header === undefined || header === '') return NONE;
  const d: Directives = { ...NONE };
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    const raw = eq === -1 ? '' : part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    switch (name) {
      case 'no-store': d.noStore = true; break;
      case 'no-cache': d.noCache = true; break;
      case 'private': d.private = true; break;
      case 'public': d.public = true; break;
      case 'must-revalidate':
      case 'proxy-revalidate': d.mustRevalidate = true; break;
      case 'max-age': if (d.maxAge === -1) d.maxAge = seconds(raw); break;
      case 's-maxage': if (d.sMaxAge === -1) d.sMaxAge = seconds(raw); break;
      case 'stale-while-revalidate': if (d.staleWhileRevalidate === -1) d.staleWhileRevalidate = seconds(raw); break;
    }
  }
  return d;
}

function seconds(raw: string): number {
  return /^[0-9]+$/.test(raw) ? Math.min(Number(raw), 2 ** 31) : 0;
}

/** What the cache may do with one response, from its headers. */
export type Storability =
  | { store: false; reason: string }
  | { store: true; freshMs: number; staleMs: number; ageSeconds: number };

export interface StoreRules {
  /** Freshness when the response gives none (ms); 0: such responses are not stored. */
  defaultTtlMs: number;
  /** Stale-while-revalidate window when the response gives none (ms). */
  defaultSwrMs: number;
  /** The request carried `Authorization`, or an authentication plugin identified its consumer. */
  authorized: boolean;
  /** The key includes the consumer, so an authorized answer is only ever served to its consumer. */
  keyedByConsumer: boolean;
}

/**
 * Whether a response may be stored by a shared cache and its freshness lifetime (§3, §4.2.1):
 * `no-store`, `private`, `no-cache` (Weir does not revalidate with conditional requests, so a
 * response that must be revalidated on every use is not kept), `Vary: *` and `Set-Cookie`
 * (another client's cookie must never be replayed) are not stored; a request with
 * `Authorization` only when the response allows it (`public`, `s-maxage`, `must-revalidate`, §3.5)
 * or the key holds the consumer. Freshness: `s-maxage`, else `max-age`, else `Expires` − `Date`,
 * else the plugin's default; minus the `Age` the response already has.
 */
export function storability(get: (name: string) => string | undefined, rules: StoreRules, now: number): Storability {
  const cc = parseCacheControl(get('cache-control'));
  if (cc.noStore) return { store: false, reason: 'no-store' };
  if (cc.private) return { store: false, reason: 'private' };
  if (cc.noCache) return { store: false, reason: 'no-cache' };
  const vary = get('vary');
  if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return { store: false, reason: 'Vary: *' };
  if (get('set-cookie') !== undefined) return { store: false, reason: 'Set-Cookie' };
  if (rules.authorized && !rules.keyedByConsumer && !cc.public && cc.sMaxAge === -1 && !cc.mustRevalidate) {
    return { store: false, reason: 'Authorization without public or s-maxage' };
  }
  const ageHeader = Number(get('age'));
  const ageSeconds = Number.isFinite(ageHeader) && ageHeader > 0 ? Math.floor(ageHeader) : 0;
  let lifetimeMs: number;
  if (cc.sMaxAge !== -1) lifetimeMs = cc.sMaxAge * 1000;
  else if (cc.maxAge !== -1) lifetimeMs = cc.maxAge * 1000;
  else {
    const expires = get('expires');
    if (expires !== undefined) {
      const at = Date.parse(expires);
      const date = Date.parse(get('date') ?? '');
      // An invalid Expires (e.g. "0") means already expired (§5.3).
      lifetimeMs = Number.isNaN(at) ? 0 : at - (Number.isNaN(date) ? now : date);
    } else {
      lifetimeMs = rules.defaultTtlMs;
    }
  }
  const freshMs = lifetimeMs - ageSeconds * 1000;
  if (freshMs <= 0) return { store: false, reason: 'already stale' };
  const staleMs = cc.mustRevalidate ? 0 : cc.staleWhileRevalidate !== -1 ? cc.staleWhileRevalidate * 1000 : rules.defaultSwrMs;
  return { store: true, freshMs, staleMs, ageSeconds };
}
