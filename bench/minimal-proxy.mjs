// The Node-proxy baseline of the benchmark (ANCHORS.md): node:http server + undici Pool.dispatch,
// streaming the upstream answer straight into `res`. Deliberately minimal: no header hygiene
// (hop-by-hop headers go through), no X-Forwarded-*, no limits, 502 with an empty body on error.
// Usage: node bench/minimal-proxy.mjs [port=8080] [origin=http://127.0.0.1:9001]
import http from 'node:http';
import { Pool } from 'undici';

const port = Number(process.argv[2] ?? 8080);
const pool = new Pool(process.argv[3] ?? 'http://127.0.0.1:9001', { connections: 128 });

http.createServer((req, res) => {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  pool.dispatch({ method: req.method, path: req.url, headers: req.headers, body: hasBody ? req : null }, {
    // The legacy handler API: what undici's core calls without a wrapper.
    onConnect() {},
    onHeaders(status, raw, resume) {
      const headers = [];
      for (let i = 0; i < raw.length; i += 2) headers.push(raw[i].toString('latin1'), raw[i + 1].toString('latin1'));
      res.writeHead(status, headers);
      res.on('drain', resume);
      return true;
    },
    onData: (chunk) => res.write(chunk),
    onComplete: () => res.end(),
    onError(err) {
      if (res.headersSent) res.destroy(err);
      else res.writeHead(502).end();
    },
  });
}).listen(port, '127.0.0.1');
