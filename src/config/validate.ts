/**
 * Schema validation of a parsed weir.yaml. TypeBox reports every error; this turns them into one
 * readable problem per path: a union (Duration, HashOn, `false | {…}`) becomes one sentence instead
 * of an error per variant, and a missing or unknown property is named.
 */
import { Kind, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, ValueErrorType, type ValueError } from '@sinclair/typebox/compiler';
import { WeirConfig, type RawConfig } from './schema.js';
import { pointerOf, pointerSegments, valueAtPointer, type Problem } from './locate.js';
import { closestName } from './suggest.js';

// Compiled once: validation is on the reload path, not worth recompiling per file.
const checker = TypeCompiler.Compile(WeirConfig);

/** Messages for the titled unions of schema.ts, whose variants alone would say little. */
export const UNION_MESSAGES: Record<string, string> = {
  Duration: 'expected a duration such as 250, "250ms", "2s"',
  Size: 'expected a size such as 1048576, "16kb", "10mb"',
  HashOn: 'expected one of {header: <name>}, {cookie: <name>}, {clientIp: true}',
  HeaderMatcher: 'expected an exact value (a string), {regex: <pattern>} or {present: true|false}',
};

/** What each `pattern` of schema.ts means, in words. */
const PATTERN_MESSAGES: Record<string, string> = {
  '^/': 'must start with "/"',
  '^https?://': 'must start with "http://" or "https://"',
  '^[A-Za-z0-9_.-]+$': 'use only letters, digits, "_", "." and "-"',
};

/** Lists that mean "everything" when left out, and so must not be written empty. */
const EMPTY_LIST_HINTS: Record<string, string> = {
  methods: ' (leave methods out to match every method)',
  hosts: ' (leave hosts out to match any host)',
  expectStatus: ' (leave expectStatus out to accept any 2xx or 3xx)',
};

/** Errors about a list's or mapping's size, where "(got a list)" would say nothing. */
const COLLECTION_CONSTRAINTS = new Set([
  ValueErrorType.ArrayMinItems,
  ValueErrorType.ArrayMaxItems,
  ValueErrorType.ArrayUniqueItems,
  ValueErrorType.ObjectMinProperties,
  ValueErrorType.ObjectMaxProperties,
]);

/** True when `value` has the shape of weir.yaml. */
export function matchesSchema(value: unknown): value is RawConfig {
  return checker.Check(value);
}

/** Every schema problem of `value`, at most one per path, in TypeBox's (document) order. */
export function schemaProblems(value: unknown): Problem[] {
  const byPath = new Map<string, Problem>();
  for (const error of checker.Errors(value)) {
    for (const problem of explain(error, value)) {
      if (!byPath.has(problem.path)) byPath.set(problem.path, problem);
    }
  }
  return [...byPath.values()];
}

function explain(error: ValueError, root: unknown): Problem[] {
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return unexpectedKeys(error, root);
  // A missing required property shows up twice (required + wrong type of `undefined`): one message.
  if (error.value === undefined) return [{ path: error.path, message: `missing required property "${lastSegment(error.path)}"` }];
  if (error.type === ValueErrorType.Union) return explainUnion(error, root);
  const got = COLLECTION_CONSTRAINTS.has(error.type) ? '' : ` (got ${described(error.value)})`;
  return [{ path: error.path, message: expectation(error) + got }];
}


function unexpectedKeys(error: ValueError, root: unknown): Problem[] {
  const schema = error.schema;
  if (schema[Kind] === 'Record') return invalidRecordKeys(schema, parentPointer(error.path), root);
  const key = lastSegment(error.path);
  const allowed = Object.keys((schema['properties'] ?? {}) as Record<string, unknown>);
  const suggestion = closestName(key, allowed);
  const hint = suggestion === null ? `expected one of: ${allowed.join(', ')}` : `did you mean "${suggestion}"?`;
  return [{ path: error.path, anchor: 'key', message: `unknown property "${key}"; ${hint}` }];
}

