/**
 * The step cache: a step with `cache: { ttl, key }` reuses a successful answer instead of calling
 * its service again. One table per step per plan, so per worker process and per config version (a
 * reload starts empty, like the coalescing table). Bounded: least recently used entries go first.
 *
 * Hand-written rather than a dependency: it is a Map in insertion order plus an expiry time, which
 * is all a per-step table of at most `maxEntries` needs, and it sits on the request path.
 */
import type { ResolvedCall } from './call.js';
import { compileCollecting, compileTemplate, type Compiled } from './template.js';
import type { TemplateError } from './errors.js';
import type { FlowContext, StepCacheOptions } from './types.js';
import { toText } from './template.js';

interface Entry {
  readonly value: unknown;
  readonly expires: number;
}

export class StepCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly options: StepCacheOptions,
    /** The key template; null: the resolved call is the key. */
    readonly key: Compiled | null,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A fresh answer for `key`, or undefined. A hit becomes the most recently used entry. */
  get(key: string): unknown {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    this.entries.delete(key);
    if (entry.expires <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores an answer; it is shared with every later hit, so it must never be mutated. */
  set(key: string, value: unknown): void {
    this.entries.delete(key);
    if (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(key, { value, expires: this.now() + this.options.ttlMs });
  }

  /** The author's key for this context (an element's context in a forEach step). */
  keyFor(ctx: FlowContext): string {
    return toText(this.key!.evaluate(ctx));
  }
}

/**
 * The default key: everything that can change the answer — method, path with query, the headers
 * the step sends (so answers for different credentials never mix) and the body. The service is
 * the step's own, so it need not be part of it.
 */
export function callKey(call: ResolvedCall): string {
  return `${call.method} ${call.path}\n${JSON.stringify(call.headers)}\n${call.body === undefined ? '' : JSON.stringify(call.body)}`;
}

/** Compiles a step's cache options; key errors go to `problems` with the pointer `at/key`. */
export function compileStepCache(options: StepCacheOptions, at: string, problems: TemplateError[]): StepCache {
  const key = options.key === null ? null : compileCollecting(problems, () => compileTemplate(options.key, `${at}/key`));
  return new StepCache(options, key);
}
