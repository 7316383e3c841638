/**
 * Checks the schema cannot express: references between services and routes, URLs, path
 * patterns, regexes and routes that could never be told apart. Each check runs on the fields that
 * passed the schema, so a typo in one field does not hide the problems of its neighbours.
 */
import type { RawRoute, RawService } from './schema.js';
import { pointerOf, type Locator, type Problem } from './locate.js';
import { DEFAULTS, headerMatches, routeHosts, routeMethods, routeName, splitTargetUrl } from './normalize.js';
import { sizeBytes } from './units.js';
import { pathPatternError, patternShape, staticPrefix, stripsStaticPrefix } from './path-pattern.js';
import { closestName } from './suggest.js';
import { maskingProblems, type MaskingSettings } from '../masking/rules.js';

interface Indexed<T> {
  value: T;
  index: number;
}

/** Says whether the value at a pointer, and everything on the way to it, passed the schema. */
type Intact = (pointer: string) => boolean;

/** A pointer below one service or route. */
type At = (...segments: Array<string | number>) => string;

type LineOf = (pointer: string) => number;

/** Semantic problems of `config`, given the problems the schema found in it. */
export function semanticProblems(config: unknown, schemaProblems: Problem[], locate: Locator): Problem[] {
  const intact: Intact = (pointer) =>
    !schemaProblems.some((p) => p.path === pointer || p.path.startsWith(`${pointer}/`) || pointer.startsWith(`${p.path}/`));
  if (!isRecord(config)) return [];
  const lineOf = (pointer: string) => locate(pointer).line;
  const services = isRecord(config['services']) ? Object.entries(config['services']).filter(([, value]) => isRecord(value)) : [];
  const routes = (Array.isArray(config['routes']) ? (config['routes'] as unknown[]) : [])
    .map((value, index) => ({ value, index }))
    .filter((route): route is Indexed<RawRoute> => isRecord(route.value));
  const wholeRoutes = routes.filter(({ index }) => intact(pointerOf('routes', index)));
  const serviceNames = isRecord(config['services']) ? Object.keys(config['services']) : null;
  return [
    ...services.flatMap(([name, service]) => serviceProblems(name, service as RawService, intact, lineOf)),
    ...routes.flatMap((route) => routeProblems(route, serviceNames, intact)),
    ...routes.flatMap((route) => routeLimitProblems(route, globalHeaderLimit(config, intact), intact)),
    ...duplicateRouteNames(wholeRoutes, lineOf),
    ...ambiguousRoutes(wholeRoutes, lineOf),
    ...globalMaskingProblems(config, intact),
    ...cacheProblems(config['global'], intact),
  ];
}

/** The cache's memory store must hold at least one small response. */
function cacheProblems(global: unknown, intact: Intact): Problem[] {
  const at = '/global/cache/memory/maxSize';
  if (!isRecord(global) || !isRecord(global['cache']) || !isRecord(global['cache']['memory']) || !intact(at)) return [];
  const raw = global['cache']['memory']['maxSize'];
  if (raw === undefined || sizeBytes(raw as number | string) >= 1024) return [];
  return [{ path: at, message: `the cache's memory store needs at least 1kb (got ${JSON.stringify(raw)})` }];
}

function serviceProblems(name: string, service: RawService, intact: Intact, lineOf: LineOf): Problem[] {
  const at: At = (...segments) => pointerOf('services', name, ...segments);
  return [
    ...(intact(at('balancing')) && intact(at('hashOn')) ? hashOnProblems(service, at) : []),
    ...(Array.isArray(service.targets) ? targetProblems(service, at, intact, lineOf) : []),
  ];
}

function targetProblems(service: RawService, at: At, intact: Intact, lineOf: LineOf): Problem[] {
  const problems: Problem[] = [];
  const wholeList = intact(at('targets'));
  if (wholeList && service.targets.every((target) => target.weight === 0)) {
    problems.push({ path: at('targets'), message: 'every target has weight 0, so the service has nowhere to send traffic' });
  }
  const firstByUrl = new Map<string, number>();
  for (const [i, target] of service.targets.entries()) {
    if (!intact(at('targets', i, 'url'))) continue;
    const urlError = targetUrlError(target.url);
    if (urlError !== null) {
      problems.push({ path: at('targets', i, 'url'), message: urlError });
      continue;
    }
    const { origin, basePath } = splitTargetUrl(target.url);
    const first = firstByUrl.get(origin + basePath);
    if (first === undefined) firstByUrl.set(origin + basePath, i);
    else problems.push({ path: at('targets', i, 'url'), message: `duplicate target "${target.url}" (also at line ${lineOf(at('targets', first, 'url'))})` });
  }
  return problems;
}

