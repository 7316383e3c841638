/** The request target split into path and query, as the router and the proxy use it. */
export interface RequestTarget {
  path: string;
  /** Without the `?`; '' when there is none. */
  query: string;
}

/**
 * Splits `req.url` into path and query. Accepts origin-form (`/a?b`) and absolute-form
 * (`http://host/a?b`, RFC 9112 §3.2.2). Returns null for anything the gateway must not route:
 * other forms, and paths with dot segments (`/a/../b`, also percent-encoded), which a route
 * such as `/public/*` would otherwise pass to an upstream that resolves them elsewhere.
 */
export function splitTarget(url: string): RequestTarget | null {
  if (url.charCodeAt(0) !== 47 /* / */) {
    const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : -1;
    if (scheme === -1) return null;
    const slash = url.indexOf('/', scheme);
    const query = url.indexOf('?', scheme);
    if (slash === -1 || (query !== -1 && query < slash)) url = query === -1 ? '/' : `/${url.slice(query)}`;
    else url = url.slice(slash);
  }
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (hasDotSegment(path)) return null;
  return { path, query: q === -1 ? '' : url.slice(q + 1) };
}

function hasDotSegment(path: string): boolean {
  if (path.indexOf('/.') === -1 && path.indexOf('%2') === -1 && path.indexOf('%5') === -1) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return true; // malformed percent-encoding
  }
  decoded = decoded.replace(/\\/g, '/');
  return /\/\.\.?(\/|$)/.test(decoded);
}
