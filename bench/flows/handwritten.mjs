// The CPU flow of bench/flows/cpu-flow.yaml written by hand, as the baseline for Weir's flow engine:
// node:http + one undici Pool + Promise.all. a and b side by side, then c (from a) and d (from b)
// side by side, then one call per item of c, all at once. No header hygiene, no request ids, no
// timeouts, no retries: the least a Node server can do for the same calls.
//
//   node bench/flows/handwritten.mjs PORT UPSTREAM_URL [POOL_CONNECTIONS]
import { createServer } from 'node:http';
import { Pool } from 'undici';

const [port, upstream, connections] = [Number(process.argv[2]), process.argv[3], Number(process.argv[4] ?? 256)];
const pool = new Pool(upstream, { connections });

async function get(path) {
  const { statusCode, body } = await pool.request({ path, method: 'GET', headers: { accept: 'application/json' } });
  const json = await body.json();
  if (statusCode >= 400) throw new Error(`${path} answered ${statusCode}`);
  return json;
}

const server = createServer(async (req, res) => {
  const match = /^\/cpu\/([^/?]+)/.exec(req.url ?? '');
  req.resume();
  if (match === null || req.method !== 'GET') return void res.writeHead(404).end();
  try {
    const id = encodeURIComponent(decodeURIComponent(match[1]));
    const [a, b] = await Promise.all([get(`/a/${id}`), get(`/b/${id}`)]);
    const [c, d] = await Promise.all([get(`/c/${encodeURIComponent(a.id)}`), get(`/d/${encodeURIComponent(b.id)}`)]);
    const items = await Promise.all(c.items.map((item) => get(`/item/${encodeURIComponent(item)}`)));
    const text = JSON.stringify({ id: a.id, c: c.name, d: d.name, items: items.map((x) => x.name) });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  } catch (err) {
    res.writeHead(502, { 'content-type': 'text/plain' }).end(String(err));
  }
});
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));

const stop = () => (server.close(), server.closeAllConnections(), void pool.close(), process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
