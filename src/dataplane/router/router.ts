import type { HeaderMatch, RouteConfig } from '../../config/types.js';

/**
 * The route table, built once per config version: a segment trie per host (exact hosts, then
 * `*.domain` wildcards, then routes for any host), with the methods and header matchers kept at
 * the leaves. A lookup walks the request path once, so its cost depends on the path's depth,
 * never on the number of routes.
 *
 * Hand-written rather than find-my-way: that router keeps one tree per method and re-walks it on
 * every insert, so 10,000 any-method routes took 3.5 s to register (20 s with `compile()`), and
 * it cannot fall back to a less specific pattern when header matchers reject the best one.
 *
 * Precedence, per segment: static, then `:param`, then a trailing `/*` wildcard; the first
 * pattern whose leaf has a route for the method whose header matchers accept the request wins,
 * otherwise the walk backtracks to the next candidate. Among routes of one pattern: higher
 * `priority` first, then file order.
 */

export interface RouteEntry<T> {
  readonly route: RouteConfig;
  /** What handles the matched request (compiled pipeline + upstream), opaque to the router. */
  readonly target: T;
  readonly paramNames: readonly string[];
  readonly headerTests: readonly HeaderTest[];
}

type Headers = Record<string, string | string[] | undefined>;
type HeaderTest = (headers: Headers) => boolean;

export interface RouteMatch<T> {
  entry: RouteEntry<T>;
  params: Record<string, string>;
}

/** Methods a route without `methods` answers. */
export const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

class Leaf<T> {
  readonly byMethod = new Map<string, RouteEntry<T>[]>();

  add(method: string, entry: RouteEntry<T>): void {
    const list = this.byMethod.get(method);
    if (list === undefined) this.byMethod.set(method, [entry]);
    else list.push(entry);
  }

  accept(method: string, headers: Headers): RouteEntry<T> | null {
    const list = this.byMethod.get(method);
    if (list === undefined) return null;
    for (let i = 0; i < list.length; i++) {
      const entry = list[i]!;
      const tests = entry.headerTests;
      let ok = true;
      for (let j = 0; j < tests.length && ok; j++) ok = tests[j]!(headers);
      if (ok) return entry;
    }
    return null;
  }

  sort(): void {
    for (const list of this.byMethod.values()) list.sort((a, b) => b.route.priority - a.route.priority || a.route.index - b.route.index);
  }
}

class Node<T> {
  statics: Map<string, Node<T>> | null = null;
  param: Node<T> | null = null;
  wildcard: Leaf<T> | null = null;
  leaf: Leaf<T> | null = null;

  leaves(out: Leaf<T>[]): void {
    if (this.leaf !== null) out.push(this.leaf);
    if (this.wildcard !== null) out.push(this.wildcard);
    this.param?.leaves(out);
    if (this.statics !== null) for (const child of this.statics.values()) child.leaves(out);
  }
}

class PathTrie<T> {
  readonly root = new Node<T>();

  insert(path: string, methods: readonly string[], entry: RouteEntry<T>): void {
    const segments = path.slice(1).split('/');
    let node = this.root;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (segment === '*' && i === segments.length - 1) {
        node.wildcard ??= new Leaf();
        for (const m of methods) node.wildcard.add(m, entry);
        return;
      }
      if (segment.charCodeAt(0) === 58 /* : */) {
        node = node.param ??= new Node();
      } else {
        node.statics ??= new Map();
        let child = node.statics.get(segment);
        if (child === undefined) node.statics.set(segment, (child = new Node()));
        node = child;
      }
    }
    node.leaf ??= new Leaf();
    for (const m of methods) node.leaf.add(m, entry);
  }

  find(method: string, path: string, headers: Headers, values: string[]): RouteEntry<T> | null {
    return walk(this.root, path, 1, method, headers, values);
  }
}

/** Matches the segment starting at `start` (just after a '/') and everything after it. */
function walk<T>(node: Node<T>, path: string, start: number, method: string, headers: Headers, values: string[]): RouteEntry<T> | null {
  const slash = path.indexOf('/', start);
  const last = slash === -1;
  const segment = path.slice(start, last ? path.length : slash);
  let found: RouteEntry<T> | null = null;
  const child = node.statics?.get(segment);
  if (child !== undefined) {
    found = last ? (child.leaf?.accept(method, headers) ?? null) : walk(child, path, slash + 1, method, headers, values);
    if (found !== null) return found;
  }
  const param = node.param;
  if (param !== null && segment !== '') {
    values.push(segment);
    found = last ? (param.leaf?.accept(method, headers) ?? null) : walk(param, path, slash + 1, method, headers, values);
    if (found !== null) return found;
    values.pop();
  }
  if (node.wildcard !== null) {
    found = node.wildcard.accept(method, headers);
    if (found !== null) values.push(path.slice(start));
  }
  return found;
}

