/**
 * Headers as a flat `[name, value, name, value, …]` list: the shape node:http hands us
 * (`rawHeaders`), undici accepts and `res.writeHead` takes, so the hot path never builds an
 * object per request. Names are compared case-insensitively; order and repeats are kept.
 */
export class HeaderList {
  constructor(readonly raw: string[] = []) {}

  get(name: string): string | undefined {
    const raw = this.raw;
    for (let i = 0; i < raw.length; i += 2) if (equalsIgnoreCase(raw[i]!, name)) return raw[i + 1];
    return undefined;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  add(name: string, value: string): this {
    this.raw.push(name, value);
    return this;
  }

  /** Replaces every value of `name` with one. */
  set(name: string, value: string): this {
    this.remove(name);
    this.raw.push(name, value);
    return this;
  }

  /** As an object with lower-case names; repeated headers joined with ", " (as RFC 9110 allows). */
  toRecord(): Record<string, string> {
    const raw = this.raw;
    const out: Record<string, string> = {};
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      out[name] = out[name] === undefined ? raw[i + 1]! : `${out[name]}, ${raw[i + 1]!}`;
    }
    return out;
  }

  remove(name: string): this {
    const raw = this.raw;
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      if (equalsIgnoreCase(raw[r]!, name)) continue;
      raw[w++] = raw[r]!;
      raw[w++] = raw[r + 1]!;
    }
    raw.length = w;
    return this;
  }
}

/** `a` as received (any case) against `lower`, which must already be lower-case. */
export function equalsIgnoreCase(a: string, lower: string): boolean {
  return a.length === lower.length && (a === lower || a.toLowerCase() === lower);
}
