import type { HeaderList } from '../../http/header-list.js';

/** Header edits, compiled: rename, then remove, then set, then add. */
export interface NameEdits {
  rename?: Record<string, string>;
  remove?: string[];
  set?: Record<string, string>;
  add?: Record<string, string>;
}

export function compileHeaderEdits(edits: NameEdits | undefined): ((headers: HeaderList) => void) | null {
  if (edits === undefined) return null;
  const rename = Object.entries(edits.rename ?? {}).map(([from, to]) => [from.toLowerCase(), to] as const);
  const remove = (edits.remove ?? []).map((n) => n.toLowerCase());
  const set = Object.entries(edits.set ?? {}).map(([n, v]) => [n.toLowerCase(), v] as const);
  const add = Object.entries(edits.add ?? {});
  if (rename.length + remove.length + set.length + add.length === 0) return null;
  return (headers) => {
    if (rename.length > 0) {
      const raw = headers.raw;
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i]!.toLowerCase();
        for (const [from, to] of rename) if (lower === from) raw[i] = to;
      }
    }
    for (const name of remove) headers.remove(name);
    for (const [name, value] of set) headers.set(name, value);
    for (const [name, value] of add) headers.add(name, value);
  };
}

/**
 * Query edits on the raw query string (without `?`): parameters are matched by their decoded
 * name; those left alone keep their exact bytes; names and values written here are encoded.
 */
export function compileQueryEdits(edits: NameEdits | undefined): ((query: string) => string) | null {
  if (edits === undefined) return null;
  const rename = new Map(Object.entries(edits.rename ?? {}));
  const remove = new Set(edits.remove ?? []);
  const set = Object.entries(edits.set ?? {});
  const add = Object.entries(edits.add ?? {});
  if (rename.size + remove.size + set.length + add.length === 0) return null;
  const setNames = new Set(set.map(([n]) => n));
  const encodedSet = set.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`);
  const encodedAdd = add.map(([n, v]) => `${encodeURIComponent(n)}=${encodeURIComponent(v)}`);
  return (query) => {
    const out: string[] = [];
    if (query !== '') {
      for (const pair of query.split('&')) {
        if (pair === '') continue;
        const eq = pair.indexOf('=');
        const rawName = eq === -1 ? pair : pair.slice(0, eq);
        let name = decode(rawName);
        let text = pair;
        const renamed = rename.get(name);
        if (renamed !== undefined) {
          name = renamed;
          text = encodeURIComponent(renamed) + (eq === -1 ? '' : pair.slice(eq));
        }
        if (remove.has(name) || setNames.has(name)) continue;
        out.push(text);
      }
    }
    out.push(...encodedSet, ...encodedAdd);
    return out.join('&');
  };
}

function decode(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}
