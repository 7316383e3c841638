import { createHmac } from 'node:crypto';
import { DETECTORS, NATIONAL_IDS, detectorsFor, type Detector } from './detectors.js';
import { parseJsonPath, selectSlots, type Segment, type Slot } from './json-path.js';
import { hashKeyOf, type MaskingRuleConfig, type MaskingSettings, type MaskStyle } from './rules.js';

/** What `full` puts in place of a value: fixed, so it does not give the length away. */
export const FULL_MASK = '****';

/** User regexes run over at most this many characters at a time (a line, or a slice of a longer one). */
const MAX_SCAN = 16 * 1024;

/** A compiled rule set. Built once per config version; every method is safe to call per request. */
export interface Masker {
  /** True when there are rules (a masker without any changes nothing). */
  readonly active: boolean;
  /** Detectors and regexes over free text (paths do not apply). */
  text(text: string): string;
  /**
   * A parsed JSON value with path rules applied, then detectors and regexes over every string
   * (and integer) left. Changes `value` in place and returns it (or its replacement, for a
   * string or number at the root).
   */
  json(value: unknown): unknown;
  /**
   * A body as it should be sent or stored: JSON content types are parsed and walked, text ones
   * (text/*, XML, form data, NDJSON) scanned as text; null when the type is neither or the body
   * came out unchanged.
   */
  body(bytes: Buffer, contentType: string | undefined): string | null;
}

type Replace = (match: string) => string;

interface TextRule {
  readonly pattern: RegExp;
  /** Detector rules: whether a candidate counts (and how much of one that does not, counts). */
  readonly detector?: Detector;
  /** User regexes: scanned a bounded slice at a time, and only group 1 masked when there is one. */
  readonly user: boolean;
  readonly replace: Replace;
}

interface PathRule {
  readonly segments: Segment[];
  readonly style: MaskStyle;
  readonly keep: number | undefined;
}

/**
 * Compiles `settings` (already checked by maskingProblems) into a Masker.
 *
 * @example
 * const masker = compileMasker({ rules: [{ detector: 'card', style: 'partial' }, { path: '$..password' }] });
 * masker.text('paid with 4111 1111 1111 1111') // 'paid with **** **** **** 1111'
 */
export function compileMasker(settings: MaskingSettings): Masker {
  const key = hashKeyOf(settings);
  if (settings.rules.some((rule) => rule.style === 'hash') && key === undefined) throw new Error('masking style hash needs a key (hashKey or its environment variable)');
  const stylist = styles(key ?? '');
  const textRules: TextRule[] = [];
  const pathRules: PathRule[] = [];
  for (const rule of settings.rules) {
    const style = rule.style ?? 'full';
    if (rule.path !== undefined) pathRules.push({ segments: parseJsonPath(rule.path), style, keep: rule.keep });
    else if (rule.regex !== undefined) textRules.push(regexRule(rule, stylist));
    else if (rule.detector !== undefined) {
      for (const detector of detectorsFor(rule.detector, rule.countries)) {
        textRules.push({ pattern: new RegExp(detector.pattern.source, 'g'), detector, user: false, replace: (m) => stylist(style, m, rule.keep, detector) });
      }
    }
  }
  const text = (input: string): string => {
    let out = input;
    for (const rule of textRules) out = rule.user ? inSlices(out, (slice) => applyRule(rule, slice)) : applyRule(rule, out);
    return out;
  };
  const json = (value: unknown): unknown => {
    const masked = new WeakMap<object, Set<string | number>>();
    for (const rule of pathRules) {
      for (const slot of selectSlots(value, rule.segments)) {
        let done = masked.get(slot.parent);
        if (done?.has(slot.key)) continue;
        if (done === undefined) masked.set(slot.parent, (done = new Set()));
        done.add(slot.key);
        write(slot, maskWhole(read(slot), rule, stylist));
      }
    }
    return textRules.length === 0 ? value : walkStrings(value, text, masked);
  };
  return {
    active: textRules.length > 0 || pathRules.length > 0,
    text,
    json,
    body(bytes, contentType) {
      const kind = bodyKind(contentType);
      if (kind === null || bytes.length === 0) return null;
      const source = bytes.toString('utf8');
      if (kind === 'json') {
        let parsed: unknown;
        try {
          parsed = JSON.parse(source);
        } catch {
          // Says JSON but is not: still scanned, as text, rather than let it through unmasked.
          return changedOrNull(source, text(source));
        }
        if (pathRules.length === 0 && textRules.length === 0) return null;
        return changedOrNull(source, JSON.stringify(json(parsed)));
      }
      return changedOrNull(source, text(source));
    },
  };
}

function changedOrNull(before: string, after: string): string | null {
  return after === before ? null : after;
}

/** 'json', 'text' or null (bodies masking leaves alone: images, archives, protobuf …). */
export function bodyKind(contentType: string | undefined): 'json' | 'text' | null {
  if (contentType === undefined) return null;
  const mime = contentType.split(';', 1)[0]!.trim().toLowerCase();
  if (mime === 'application/json' || mime.endsWith('+json')) return 'json';
  if (mime.startsWith('text/') || mime === 'application/xml' || mime.endsWith('+xml') || mime === 'application/x-www-form-urlencoded' || mime === 'application/x-ndjson') return 'text';
  return null;
}

