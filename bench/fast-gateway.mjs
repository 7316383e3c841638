// fast-gateway 3.4.7 (a Node peer) proxying everything to the origin. Installed by bench/proxy.sh
// into bench/.peers/ (not a project dependency).
// Note `prefix: ''`: with `prefix: '/'` fast-gateway 404s every request.
// Usage: node bench/fast-gateway.mjs [port=8080] [origin=http://127.0.0.1:9001]
import { createRequire } from 'node:module';

const require = createRequire(new URL('./.peers/', import.meta.url));
const gateway = require('fast-gateway');

const port = Number(process.argv[2] ?? 8080);
const server = gateway({ routes: [{ prefix: '', target: process.argv[3] ?? 'http://127.0.0.1:9001' }] });
await server.start(port, '127.0.0.1');
