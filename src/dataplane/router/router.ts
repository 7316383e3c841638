import FindMyWay from 'find-my-way';
import type { HeaderMatch, RouteConfig } from '../../config/types.js';

/**
 * The route table, compiled once per config version. Path lookup is find-my-way's radix tree
 * (static > parametric > wildcard, cost independent of the number of routes), compiled to
 * generated code; Weir adds what it does not do: host wildcards, header matchers and
 * priorities among routes that share a method, host and path pattern.
 */

/** A route as the data plane sees it: its config plus whatever the compiler attached. */
export interface RouteEntry<T> {
  route: RouteConfig;
  /** What handles the matched request (a compiled pipeline + upstream), opaque to the router. */
  target: T;
  headerTests: HeaderTest[];
}

type HeaderTest = (headers: Record<string, string | string[] | undefined>) => boolean;

export interface RouteMatch<T> {
  entry: RouteEntry<T>;
  params: Record<string, string | undefined>;
}

/** Methods a route without `methods` answers. */
export const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

type FmwMethod = Parameters<FindMyWay.Instance<FindMyWay.HTTPVersion.V1>['find']>[0];

export class Router<T> {
  readonly size: number;
  private readonly fmw: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>;
  private readonly usesHosts: boolean;

  constructor(routes: readonly RouteConfig[], targetOf: (route: RouteConfig) => T) {
    this.fmw = FindMyWay({ caseSensitive: true, ignoreTrailingSlash: false, maxParamLength: 1000 });
    const groups = new Map<string, { method: string; path: string; host: string; entries: RouteEntry<T>[] }>();
    for (const route of routes) {
      const entry: RouteEntry<T> = { route, target: targetOf(route), headerTests: route.headers.map(headerTest) };
      for (const method of methodsOf(route)) {
        for (const host of route.hosts.length > 0 ? route.hosts : ['']) {
          const key = `${method} ${host} ${route.path}`;
          let group = groups.get(key);
          if (group === undefined) groups.set(key, (group = { method, path: route.path, host, entries: [] }));
          group.entries.push(entry);
        }
      }
    }
    for (const group of groups.values()) {
      // Higher priority first; the file's order breaks ties, so the earlier route wins.
      group.entries.sort((a, b) => b.route.priority - a.route.priority || a.route.index - b.route.index);
      const options = group.host === '' ? {} : { constraints: { host: hostConstraint(group.host) } };
      this.fmw.on(group.method as FmwMethod, group.path, options, noop, group.entries);
    }
    this.fmw.compile();
    this.usesHosts = routes.some((r) => r.hosts.length > 0);
    this.size = routes.length;
  }

  /**
   * The route for a request, or null. `path` must not contain the query string; `host` is the
   * Host header (a port is ignored).
   */
  find(method: string, path: string, host: string | undefined, headers: Record<string, string | string[] | undefined>): RouteMatch<T> | null {
    const found = this.usesHosts
      ? this.fmw.find(method as FmwMethod, path, { host: hostName(host) })
      : this.fmw.find(method as FmwMethod, path);
    if (found === null) return null;
    const entries = found.store as RouteEntry<T>[];
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (matchesHeaders(entry.headerTests, headers)) return { entry, params: found.params };
    }
    return null;
  }
}

function noop(): void {}

/** GET routes also answer HEAD, as every HTTP server does for its GET resources. */
function methodsOf(route: RouteConfig): readonly string[] {
  if (route.methods.length === 0) return ALL_METHODS;
  if (route.methods.includes('GET') && !route.methods.includes('HEAD')) return [...route.methods, 'HEAD'];
  return route.methods;
}

function matchesHeaders(tests: HeaderTest[], headers: Record<string, string | string[] | undefined>): boolean {
  for (let i = 0; i < tests.length; i++) if (!tests[i]!(headers)) return false;
  return true;
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

/** `*.example.com` matches exactly one more label, like TLS wildcard certificates. */
function hostConstraint(host: string): string | RegExp {
  if (!host.startsWith('*.')) return host;
  const rest = host.slice(2).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^[^.]+\\.${rest}$`);
}

function hostName(host: string | undefined): string {
  if (host === undefined) return '';
  // IPv6 literal: [::1]:8080
  if (host.charCodeAt(0) === 91 /* [ */) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return (colon === -1 ? host : host.slice(0, colon)).toLowerCase();
}
