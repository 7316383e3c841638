/**
 * Templates: YAML values whose strings hold `{{ expr }}` JMESPath placeholders over the flow
 * context. Everything is compiled once, when the flow is planned; evaluating is a walk over
 * prepared closures. Compiled values are shared between requests: never mutate what they return.
 */
import { compile, TreeInterpreter, type JSONValue } from '@jmespath-community/jmespath';
import { FlowInputError, TemplateError, pointerSegment } from './errors.js';
import { assertKnownFunctions, stepRefs } from './step-refs.js';
import type { FlowContext, Template } from './types.js';

export interface Compiled {
  evaluate(ctx: FlowContext): unknown;
  /** The steps this template reads through `steps.<name>`. */
  readonly refs: ReadonlySet<string>;
  /** For each step read, a JSON pointer to the first place that reads it (for messages). */
  readonly refPaths: ReadonlyMap<string, string>;
}

type Evaluate = (ctx: FlowContext) => unknown;

/** `request.params.id`: walked directly, without the interpreter. */
const DOTTED_PATH = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * Compiles one JMESPath expression (a `when`, a forEach's `items`).
 * @example compileExpression('steps.user.body.id').evaluate(ctx)
 */
export function compileExpression(source: string, at = ''): Compiled {
  const refPaths = new Map<string, string>();
  const evaluate = compileSource(source, at, JSON.stringify(source), refPaths);
  return compiled(evaluate, refPaths);
}

/** An expression over a plain value (a response body, one of its elements), not over the flow context. */
export interface CompiledData {
  evaluate(value: unknown): unknown;
}

/**
 * Compiles one JMESPath expression evaluated on data rather than on the flow context (a batch's
 * `results` and `key`): `@` is the value itself, and `steps` is just a field name, not a step.
 * @example compileDataExpression('data.products').evaluate(body)
 */
export function compileDataExpression(source: string, at = ''): CompiledData {
  let ast;
  try {
    ast = compile(source);
    assertKnownFunctions(ast);
  } catch (error) {
    throw new TemplateError(at, `${JSON.stringify(source)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (DOTTED_PATH.test(source)) {
    const walk = walkPath(source.split('.'));
    return { evaluate: (value) => walk(value as FlowContext) };
  }
  return {
    evaluate(value) {
      try {
        return TreeInterpreter.search(ast, (value ?? null) as JSONValue);
      } catch (error) {
        throw new Error(`${JSON.stringify(source)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
    },
  };
}

/**
 * Compiles a template: any YAML value, strings with `{{ expr }}` placeholders. A string that is
 * exactly one placeholder yields the raw value; otherwise values are interpolated as text.
 * @example compileTemplate({ id: '{{ steps.user.body.id }}', label: 'user {{ request.params.id }}' })
 */
export function compileTemplate(template: Template, at = ''): Compiled {
  const refPaths = new Map<string, string>();
  const node = compileValue(template, at, refPaths);
  return compiled(node ?? (() => template), refPaths);
}

/**
 * Compiles a path template. Every placeholder value is percent-encoded, so it stays inside its
 * segment: `../admin` or `a/b?x` cannot add segments or a query.
 * @example compilePathTemplate('/users/{{ request.params.id }}/orders')
 */
export function compilePathTemplate(path: string, at = ''): Compiled {
  if (!path.startsWith('/')) throw new TemplateError(at, `path ${JSON.stringify(path)} must start with /`);
  const literal = path.replace(/\{\{[\s\S]*?\}\}/g, 'x');
  if (/[?#]/.test(literal)) throw new TemplateError(at, `path ${JSON.stringify(path)} has ? or #; put parameters under query`);
  // Dot segments written in the template itself are an authoring error, not bad input.
  if (hasDotSegment(literal)) {
    throw new TemplateError(at, `path ${JSON.stringify(path)} has a . or .. segment`);
  }
  const refPaths = new Map<string, string>();
  const evaluate = compileText(path, at, refPaths, pathSegmentText, false);
  if (!evaluate) return compiled(() => path, refPaths);
  return compiled((ctx) => {
    const result = evaluate(ctx) as string;
    // A whole segment of `.` or `..` from a value would climb the upstream's path.
    if (hasDotSegment(result)) throw new FlowInputError(`path ${JSON.stringify(result)} has a . or .. segment`);
    return result;
  }, refPaths);
}

/**
 * Runs a compile, recording a TemplateError in `problems` instead of throwing, so the planner can
 * report every problem of a flow at once. The stand-in it returns must never be evaluated.
 */
export function compileCollecting(problems: TemplateError[], compileIt: () => Compiled): Compiled {
  try {
    return compileIt();
  } catch (error) {
    if (!(error instanceof TemplateError)) throw error;
    problems.push(error);
    return compiled(() => {
      throw error;
    }, new Map());
  }
}

/** A header value as text; CR, LF and NUL would split or truncate the header, so they are refused. */
export function headerValue(value: unknown, name = 'header'): string {
  const text = toText(value);
  if (/[\r\n\0]/.test(text)) throw new FlowInputError(`${name}: value contains CR, LF or NUL`);
  return text;
}

/** How a placeholder value reads inside text: null and undefined are empty, objects are JSON. */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function compiled(evaluate: Evaluate, refPaths: Map<string, string>): Compiled {
  return { evaluate, refs: new Set(refPaths.keys()), refPaths };
}

/** An evaluator, or null when the value has no placeholders and is used as is. */
function compileValue(value: unknown, at: string, refPaths: Map<string, string>): Evaluate | null {
  if (typeof value === 'string') return compileText(value, at, refPaths, toText, true);
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileValue(item, `${at}/${i}`, refPaths));
    if (items.every((item) => item === null)) return null;
    return (ctx) => items.map((item, i) => (item ? item(ctx) : value[i]));
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).map(
      ([key, item]) => [key, item, compileValue(item, `${at}/${pointerSegment(key)}`, refPaths)] as const,
    );
    if (entries.every(([, , evaluate]) => evaluate === null)) return null;
    return (ctx) => {
      const out: Record<string, unknown> = {};
      for (const [key, item, evaluate] of entries) out[key] = evaluate ? evaluate(ctx) : item;
      return out;
    };
  }
  return null;
}

/**
 * A string with placeholders; `asText` turns each placeholder value into text. With `rawAlone`, a
 * string that is exactly one placeholder yields the value itself.
 */
function compileText(
  text: string,
  at: string,
  refPaths: Map<string, string>,
  asText: (value: unknown, label: string) => string,
  rawAlone: boolean,
): Evaluate | null {
  const parts = splitPlaceholders(text, at, refPaths);
  const first = parts[0];
  if (parts.length === 1 && typeof first === 'string') return null;
  if (rawAlone && parts.length === 1 && first !== undefined && typeof first !== 'string') return first.evaluate;
  return (ctx) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : asText(part.evaluate(ctx), part.label);
    return out;
  };
}

