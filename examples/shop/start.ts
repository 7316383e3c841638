/**
 * What `npm start` runs: the demo shop's upstream services in this process and Weir, the real
 * CLI (`bin/weir.js start`), in a child process with examples/shop/weir.yaml. Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DEMO_USERS, startShopServices } from './services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const weirArgs = process.argv.slice(2);

const shop = await startShopServices();
console.log(`demo services: ${shop.services.map((s) => `${s.name} ${s.url}`).join(', ')}`);

// The demo's first admin has a known password (only used when .weir has no user yet).
const env = { ...process.env, WEIR_ADMIN_PASSWORD: process.env['WEIR_ADMIN_PASSWORD'] ?? 'weir-demo-admin' };
const weir = spawn(process.execPath, ['bin/weir.js', 'start', '--config', 'examples/shop/weir.yaml', ...weirArgs], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env,
});
let banner = false;
weir.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!banner && chunk.toString().includes('"msg":"weir is serving"')) {
    banner = true;
    const user = DEMO_USERS[0]!;
    console.log(`
Weir is up: traffic on http://127.0.0.1:8080, admin on http://127.0.0.1:9080 (/healthz, /readyz,
the admin API's reference at /api/v1/docs; sign in as admin / ${env.WEIR_ADMIN_PASSWORD} on a fresh .weir)
Try:
  curl -s localhost:8080/products/1
  curl -s -X POST localhost:8080/auth/login -H 'content-type: application/json' -d '{"user":"${user.user}","password":"${user.password}"}'
  curl -s 'localhost:8080/orders?userId=1'
  curl -s localhost:9080/healthz
Ctrl-C stops Weir and the demo services.`);
  }
});

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  weir.kill(signal);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
weir.on('exit', (code) => {
  void shop.close().then(() => process.exit(code ?? 0));
});