export class Router<T> {
  readonly size: number;
  private readonly any = new PathTrie<T>();
  private readonly exactHosts = new Map<string, PathTrie<T>>();
  /** `*.example.com` → trie, keyed by `.example.com`. */
  private readonly wildcardHosts = new Map<string, PathTrie<T>>();
  private readonly usesHosts: boolean;

  constructor(routes: readonly RouteConfig[], targetOf: (route: RouteConfig) => T) {
    for (const route of routes) {
      const entry: RouteEntry<T> = {
        route,
        target: targetOf(route),
        paramNames: paramNamesOf(route.path),
        headerTests: route.headers.map(headerTest),
      };
      const methods = methodsOf(route);
      if (route.hosts.length === 0) this.any.insert(route.path, methods, entry);
      for (const host of route.hosts) this.trieFor(host).insert(route.path, methods, entry);
    }
    const leaves: Leaf<T>[] = [];
    for (const trie of [this.any, ...this.exactHosts.values(), ...this.wildcardHosts.values()]) trie.root.leaves(leaves);
    for (const leaf of leaves) leaf.sort();
    this.usesHosts = this.exactHosts.size + this.wildcardHosts.size > 0;
    this.size = routes.length;
  }

  /**
   * The route for a request, or null. `path` excludes the query string; `host` is the Host
   * header (port and case ignored). Routes for a specific host win over routes for any host.
   */
  find(method: string, path: string, host: string | undefined, headers: Headers): RouteMatch<T> | null {
    const values: string[] = [];
    let entry: RouteEntry<T> | null = null;
    if (this.usesHosts && host !== undefined) {
      const name = hostName(host);
      const exact = this.exactHosts.get(name);
      if (exact !== undefined) entry = exact.find(method, path, headers, values);
      if (entry === null && this.wildcardHosts.size > 0) {
        const dot = name.indexOf('.');
        const wild = dot === -1 ? undefined : this.wildcardHosts.get(name.slice(dot));
        if (wild !== undefined) {
          values.length = 0;
          entry = wild.find(method, path, headers, values);
        }
      }
    }
    if (entry === null) {
      values.length = 0;
      entry = this.any.find(method, path, headers, values);
    }
    if (entry === null) return null;
    return { entry, params: paramsOf(entry.paramNames, values) };
  }

  /**
   * The methods some route would accept for this path, host and headers — for a 405's `Allow`
   * after `find` missed. Tries each method in turn: only the miss path pays for it.
   */
  allowedMethods(path: string, host: string | undefined, headers: Headers): string[] {
    const allowed: string[] = [];
    for (const method of ALL_METHODS) if (this.find(method, path, host, headers) !== null) allowed.push(method);
    return allowed;
  }

  private trieFor(host: string): PathTrie<T> {
    const wildcard = host.startsWith('*.');
    const map = wildcard ? this.wildcardHosts : this.exactHosts;
    const key = wildcard ? host.slice(1) : host;
    let trie = map.get(key);
    if (trie === undefined) map.set(key, (trie = new PathTrie()));
    return trie;
  }
}

function paramsOf(names: readonly string[], values: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const raw = values[i] ?? '';
    params[names[i]!] = raw.indexOf('%') === -1 ? raw : safeDecode(raw);
  }
  return params;
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function paramNamesOf(path: string): string[] {
  const names: string[] = [];
  for (const segment of path.slice(1).split('/')) {
    if (segment.startsWith(':')) names.push(segment.slice(1));
    else if (segment === '*') names.push('*');
  }
  return names;
}

/** GET routes also answer HEAD, as every HTTP server does for its GET resources. */
function methodsOf(route: RouteConfig): readonly string[] {
  if (route.methods.length === 0) return ALL_METHODS;
  if (route.methods.includes('GET') && !route.methods.includes('HEAD')) return [...route.methods, 'HEAD'];
  return route.methods;
}

function headerTest(match: HeaderMatch): HeaderTest {
  const name = match.name;
  switch (match.kind) {
    case 'exact':
      return (h) => firstValue(h[name]) === match.value;
    case 'present':
      return (h) => (h[name] !== undefined) === match.present;
    case 'regex': {
      const re = new RegExp(match.regex);
      return (h) => {
        const v = firstValue(h[name]);
        return v !== undefined && re.test(v);
      };
    }
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function hostName(host: string): string {
  // IPv6 literal: [::1]:8080
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}
