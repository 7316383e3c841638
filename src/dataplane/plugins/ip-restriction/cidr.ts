import { isIP } from 'node:net';

/**
 * IP addresses and CIDR blocks as bytes, so a check is a few byte comparisons. IPv4-mapped IPv6
 * addresses (`::ffff:10.0.0.1`, also as a CIDR `::ffff:10.0.0.0/104`) are taken as the IPv4
 * address they carry, so one list covers a dual-stack listener.
 */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly text: string;
}

/** The address as 4 (IPv4, also when IPv4-mapped) or 16 bytes; null when it is not an IP. */
export function parseIp(text: string): Uint8Array | null {
  let address = text.trim();
  if (address.startsWith('[') && address.endsWith(']')) address = address.slice(1, -1);
  const zone = address.indexOf('%');
  if (zone !== -1) address = address.slice(0, zone);
  const kind = isIP(address);
  if (kind === 4) return Uint8Array.from(address.split('.'), Number);
  if (kind !== 6) return null;
  const bytes = ipv6Bytes(address);
  return isMapped(bytes) ? bytes.slice(12) : bytes;
}

/** `10.0.0.0/8`, `2001:db8::/32`, or a bare address (a /32 or /128). Throws a message when bad. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const bytes = parseIp(address);
  if (bytes === null) throw new Error(`"${text}" is not an IP address or CIDR block`);
  const mapped = bytes.length === 4 && isIP(address) === 6;
  const max = mapped ? 128 : bytes.length * 8;
  let prefix = max;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits) || Number(digits) > max) throw new Error(`"${text}": the prefix length must be 0 to ${max}`);
    prefix = Number(digits);
  }
  if (mapped) {
    if (prefix < 96) throw new Error(`"${text}": an IPv4-mapped block needs a prefix of at least 96`);
    prefix -= 96;
  }
  // Host bits set (10.0.0.1/8) are cleared: the block is what the prefix says.
  return { bytes: mask(bytes, prefix), prefix, text };
}

export function contains(cidr: Cidr, ip: Uint8Array): boolean {
  const bytes = cidr.bytes;
  if (bytes.length !== ip.length) return false;
  const whole = cidr.prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== ip[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const m = (0xff << (8 - rest)) & 0xff;
  return (ip[whole]! & m) === bytes[whole];
}

export function anyContains(list: readonly Cidr[], ip: Uint8Array): boolean {
  for (let i = 0; i < list.length; i++) if (contains(list[i]!, ip)) return true;
  return false;
}

function mask(bytes: Uint8Array, prefix: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  for (let i = 0; i < out.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    out[i] = out[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function isMapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** A valid IPv6 text (checked by isIP) as 16 bytes. */
function ipv6Bytes(address: string): Uint8Array {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) !== -1) {
    // Embedded IPv4 in the last 32 bits: written as two hex groups instead.
    const v4 = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const gap = text.indexOf('::');
  const part = (s: string): number[] => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  let groups: number[];
  if (gap === -1) groups = part(text);
  else {
    const left = part(text.slice(0, gap));
    const right = part(text.slice(gap + 2));
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[i * 2] = (groups[i]! >> 8) & 0xff;
    out[i * 2 + 1] = groups[i]! & 0xff;
  }
  return out;
}
