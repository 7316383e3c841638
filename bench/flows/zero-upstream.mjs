// A zero-latency upstream for the flow CPU benchmark (bench/flows.ts): node:http answering every
// GET at once with a small JSON body built from the path's last segment. The bodies are cached by
// URL, so this costs as little as node:http allows.
//
//   node bench/flows/zero-upstream.mjs PORT
//
// Every body has the fields the CPU flow reads: `id` (the last path segment), `name`, and
// `items` (ten ids made from `id`, for the fan-out: `<id>-1` … `<id>-10`, so that flows for
// different ids never make identical calls). Exits when its stdin closes (the bench went away) or
// on SIGTERM.
import { createServer } from 'node:http';

const port = Number(process.argv[2] ?? 9201);
const cache = new Map();

function bodyFor(url) {
  let body = cache.get(url);
  if (body === undefined) {
    const path = url.split('?', 1)[0];
    const segments = path.split('/').filter(Boolean);
    const id = decodeURIComponent(segments[segments.length - 1] ?? '');
    const items = Array.from({ length: 10 }, (_, i) => `${id}-${i + 1}`);
    body = Buffer.from(JSON.stringify({ id, kind: segments[0] ?? '', name: `${segments[0] ?? 'x'} ${id}`, price: 12.5, items }));
    if (cache.size < 10_000) cache.set(url, body);
  }
  return body;
}

const server = createServer((req, res) => {
  req.resume();
  const body = bodyFor(req.url ?? '/');
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
