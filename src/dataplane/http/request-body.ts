import type { IncomingHttpHeaders } from 'node:http';

/** True when the request announces a body: chunked, or a Content-Length other than 0. */
export function hasBody(req: { readonly headers: IncomingHttpHeaders }): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}
