import { TypeCompiler, ValueErrorType, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import type { PluginConfig } from '../../config/types.js';
import type { Plugin, PluginDefinition } from './plugin.js';
import { UNION_MESSAGES } from '../../config/validate.js';

/** One problem with a plugin reference, relative to that reference. */
export interface PluginConfigProblem {
  /** Path inside the plugin reference, e.g. `/config/request/set` or `/name`. */
  path: string;
  message: string;
}

/**
 * The plugin types this build knows. Config schemas are compiled once, here; a plugin reference
 * is checked at config load (so `weir validate` reports it) and instantiated per config version.
 */
export class PluginRegistry {
  private readonly definitions = new Map<string, { def: PluginDefinition<unknown>; check: TypeCheck<TSchema> }>();

  constructor(definitions: readonly PluginDefinition<any>[]) {
    for (const def of definitions) this.definitions.set(def.name, { def, check: TypeCompiler.Compile(def.schema) });
  }

  names(): string[] {
    return [...this.definitions.keys()].sort();
  }

  validate(ref: PluginConfig): PluginConfigProblem[] {
    const entry = this.definitions.get(ref.name);
    if (entry === undefined) return [{ path: '/name', message: `unknown plugin "${ref.name}" (known: ${this.names().join(', ') || 'none'})` }];
    const problems = [...entry.check.Errors(ref.config)].map((e) => ({
      path: `/config${e.path}`,
      message: e.type === ValueErrorType.ObjectAdditionalProperties ? `unknown property "${e.path.split('/').at(-1)}"` : (unionMessage(e.type, e.schema.title, e.value) ?? literalChoices(e.schema, e.value) ?? e.message),
    }));
    if (problems.length > 0 || entry.def.check === undefined) return problems;
    return entry.def.check(ref.config).map((p) => ({ path: `/config${p.path}`, message: p.message }));
  }

  create(ref: PluginConfig): Plugin {
    const entry = this.definitions.get(ref.name);
    if (entry === undefined) throw new Error(`unknown plugin "${ref.name}"`);
    return entry.def.create(ref.config);
  }
}

/** For a union of literals (`style: full | partial | hash`): the choices, instead of "Expected union value". */
function literalChoices(schema: TSchema, value: unknown): string | null {
  const variants = (schema as { anyOf?: Array<{ const?: unknown }> }).anyOf;
  if (variants === undefined || !variants.every((v) => v.const !== undefined)) return null;
  return `expected one of ${variants.map((v) => JSON.stringify(v.const)).join(', ')} (got ${JSON.stringify(value)})`;
}

/** A titled union of schema.ts (Duration, Size …) in words, as the config loader says it. */
function unionMessage(type: ValueErrorType, title: unknown, value: unknown): string | undefined {
  if (type !== ValueErrorType.Union || typeof title !== 'string') return undefined;
  const message = UNION_MESSAGES[title];
  return message === undefined ? undefined : `${message} (got ${JSON.stringify(value)})`;
}