type Stylist = (style: MaskStyle, match: string, keep: number | undefined, detector: Detector | undefined) => string;

function styles(key: string): Stylist {
  return (style, match, keep, detector) => {
    if (style === 'full') return FULL_MASK;
    if (style === 'hash') return `#${createHmac('sha256', key).update(detector === undefined ? match : detector.canonical(match)).digest('hex').slice(0, 12)}`;
    if (detector !== undefined) return detector.partial(match, keep ?? detector.keep);
    const visible = keep ?? 4;
    // At least half stays hidden, or "partial" would show most of a short secret.
    return match.length >= visible * 2 && visible > 0 ? FULL_MASK + match.slice(-visible) : FULL_MASK;
  };
}

function regexRule(rule: MaskingRuleConfig, stylist: Stylist): TextRule {
  const pattern = new RegExp(rule.regex!, rule.ignoreCase === true ? 'dgi' : 'dg');
  const style = rule.style ?? 'full';
  return { pattern, user: true, replace: (m) => stylist(style, m, rule.keep, undefined) };
}

function applyRule(rule: TextRule, input: string): string {
  if (rule.detector !== undefined && !rule.detector.mayContain(input)) return input;
  const re = rule.pattern;
  re.lastIndex = 0;
  let out = '';
  let last = 0;
  for (let m = re.exec(input); m !== null; m = re.exec(input)) {
    if (m[0] === '') {
      re.lastIndex++;
      continue;
    }
    let length = m[0].length;
    if (rule.detector !== undefined && !rule.detector.valid(m[0])) {
      length = rule.detector.validPrefix?.(m[0]) ?? 0;
      if (length === 0) continue;
      re.lastIndex = m.index + length;
    }
    // With a capture group, the group is the secret and the rest is context (`password=(…)`).
    const [start, end] = m.indices?.[1] ?? [m.index, m.index + length];
    out += input.slice(last, start) + rule.replace(input.slice(start, end));
    last = end;
  }
  return last === 0 ? input : out + input.slice(last);
}

/** `fn` over each line of `text`, and over bounded slices of a line longer than MAX_SCAN. */
function inSlices(text: string, fn: (slice: string) => string): string {
  if (text.length <= MAX_SCAN) return fn(text);
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= MAX_SCAN) return fn(line);
      let out = '';
      for (let i = 0; i < line.length; i += MAX_SCAN) out += fn(line.slice(i, i + MAX_SCAN));
      return out;
    })
    .join('\n');
}

function read(slot: Slot): unknown {
  return (slot.parent as Record<string | number, unknown>)[slot.key];
}

function write(slot: Slot, value: unknown): void {
  (slot.parent as Record<string | number, unknown>)[slot.key] = value;
}

/** A whole field a path selected: strings and numbers by their text, objects and arrays as one. */
function maskWhole(value: unknown, rule: PathRule, stylist: Stylist): unknown {
  if (value === null || value === undefined) return value;
  if (typeof value === 'object') return rule.style === 'hash' ? stylist('hash', JSON.stringify(value), undefined, undefined) : FULL_MASK;
  const text = String(value);
  // A path rule's partial still shows an email or a card the way its detector would.
  return stylist(rule.style, text, rule.keep, rule.style === 'partial' ? wholeMatch(text) : undefined);
}

const WHOLE_VALUE_DETECTORS = [...Object.values(DETECTORS), ...Object.values(NATIONAL_IDS)].map((detector) => ({ detector, whole: new RegExp(`^(?:${detector.pattern.source})$`) }));

function wholeMatch(text: string): Detector | undefined {
  return WHOLE_VALUE_DETECTORS.find(({ detector, whole }) => whole.test(text) && detector.valid(text))?.detector;
}

/** Detectors and regexes over every string and integer of `value`, skipping what paths masked. */
function walkStrings(value: unknown, text: (s: string) => string, masked: WeakMap<object, Set<string | number>>): unknown {
  if (typeof value === 'string') return text(value);
  if (typeof value === 'number') return maskedNumber(value, text);
  if (typeof value !== 'object' || value === null) return value;
  const skip = masked.get(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (skip?.has(i) !== true) value[i] = walkStrings(value[i], text, masked);
  } else {
    const record = value as Record<string, unknown>;
    for (const k of Object.keys(record)) if (skip?.has(k) !== true) record[k] = walkStrings(record[k], text, masked);
  }
  return value;
}

/**
 * A card number sent as a JSON number is still a card number. Only safe integers are looked at:
 * past 2^53 JSON.parse has already rounded the digits, so there is nothing exact left to test.
 */
function maskedNumber(value: number, text: (s: string) => string): number | string {
  if (!Number.isSafeInteger(value)) return value;
  const digits = String(value);
  const out = text(digits);
  return out === digits ? value : out;
}
