/**
 * The shape of masking rules, shared by the `mask` plugin and `global.masking`, and the checks
 * the schema cannot make (detector names, regexes, paths, a hash key), each with the path of the
 * field at fault so the config loader can point at its line.
 */
import { Type, type Static } from '@sinclair/typebox';
import { closestName } from '../config/suggest.js';
import { DETECTOR_NAMES, NATIONAL_IDS } from './detectors.js';
import { JsonPathError, parseJsonPath } from './json-path.js';

export const MASK_STYLES = ['full', 'partial', 'hash'] as const;
export type MaskStyle = (typeof MASK_STYLES)[number];

/** Where the hash style's key is read from when a config gives no `hashKey`. */
export const DEFAULT_HASH_KEY_ENV = 'WEIR_MASKING_KEY';

export const MaskingRule = Type.Object(
  {
    detector: Type.Optional(Type.String({ description: `A built-in detector: ${DETECTOR_NAMES.join(', ')}.` })),
    countries: Type.Optional(Type.Array(Type.String(), { minItems: 1, description: `national-id only: the countries to detect (${Object.keys(NATIONAL_IDS).join(', ')}; default all).` })),
    regex: Type.Optional(Type.String({ minLength: 1, description: 'A JavaScript regular expression; with a capture group, only the first group is masked.' })),
    ignoreCase: Type.Optional(Type.Boolean({ description: 'regex only: match letters in either case.' })),
    path: Type.Optional(Type.String({ description: "A JSON path into JSON bodies ($.user.password, $.items[*].card, $..token): Weir's own subset of JSONPath." })),
    style: Type.Optional(Type.Union(MASK_STYLES.map((s) => Type.Literal(s)), { default: 'full', description: 'full: ****; partial: keep the end (last 4 digits, first letter and domain of an email); hash: # and 12 hex digits of HMAC-SHA256.' })),
    keep: Type.Optional(Type.Integer({ minimum: 0, maximum: 64, description: 'partial only: how many characters (digits for cards and phones) stay visible (default 4; emails: the first letter).' })),
  },
  { additionalProperties: false },
);
export type MaskingRuleConfig = Static<typeof MaskingRule>;

/** The fields every masking config has. */
export const maskingFields = {
  rules: Type.Array(MaskingRule, { description: 'Applied in order: path rules first, then detectors and regexes over every string left.' }),
  hashKey: Type.Optional(Type.String({ minLength: 16, description: 'Key of the hash style (use ${secret:name}); default: the environment variable named by hashKeyEnv.' })),
  hashKeyEnv: Type.Optional(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: `Environment variable holding the hash style's key (default ${DEFAULT_HASH_KEY_ENV}).` })),
};

export interface MaskingSettings {
  rules: MaskingRuleConfig[];
  hashKey?: string;
  hashKeyEnv?: string;
}

export interface RuleProblem {
  path: string;
  message: string;
}

/** The key of the hash style, or undefined when neither the config nor the environment has one. */
export function hashKeyOf(settings: MaskingSettings): string | undefined {
  const key = settings.hashKey ?? process.env[settings.hashKeyEnv ?? DEFAULT_HASH_KEY_ENV];
  return key === undefined || key === '' ? undefined : key;
}