function hashOnProblems(service: RawService, at: At): Problem[] {
  const balancing = service.balancing ?? 'round-robin';
  if (balancing === 'consistent-hash' && service.hashOn === undefined) {
    return [{ path: at('balancing'), message: 'balancing "consistent-hash" needs hashOn: {header: <name>}, {cookie: <name>} or {clientIp: true}' }];
  }
  if (balancing !== 'consistent-hash' && service.hashOn !== undefined) {
    return [{ path: at('hashOn'), message: `hashOn only applies to balancing "consistent-hash" (this service uses "${balancing}")` }];
  }
  return [];
}

/** Why a target URL is unusable, or null. The schema has checked it starts with http(s)://. */
function targetUrlError(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a valid URL`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `"${url}" must be an http:// or https:// URL`;
  if (url.includes('?')) return `"${url}" must not have a query string`;
  if (url.includes('#')) return `"${url}" must not have a fragment`;
  if (parsed.username !== '' || parsed.password !== '') return `"${url}" must not contain a user name or password`;
  return null;
}

function routeProblems({ value: route, index }: Indexed<RawRoute>, serviceNames: string[] | null, intact: Intact): Problem[] {
  const at: At = (...segments) => pointerOf('routes', index, ...segments);
  const unknownService = serviceNames !== null && intact(at('service')) && !serviceNames.includes(route.service);
  return [
    ...(unknownService ? [{ path: at('service'), message: unknownServiceMessage(route.service, serviceNames) }] : []),
    ...pathProblems(route, at, intact),
    ...headerProblems(route, at, intact),
  ];
}

/** The global head size limit, or null when it did not pass the schema. */
function globalHeaderLimit(config: Record<string, unknown>, intact: Intact): number | null {
  if (!intact(pointerOf('global', 'limits', 'maxHeaderSize'))) return null;
  const limits = (config['global'] as { limits?: { maxHeaderSize?: number | string } } | undefined)?.limits;
  return limits?.maxHeaderSize === undefined ? DEFAULTS.limits.maxHeaderSize : sizeBytes(limits.maxHeaderSize);
}

/** A route's head limit above the global one would never apply: the HTTP parser refuses first. */
function routeLimitProblems({ value: route, index }: Indexed<RawRoute>, globalLimit: number | null, intact: Intact): Problem[] {
  const at = pointerOf('routes', index, 'limits', 'maxHeaderSize');
  const raw = route.limits?.maxHeaderSize;
  if (raw === undefined || globalLimit === null || !intact(at) || sizeBytes(raw) <= globalLimit) return [];
  return [{ path: at, message: `${sizeBytes(raw)} bytes is more than global.limits.maxHeaderSize (${globalLimit}), which the server enforces before routing; a route can only lower it` }];
}

function pathProblems(route: RawRoute, at: At, intact: Intact): Problem[] {
  if (!intact(at('path'))) return [];
  const error = pathPatternError(route.path);
  if (error !== null) return [{ path: at('path'), message: `invalid path pattern "${route.path}": ${error}` }];
  if (route.stripPrefix === undefined || !intact(at('stripPrefix')) || stripsStaticPrefix(route.stripPrefix, route.path)) return [];
  const fixed = staticPrefix(route.path) || '/';
  return [{ path: at('stripPrefix'), message: `"${route.stripPrefix}" is not a prefix of "${fixed}", the static part of path "${route.path}"` }];
}

function unknownServiceMessage(name: string, serviceNames: string[]): string {
  if (serviceNames.length === 0) return `unknown service "${name}": no services are defined`;
  const suggestion = closestName(name, serviceNames);
  const hint = suggestion === null ? '' : `; did you mean "${suggestion}"?`;
  return `unknown service "${name}"${hint} (defined services: ${serviceNames.join(', ')})`;
}

