import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ForwardedMode } from '../../config/types.js';

/**
 * Header hygiene for both directions of a proxied exchange (RFC 9110 §7.6.1): hop-by-hop
 * headers, and any header the sender named in `Connection`, stop at the gateway.
 */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Request headers the gateway itself sets, so client copies are dropped. */
const SET_BY_GATEWAY_REQUEST = new Set(['host', 'expect', 'x-forwarded-proto', 'x-forwarded-host']);

export interface ForwardingInfo {
  mode: ForwardedMode;
  via: boolean;
  requestIdHeader: string;
  requestId: string;
  clientIp: string;
  /** The Host the client asked for. */
  host: string;
  proto: 'http' | 'https';
}

/**
 * Upstream request headers from the client's raw headers: hop-by-hop removed, forwarding
 * headers appended, request id set. `Host` is left out: it depends on the target and is added
 * per attempt.
 */
export function upstreamRequestHeaders(rawHeaders: readonly string[], info: ForwardingInfo): string[] {
  const nominated = connectionNominated(rawHeaders);
  const out: string[] = [];
  let xff: string | undefined;
  let forwarded: string | undefined;
  let via: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || SET_BY_GATEWAY_REQUEST.has(lower)) continue;
    if (nominated !== null && nominated.has(lower)) continue;
    const value = rawHeaders[i + 1]!;
    if (lower === info.requestIdHeader) continue;
    if (lower === 'x-forwarded-for') { xff = xff === undefined ? value : `${xff}, ${value}`; continue; }
    if (lower === 'forwarded') { forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`; continue; }
    if (lower === 'via') { via = via === undefined ? value : `${via}, ${value}`; continue; }
    out.push(name, value);
  }
  const mode = info.mode;
  if (mode === 'x-forwarded' || mode === 'both') {
    out.push('x-forwarded-for', xff === undefined ? info.clientIp : `${xff}, ${info.clientIp}`);
    out.push('x-forwarded-proto', info.proto);
    if (info.host !== '') out.push('x-forwarded-host', info.host);
  } else if (xff !== undefined) {
    out.push('x-forwarded-for', xff);
  }
  if (mode === 'rfc7239' || mode === 'both') {
    const element = forwardedElement(info);
    out.push('forwarded', forwarded === undefined ? element : `${forwarded}, ${element}`);
  } else if (forwarded !== undefined) {
    out.push('forwarded', forwarded);
  }
  if (info.via) out.push('via', via === undefined ? '1.1 weir' : `${via}, 1.1 weir`);
  else if (via !== undefined) out.push('via', via);
  out.push(info.requestIdHeader, info.requestId);
  return out;
}

/**
 * Response headers from undici's raw (Buffer) list: hop-by-hop removed, `Via` appended, the
 * request id echoed so a client can quote it.
 */
export function downstreamResponseHeaders(raw: readonly Buffer[], info: ForwardingInfo): string[] {
  const out: string[] = [];
  let nominated: Set<string> | null = null;
  let via: string | undefined;
  let sawRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    if (lower === 'connection') { nominated = addTokens(nominated, value); continue; }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'via') { via = via === undefined ? value : `${via}, ${value}`; continue; }
    if (lower === info.requestIdHeader) sawRequestId = true;
    out.push(name, value);
  }
  if (nominated !== null) dropNames(out, nominated);
  if (info.via) out.push('via', via === undefined ? '1.1 weir' : `${via}, 1.1 weir`);
  else if (via !== undefined) out.push('via', via);
  if (!sawRequestId) out.push(info.requestIdHeader, info.requestId);
  return out;
}

function forwardedElement(info: ForwardingInfo): string {
  const forIp = info.clientIp.includes(':') ? `"[${info.clientIp}]"` : info.clientIp;
  const host = info.host === '' ? '' : `;host="${info.host.replace(/["\\]/g, '')}"`;
  return `for=${forIp}${host};proto=${info.proto}`;
}

/** Header names listed in the request's Connection header(s), lower-case; null when none. */
function connectionNominated(rawHeaders: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') tokens = addTokens(tokens, rawHeaders[i + 1]!);
  }
  return tokens;
}

function addTokens(set: Set<string> | null, value: string): Set<string> | null {
  // The common values name no header: skip the split.
  if (value.length <= 10) {
    const lower = value.toLowerCase();
    if (lower === 'keep-alive' || lower === 'close') return set;
  }
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    (set ??= new Set()).add(token);
  }
  return set;
}

function dropNames(list: string[], names: Set<string>): void {
  let w = 0;
  for (let r = 0; r < list.length; r += 2) {
    if (names.has(list[r]!.toLowerCase())) continue;
    list[w++] = list[r]!;
    list[w++] = list[r + 1]!;
  }
  list.length = w;
}

const REQUEST_ID = /^[A-Za-z0-9._:@\-]{1,128}$/;

/** A client-sent request id is kept only when it is a sane token (no header injection, bounded). */
export function acceptableRequestId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : undefined;
}

/** How a node handles request ids (`global.proxy`); absent before any config is loaded. */
export interface RequestIdSettings {
  readonly trustRequestId: boolean;
  readonly requestIdHeader: string;
}

/** The request's id: the client's when trusted and acceptable, else a fresh UUIDv7. */
export function requestIdFor(req: IncomingMessage, settings: RequestIdSettings | undefined): string {
  const trusted = settings === undefined || settings.trustRequestId;
  const incoming = trusted ? acceptableRequestId(req.headers[settings?.requestIdHeader ?? 'x-request-id']) : undefined;
  return incoming ?? uuidV7();
}

/**
 * A UUID version 7 (RFC 9562 §5.7): the first 48 bits are the Unix time in milliseconds, the
 * rest random, so ids sort by time. The call log indexes request ids: a random (v4) id lands
 * anywhere in the index and makes every insert touch a cold page (measured: ~3× the cost of a
 * record's whole write), a v7 id lands at its end. node:crypto makes only v4, and its
 * `randomUUID` draws from a cached pool of random bytes — so a v4 with its first 12 digits
 * replaced by the time and its version digit set to 7 is a v7 at the cost of a v4 (the variant
 * bits are already right).
 */
export function uuidV7(now = Date.now()): string {
  const random = randomUUID();
  const time = now.toString(16).padStart(12, '0');
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}

/** The client's address, IPv4-mapped IPv6 (`::ffff:1.2.3.4`) shown as plain IPv4. */
export function clientIpOf(req: IncomingMessage): string {
  const remote = req.socket.remoteAddress ?? '';
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

/** What the forwarding headers of one request are built from. */
export function forwardingInfo(
  req: IncomingMessage,
  settings: RequestIdSettings & { readonly forwarded: ForwardedMode; readonly via: boolean },
  requestId: string,
  clientIp: string,
): ForwardingInfo {
  return {
    mode: settings.forwarded,
    via: settings.via,
    requestIdHeader: settings.requestIdHeader,
    requestId,
    clientIp,
    host: req.headers.host ?? '',
    proto: 'http',
  };
}
