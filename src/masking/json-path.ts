/**
 * The JSON paths masking rules address fields with. This is Weir's own small subset of JSONPath
 * (RFC 9535), not a full implementation: it only ever selects fields to overwrite, so filters,
 * slices and functions are left out on purpose.
 *
 *   $.user.password     a member          $['x-token']   a member by quoted name
 *   $.items[0].card     an array element  $.items[*]     every element (or every member)
 *   $.user.*            every member      $..token       `token` at any depth
 */

export type Segment =
  | { readonly kind: 'member'; readonly name: string }
  | { readonly kind: 'index'; readonly index: number }
  | { readonly kind: 'every' }
  | { readonly kind: 'descendants'; readonly name: string | null };

/** A path that does not parse; `message` says where. */
export class JsonPathError extends Error {}

/** A place in a parsed JSON value: `parent[key]`. */
export interface Slot {
  readonly parent: Record<string, unknown> | unknown[];
  readonly key: string | number;
}

const NAME = /^[A-Za-z_$][A-Za-z0-9_$-]*/;

/** The segments of `path`, or a JsonPathError. */
export function parseJsonPath(path: string): Segment[] {
  if (!path.startsWith('$')) throw new JsonPathError('a path starts with "$"');
  const segments: Segment[] = [];
  let i = 1;
  const fail = (what: string): never => {
    throw new JsonPathError(`${what} at position ${i} of ${JSON.stringify(path)}`);
  };
  while (i < path.length) {
    if (path.startsWith('..', i)) {
      i += 2;
      if (path[i] === '*') {
        i++;
        segments.push({ kind: 'descendants', name: null });
        continue;
      }
      if (path[i] === '[') {
        const { name, end } = bracketName(path, i, fail);
        i = end;
        segments.push({ kind: 'descendants', name });
        continue;
      }
      const name = NAME.exec(path.slice(i))?.[0] ?? fail('expected a member name after ".."');
      i += name.length;
      segments.push({ kind: 'descendants', name });
    } else if (path[i] === '.') {
      i++;
      if (path[i] === '*') {
        i++;
        segments.push({ kind: 'every' });
        continue;
      }
      const name = NAME.exec(path.slice(i))?.[0] ?? fail('expected a member name after "."');
      i += name.length;
      segments.push({ kind: 'member', name });
    } else if (path[i] === '[') {
      if (path.startsWith('[*]', i)) {
        i += 3;
        segments.push({ kind: 'every' });
        continue;
      }
      const index = /^\[(\d{1,9})\]/.exec(path.slice(i));
      if (index !== null) {
        i += index[0].length;
        segments.push({ kind: 'index', index: Number(index[1]) });
        continue;
      }
      const { name, end } = bracketName(path, i, fail);
      i = end;
      segments.push({ kind: 'member', name });
    } else {
      fail(`unexpected ${JSON.stringify(path[i])}`);
    }
  }
  if (segments.length === 0) fail('the path selects the whole body; name a field');
  return segments;
}

function bracketName(path: string, start: number, fail: (what: string) => never): { name: string; end: number } {
  const quoted = /^\[(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\]/.exec(path.slice(start));
  if (quoted === null) return fail('expected [n], [*] or [\'name\']');
  const name = (quoted[1] ?? quoted[2]!).replace(/\\(.)/g, '$1');
  return { name, end: start + quoted[0].length };
}

/** Every place in `root` that `segments` select (a place may come up twice with `..`). */
export function selectSlots(root: unknown, segments: readonly Segment[]): Slot[] {
  const out: Slot[] = [];
  collect(root, segments, 0, out);
  return out;
}

function collect(node: unknown, segments: readonly Segment[], i: number, out: Slot[]): void {
  if (typeof node !== 'object' || node === null) return;
  const segment = segments[i]!;
  const last = i === segments.length - 1;
  const hit = (parent: Record<string, unknown> | unknown[], key: string | number): void => {
    if (last) out.push({ parent, key });
    else collect((parent as Record<string | number, unknown>)[key], segments, i + 1, out);
  };
  const container = node as Record<string, unknown> | unknown[];
  switch (segment.kind) {
    case 'member':
      if (!Array.isArray(node) && Object.hasOwn(node, segment.name)) hit(container, segment.name);
      return;
    case 'index':
      if (Array.isArray(node) && segment.index < node.length) hit(container, segment.index);
      return;
    case 'every':
      for (const key of keysOf(container)) hit(container, key);
      return;
    case 'descendants':
      for (const key of keysOf(container)) {
        if (segment.name === null || key === segment.name) hit(container, key);
        collect((container as Record<string | number, unknown>)[key], segments, i, out);
      }
  }
}

function keysOf(node: Record<string, unknown> | unknown[]): Array<string | number> {
  return Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
}
