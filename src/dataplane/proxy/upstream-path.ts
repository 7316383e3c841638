/**
 * The path sent upstream: the route's `stripPrefix` removed, the target's base path prepended,
 * the query kept verbatim.
 */
export function upstreamPath(path: string, query: string, stripPrefix: string, basePath: string): string {
  if (stripPrefix !== '' && path.startsWith(stripPrefix)) {
    path = path.slice(stripPrefix.length);
    if (path === '' || path.charCodeAt(0) !== 47 /* / */) path = `/${path}`;
  }
  if (basePath !== '') path = path === '/' ? basePath : basePath + path;
  return query === '' ? path : `${path}?${query}`;
}