/** Problems of a masking config the schema accepted; paths are relative to it (`/rules/2/regex`). */
export function maskingProblems(settings: MaskingSettings): RuleProblem[] {
  const problems: RuleProblem[] = [];
  settings.rules.forEach((rule, i) => {
    const at = `/rules/${i}`;
    const kinds = (['detector', 'regex', 'path'] as const).filter((k) => rule[k] !== undefined);
    if (kinds.length !== 1) {
      problems.push({ path: at, message: `a rule has exactly one of detector, regex or path (this one has ${kinds.length === 0 ? 'none' : kinds.join(' and ')})` });
      return;
    }
    if (rule.detector !== undefined) problems.push(...detectorProblems(rule, at));
    if (rule.countries !== undefined && rule.detector !== 'national-id') problems.push({ path: `${at}/countries`, message: 'countries only applies to detector national-id' });
    if (rule.ignoreCase !== undefined && rule.regex === undefined) problems.push({ path: `${at}/ignoreCase`, message: 'ignoreCase only applies to a regex rule' });
    if (rule.regex !== undefined) {
      const message = regexProblem(rule.regex, rule.ignoreCase === true);
      if (message !== null) problems.push({ path: `${at}/regex`, message });
    }
    if (rule.path !== undefined) {
      try {
        parseJsonPath(rule.path);
      } catch (err) {
        if (!(err instanceof JsonPathError)) throw err;
        problems.push({ path: `${at}/path`, message: `invalid JSON path: ${err.message}` });
      }
    }
    if (rule.keep !== undefined && rule.style !== 'partial') problems.push({ path: `${at}/keep`, message: 'keep only applies to style partial' });
  });
  const hashAt = settings.rules.findIndex((rule) => rule.style === 'hash');
  if (hashAt !== -1 && hashKeyOf(settings) === undefined) {
    const env = settings.hashKeyEnv ?? DEFAULT_HASH_KEY_ENV;
    problems.push({ path: `/rules/${hashAt}/style`, message: `style hash needs a key: set hashKey (e.g. \${secret:masking-key}) or the environment variable ${env} (it is not set)` });
  }
  return problems;
}

function detectorProblems(rule: MaskingRuleConfig, at: string): RuleProblem[] {
  const name = rule.detector!;
  if (!DETECTOR_NAMES.includes(name)) {
    const suggestion = closestName(name, DETECTOR_NAMES);
    return [{ path: `${at}/detector`, message: `unknown detector "${name}"; ${suggestion === null ? `expected one of: ${DETECTOR_NAMES.join(', ')}` : `did you mean "${suggestion}"?`}` }];
  }
  return (rule.countries ?? []).flatMap((country, j) =>
    Object.hasOwn(NATIONAL_IDS, country) ? [] : [{ path: `${at}/countries/${j}`, message: `no national-id detector for "${country}"; known: ${Object.keys(NATIONAL_IDS).join(', ')}` }],
  );
}

/**
 * Why a user pattern is refused, or null. Besides syntax: a pattern that can match nothing would
 * mask between every character, and a quantified group that itself contains a quantifier
 * (`(a+)+`, `(\w*)*`) backtracks exponentially on a near-miss — the classic catastrophic pattern.
 */
export function regexProblem(source: string, ignoreCase: boolean): string | null {
  let re: RegExp;
  try {
    re = new RegExp(source, ignoreCase ? 'dgi' : 'dg');
  } catch (err) {
    return (err as Error).message;
  }
  if (re.test('')) return 'the pattern matches the empty string, so it would mask between every character';
  if (hasNestedQuantifier(source)) return 'the pattern repeats a group that itself repeats (like (a+)+), which can take exponential time on some inputs; rewrite it without the nested repetition';
  return null;
}

function hasNestedQuantifier(source: string): boolean {
  // One entry per open group: whether something inside it repeats without bound.
  const groups: boolean[] = [];
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const c = source[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(') groups.push(false);
    else if (c === ')') {
      const repeatsInside = groups.pop() ?? false;
      const repeated = unboundedQuantifierAt(source, i + 1);
      if (repeatsInside && repeated) return true;
      if ((repeatsInside || repeated) && groups.length > 0) groups[groups.length - 1] = true;
    } else if (unboundedQuantifierAt(source, i) && groups.length > 0) {
      groups[groups.length - 1] = true;
    }
  }
  return false;
}

function unboundedQuantifierAt(source: string, i: number): boolean {
  const c = source[i];
  return c === '*' || c === '+' || (c === '{' && /^\{\d*,\}/.test(source.slice(i)));
}
