/**
 * Route path patterns as written in weir.yaml: static segments, `:name` parameters and a final
 * `/*` wildcard. Only what the config loader needs to check them; the router compiles them.
 */

const PARAM_NAME = /^[A-Za-z0-9_]+$/;

/** Why `path` is not a valid pattern, or null when it is. `path` already starts with "/". */
export function pathPatternError(path: string): string | null {
  if (path === '/') return null;
  const segments = path.slice(1).split('/');
  const params = new Set<string>();
  for (const [i, segment] of segments.entries()) {
    const error = segmentError(segment, i === segments.length - 1, params);
    if (error !== null) return error;
  }
  return null;
}

function segmentError(segment: string, last: boolean, params: Set<string>): string | null {
  if (segment === '') return 'empty segment (a "//" or a trailing "/")';
  if (segment === '*') return last ? null : 'a wildcard "*" is only allowed as the last segment';
  if (segment.includes('*')) return `"${segment}": a wildcard must be a whole segment ("/files/*")`;
  if (/[?#\s]/.test(segment)) return `"${segment}": "?", "#" and whitespace are not allowed in a path`;
  if (!segment.startsWith(':')) return null;
  const name = segment.slice(1);
  if (!PARAM_NAME.test(name)) return `"${segment}": a parameter is ":" followed by letters, digits or "_"`;
  if (params.has(name)) return `parameter ":${name}" is used twice`;
  params.add(name);
  return null;
}

/** The pattern with parameter names erased: `/users/:id` and `/users/:uid` match the same requests. */
export function patternShape(path: string): string {
  return path
    .split('/')
    .map((segment) => (segment.startsWith(':') ? ':' : segment))
    .join('/');
}

/** The static start of a pattern, before any parameter or wildcard: `/api/users/:id` → `/api/users`; `''` for none. */
export function staticPrefix(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/').slice(1)) {
    if (segment.startsWith(':') || segment === '*' || segment === '') break;
    segments.push(segment);
  }
  return segments.map((segment) => `/${segment}`).join('');
}

/** A stripPrefix without its trailing "/" (`''` for "/", which strips nothing). */
export function normalizedStripPrefix(stripPrefix: string | undefined): string {
  if (stripPrefix === undefined) return '';
  return stripPrefix.endsWith('/') ? stripPrefix.slice(0, -1) : stripPrefix;
}

/** True when `stripPrefix` covers whole leading segments of the static start of `path`. */
export function stripsStaticPrefix(stripPrefix: string, path: string): boolean {
  const prefix = normalizedStripPrefix(stripPrefix);
  const fixed = staticPrefix(path);
  return prefix === '' || prefix === fixed || fixed.startsWith(`${prefix}/`);
}
