/**
 * Maps a JSON pointer (`/services/orders/timeouts/connect`) back to a line and column of the YAML
 * source, so every config issue can say where to look.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export interface Position {
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
}

/**
 * `'value'` (default) points at a scalar value itself, or at the key that holds a mapping or a
 * list (its first line is where a reader looks). `'key'` always points at the key: used for
 * "unknown property".
 */
export type Anchor = 'key' | 'value';

/** Finds positions in one parsed document. */
export type Locator = (pointer: string, anchor?: Anchor) => Position;

/** A problem found in the parsed value, before it is given a position in the file. */
export interface Problem {
  path: string;
  message: string;
  anchor?: Anchor;
}

/** The segments of a JSON pointer, unescaped (`~1` is `/`, `~0` is `~`). */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The value a pointer names inside plain parsed data (undefined when absent). */
export function valueAtPointer(root: unknown, pointer: string): unknown {
  let value = root;
  for (const segment of pointerSegments(pointer)) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

/** A JSON pointer from segments, escaped. */
export function pointerOf(...segments: Array<string | number>): string {
  return segments.map((segment) => `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/**
 * A locator for `doc`. When the pointer names something that is not in the file (a missing
 * required property), it points at the nearest parent that is.
 */
export function locatorFor(doc: Document, lineCounter: LineCounter): Locator {
  const positionAt = (node: Node | null | undefined): Position | null => {
    if (node === null || node === undefined || node.range === undefined || node.range === null) return null;
    const { line, col } = lineCounter.linePos(node.range[0]);
    return { line, column: col };
  };

  return (pointer, anchor = 'value') => {
    let node = resolved(doc, doc.contents);
    let best: Position = positionAt(node) ?? { line: 1, column: 1 };
    for (const segment of pointerSegments(pointer)) {
      const step = child(node, segment);
      if (step === null) break;
      node = resolved(doc, step.value);
      const keyPosition = positionAt(step.key);
      const valuePosition = positionAt(node);
      const pointAtKey = keyPosition !== null && (anchor === 'key' || !isScalar(node) || isEmpty(node));
      best = (pointAtKey ? keyPosition : valuePosition) ?? best;
    }
    return best;
  };
}

interface Step {
  /** The mapping key that led here (null for a list item). */
  key: Node | null;
  value: Node | null;
}

function child(node: Node | null, segment: string): Step | null {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = pair.key;
      if (isScalar(key) && String(key.value) === segment) return { key, value: (pair.value as Node | null) ?? null };
    }
    return null;
  }
  if (isSeq(node) && /^(0|[1-9][0-9]*)$/.test(segment)) {
    const item = node.items[Number(segment)];
    return item === undefined ? null : { key: null, value: item as Node | null };
  }
  return null;
}

/** `key:` with nothing after it: the key is the place to point at. */
function isEmpty(node: Node): boolean {
  return node.range === undefined || node.range === null || node.range[0] === node.range[1];
}

/** Follows an alias (`*name`) to the node it refers to. */
function resolved(doc: Document, node: unknown): Node | null {
  if (isAlias(node)) return node.resolve(doc) ?? null;
  return (node as Node | null | undefined) ?? null;
}
