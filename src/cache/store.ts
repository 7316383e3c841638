import { LRUCache } from 'lru-cache';

/** One stored response. Times are ms since the epoch. */
export interface CachedResponse {
  readonly kind: 'response';
  readonly status: number;
  /** Response headers as the upstream sent them (hop-by-hop removed), flat name/value list. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  readonly storedAt: number;
  /** Fresh until then; served stale (and refreshed in the background) until `staleUntil`. */
  readonly freshUntil: number;
  readonly staleUntil: number;
  /** The `Age` the response already had when it was stored (seconds). */
  readonly initialAge: number;
}

/**
 * Stored at a request's key when the response named request headers in `Vary`: the responses
 * themselves are at the key plus those headers' values (see `variantKey`).
 */
export interface VaryRecord {
  readonly kind: 'vary';
  /** Lower-case header names, sorted. */
  readonly names: readonly string[];
  readonly staleUntil: number;
}

export type CacheRecord = CachedResponse | VaryRecord;

/** What to purge: every key of `route` (or of every route) whose request target is `target` or starts with `prefix`. */
export interface PurgeSpec {
  route?: string;
  /** A request target (path and query) exactly. */
  key?: string;
  /** A request target prefix (path, or path and part of the query). */
  prefix?: string;
}

/**
 * A cache key is `<route> <target> <method>[ h:<name>=<value>…][ c:<consumer>][ v:<values>]`:
 * none of the parts can hold a space (route names cannot, request targets cannot, the rest is
 * percent-encoded), so a purge can match the route and target by prefix.
 */
export function keyMatcher(spec: PurgeSpec): (key: string) => boolean {
  const route = spec.route;
  const target = spec.key;
  const prefix = spec.prefix;
  return (key) => {
    const space = key.indexOf(' ');
    if (route !== undefined && key.slice(0, space) !== route) return false;
    const rest = key.slice(space + 1);
    if (target !== undefined) return rest.startsWith(target + ' ');
    if (prefix !== undefined) return rest.startsWith(prefix);
    return true;
  };
}

/** The key of the variant of `key` for the request header values Vary named. */
export function variantKey(key: string, names: readonly string[], header: (name: string) => string | undefined): string {
  let out = key + ' v:';
  for (let i = 0; i < names.length; i++) out += (i === 0 ? '' : '&') + encodeURIComponent(header(names[i]!) ?? '');
  return out;
}

/** Record → bytes (for Redis): a 4-byte length, the JSON of everything but the body, the body. */
export function encodeRecord(record: CacheRecord): Buffer {
  if (record.kind === 'vary') return Buffer.from(JSON.stringify(record));
  const { body, ...meta } = record;
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(json.length);
  return Buffer.concat([head, json, body]);
}

export function decodeRecord(bytes: Buffer): CacheRecord | undefined {
  try {
    if (bytes[0] === 0x7b /* { */) return JSON.parse(bytes.toString('utf8')) as VaryRecord;
    const length = bytes.readUInt32BE(0);
    const meta = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as Omit<CachedResponse, 'body'>;
    return { ...meta, body: bytes.subarray(4 + length) };
  } catch {
    return undefined;
  }
}

/** Bytes a record holds in memory, roughly: its body, headers and key. */
function sizeOf(record: CacheRecord, key: string): number {
  let size = key.length + 64;
  if (record.kind === 'vary') return size + record.names.join().length;
  size += record.body.length;
  for (const h of record.headers) size += h.length;
  return size;
}

/**
 * The process's memory store: least recently used records go first once their bytes exceed
 * `maxSize`; a record is dropped when its stale window ends.
 */
export class MemoryStore {
  private readonly lru: LRUCache<string, CacheRecord>;

  constructor(readonly maxSize: number) {
    this.lru = new LRUCache<string, CacheRecord>({ maxSize, sizeCalculation: sizeOf, ttlAutopurge: false });
  }

  get(key: string): CacheRecord | undefined {
    return this.lru.get(key);
  }

  set(key: string, record: CacheRecord, ttlMs: number): void {
    this.lru.set(key, record, { ttl: Math.max(1, Math.ceil(ttlMs)) });
  }

  purge(spec: PurgeSpec): number {
    const matches = keyMatcher(spec);
    let removed = 0;
    for (const key of [...this.lru.keys()]) {
      if (matches(key) && this.lru.delete(key)) removed++;
    }
    return removed;
  }

  clear(): void {
    this.lru.clear();
  }
}