function headerProblems(route: RawRoute, at: At, intact: Intact): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const headers = isRecord(route.headers) ? route.headers : {};
  for (const [name, matcher] of Object.entries(headers)) {
    if (!intact(at('headers', name))) continue;
    if (seen.has(name.toLowerCase())) {
      problems.push({ path: at('headers', name), anchor: 'key', message: `header "${name}" is matched twice (header names are case-insensitive)` });
    }
    seen.add(name.toLowerCase());
    if (typeof matcher === 'object' && 'regex' in matcher) {
      const error = regexError(matcher.regex);
      if (error !== null) problems.push({ path: at('headers', name, 'regex'), message: error });
    }
  }
  return problems;
}

function regexError(source: string): string | null {
  try {
    new RegExp(source);
    return null;
  } catch (error) {
    const message = (error as Error).message;
    return message.charAt(0).toLowerCase() + message.slice(1);
  }
}

function duplicateRouteNames(routes: Array<Indexed<RawRoute>>, lineOf: LineOf): Problem[] {
  const firstByName = new Map<string, number>();
  const problems: Problem[] = [];
  for (const { value: route, index } of routes) {
    const name = routeName(route);
    const first = firstByName.get(name);
    if (first === undefined) {
      firstByName.set(name, index);
      continue;
    }
    const firstLine = lineOf(pointerOf('routes', first));
    problems.push(
      route.name === undefined
        ? { path: pointerOf('routes', index), message: `route name "${name}" (derived from methods, path and hosts) is also used by the route at line ${firstLine}; give one of them a "name"` }
        : { path: pointerOf('routes', index, 'name'), message: `duplicate route name "${name}" (also used by the route at line ${firstLine})` },
    );
  }
  return problems;
}

/**
 * Routes the router could never tell apart: same path shape, headers and priority, and methods
 * and hosts that overlap. A route with hosts is more specific than one without, so those differ.
 */
function ambiguousRoutes(routes: Array<Indexed<RawRoute>>, lineOf: LineOf): Problem[] {
  const groups = new Map<string, Array<Indexed<RawRoute>>>();
  for (const route of routes) {
    if (pathPatternError(route.value.path) !== null) continue;
    const key = ambiguityKey(route.value);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [route]);
    else group.push(route);
  }
  const problems: Problem[] = [];
  for (const group of groups.values()) {
    for (const [j, later] of group.entries()) {
      const earlier = group.slice(0, j).find((candidate) => overlaps(candidate.value, later.value));
      if (earlier === undefined) continue;
      problems.push({
        path: pointerOf('routes', later.index),
        message:
          `route "${routeName(later.value)}" is ambiguous with route "${routeName(earlier.value)}" at line ${lineOf(pointerOf('routes', earlier.index))}: ` +
          'same path pattern, header matchers and priority, and overlapping methods and hosts, so the router cannot choose between them; remove one or make their methods, hosts or headers differ',
      });
    }
  }
  return problems;
}

/** What must be equal for two routes to be ambiguous. */
function ambiguityKey(route: RawRoute): string {
  const headers = headerMatches(route.headers ?? {})
    .map((match) => JSON.stringify(match))
    .sort();
  return JSON.stringify([patternShape(route.path), route.priority ?? 0, headers]);
}

function overlaps(a: RawRoute, b: RawRoute): boolean {
  return intersects(routeMethods(a), routeMethods(b), true) && intersects(routeHosts(a), routeHosts(b), false);
}

/** Whether two lists share an entry; `emptyMeansAll` says whether an empty list matches everything. */
function intersects(a: string[], b: string[], emptyMeansAll: boolean): boolean {
  if (a.length === 0 || b.length === 0) return emptyMeansAll || (a.length === 0 && b.length === 0);
  return a.some((entry) => b.includes(entry));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `global.masking`: the mask plugin's checks (detectors, regexes, paths, hash key), at their lines. */
function globalMaskingProblems(config: Record<string, unknown>, intact: Intact): Problem[] {
  const global = config['global'];
  const at = pointerOf('global', 'masking');
  if (!isRecord(global) || !isRecord(global['masking']) || !intact(at)) return [];
  const masking = global['masking'] as unknown as Partial<MaskingSettings>;
  return maskingProblems({ ...masking, rules: masking.rules ?? [] }).map((p) => ({ path: at + p.path, message: p.message }));
}