/** TypeBox stops at the first bad key of a record; report them all. */
function invalidRecordKeys(schema: TSchema, pointer: string, root: unknown): Problem[] {
  const pattern = Object.keys((schema['patternProperties'] ?? {}) as Record<string, unknown>)[0] ?? '';
  const record = valueAtPointer(root, pointer) as Record<string, unknown>;
  return Object.keys(record)
    .filter((key) => !new RegExp(pattern).test(key))
    .map((key) => ({
      path: `${pointer}${pointerOf(key)}`,
      anchor: 'key' as const,
      message: `invalid name "${key}": ${PATTERN_MESSAGES[pattern] ?? `must match ${pattern}`}`,
    }));
}

function explainUnion(error: ValueError, root: unknown): Problem[] {
  const got = ` (got ${described(error.value)})`;
  const known = UNION_MESSAGES[String(error.schema['title'])];
  if (known !== undefined) return [{ path: error.path, message: known + got }];
  const variants = (error.schema['anyOf'] ?? []) as TSchema[];
  // `{…} | false` given a mapping: the mapping was meant, so report what is wrong inside it.
  const objectVariants = variants.flatMap((variant, i) => (variant[Kind] === 'Object' ? [i] : []));
  const meant = objectVariants.length === 1 && isMapping(error.value) ? error.errors[objectVariants[0] ?? 0] : undefined;
  if (meant !== undefined) return [...meant].flatMap((inner) => explain(inner, root));
  const literals = variants.every((variant) => variant[Kind] === 'Literal');
  const expected = literals
    ? `expected one of ${variants.map((variant) => JSON.stringify(variant['const'])).join(', ')}`
    : `expected ${variants.map(kindName).join(' or ')}`;
  return [{ path: error.path, message: expected + got }];
}

/** What the schema wanted, for a non-union error. */
function expectation(error: ValueError): string {
  const schema = error.schema;
  switch (error.type) {
    case ValueErrorType.Object:
      return 'expected a mapping (key: value pairs)';
    case ValueErrorType.Array:
      return 'expected a list';
    case ValueErrorType.String:
      return 'expected a string';
    case ValueErrorType.Integer:
      return 'expected an integer';
    case ValueErrorType.Number:
      return 'expected a number';
    case ValueErrorType.Boolean:
      return 'expected true or false';
    case ValueErrorType.Literal:
      return `expected ${JSON.stringify(schema['const'])}`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(schema['minimum'])}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(schema['maximum'])}`;
    case ValueErrorType.ArrayMinItems:
      if (schema['minItems'] !== 1) return `must have at least ${String(schema['minItems'])} items`;
      return `must not be empty${EMPTY_LIST_HINTS[lastSegment(error.path)] ?? ''}`;
    case ValueErrorType.StringMinLength:
      return schema['minLength'] === 1 ? 'must not be empty' : `must be at least ${String(schema['minLength'])} characters`;
    case ValueErrorType.StringPattern:
      return PATTERN_MESSAGES[String(schema['pattern'])] ?? `must match ${String(schema['pattern'])}`;
    default:
      return error.message.charAt(0).toLowerCase() + error.message.slice(1);
  }
}

function kindName(schema: TSchema): string {
  switch (schema[Kind]) {
    case 'Object':
    case 'Record':
      return 'a mapping';
    case 'Array':
      return 'a list';
    case 'Literal':
      return JSON.stringify(schema['const']);
    case 'Integer':
      return 'an integer';
    case 'String':
      return 'a string';
    case 'Boolean':
      return 'true or false';
    default:
      return 'a valid value';
  }
}

/** A short description of a parsed YAML value for "(got …)". */
function described(value: unknown): string {
  if (value === null) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}…` : text;
}

function isMapping(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function lastSegment(pointer: string): string {
  return pointerSegments(pointer).at(-1) ?? '';
}

function parentPointer(pointer: string): string {
  return pointerOf(...pointerSegments(pointer).slice(0, -1));
}