interface Placeholder {
  evaluate: Evaluate;
  label: string;
}

function splitPlaceholders(text: string, at: string, refPaths: Map<string, string>): Array<string | Placeholder> {
  const parts: Array<string | Placeholder> = [];
  let from = 0;
  for (let open = text.indexOf('{{'); open >= 0; open = text.indexOf('{{', from)) {
    if (open > from) parts.push(text.slice(from, open));
    let firstError: unknown;
    let found: { evaluate: Evaluate; label: string; end: number } | undefined;
    // An expression may itself hold `}}` (`{a: {b: c}}`): take the first close that compiles.
    for (let close = text.indexOf('}}', open + 2); close >= 0 && !found; close = text.indexOf('}}', close + 1)) {
      const source = text.slice(open + 2, close).trim();
      const label = `{{ ${source} }}`;
      try {
        if (source === '') throw new TemplateError(at, `empty placeholder {{ }}`);
        found = { evaluate: compileSource(source, at, label, refPaths), label, end: close + 2 };
      } catch (error) {
        firstError ??= error;
      }
    }
    if (!found) throw firstError ?? new TemplateError(at, `unclosed placeholder in ${JSON.stringify(text)}`);
    parts.push({ evaluate: found.evaluate, label: found.label });
    from = found.end;
  }
  if (from < text.length || parts.length === 0) parts.push(text.slice(from));
  return parts;
}

function compileSource(source: string, at: string, label: string, refPaths: Map<string, string>): Evaluate {
  let ast;
  let refs;
  try {
    ast = compile(source);
    refs = stepRefs(ast);
  } catch (error) {
    throw new TemplateError(at, `${label}: ${error instanceof Error ? error.message : String(error)}`);
  }
  for (const ref of refs) if (!refPaths.has(ref)) refPaths.set(ref, at);
  if (DOTTED_PATH.test(source)) return walkPath(source.split('.'));
  return (ctx) => {
    try {
      return TreeInterpreter.search(ast, ctx as unknown as JSONValue);
    } catch (error) {
      // Run-time errors (a function given the wrong type) come from data: say which expression.
      throw new Error(`${label}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
}

/** JMESPath field access: missing, inherited or non-object gives null. */
function walkPath(keys: string[]): Evaluate {
  return (ctx) => {
    let value: unknown = ctx;
    for (const key of keys) {
      if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.hasOwn(value, key)) return null;
      value = (value as Record<string, unknown>)[key];
    }
    return value === undefined ? null : value;
  };
}

function pathSegmentText(value: unknown, label: string): string {
  const text = toText(value);
  // An empty segment would silently call another resource (`/users/` instead of `/users/42`).
  if (text === '') throw new FlowInputError(`path placeholder ${label} is empty`);
  return encodeURIComponent(text);
}

function hasDotSegment(path: string): boolean {
  // Most paths have neither a dot nor an escape: no segment to look at.
  if (!path.includes('.') && !path.includes('%')) return false;
  return path.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment));
}
