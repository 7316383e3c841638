/**
 * What `npm run start:travel` runs: the demo travel services in this process (seed latencies)
 * and Weir, the real CLI (`bin/weir.js start`), in a child process with
 * examples/travel/weir.yaml. Arguments are passed on to `weir start` (e.g. `--workers 0`).
 * Ctrl-C stops both.
 *
 * TRAVEL_LATENCY=0.1 (or `none`) makes the services faster than the seed.
 *
 * The demo services forget everything when they stop, so Weir keeps its state (the
 * Idempotency-Keys it has seen) in a fresh temporary folder too, unless `--data DIR` is given:
 * a key used in an earlier run would otherwise replay a reservation the services no longer know.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_CARDS, DEMO_USERS, startTravelServices } from './services.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const latencyEnv = process.env.TRAVEL_LATENCY;
const latency = latencyEnv === undefined || latencyEnv === 'seed' ? 'seed' : latencyEnv === 'none' ? 'none' : Number(latencyEnv);

const travel = await startTravelServices({ latency });
for (const s of travel.services) console.log(`demo ${s.name.padEnd(13)} ${s.url}`);

const user = DEMO_USERS[0]!;
/** What to try, once Weir says where it listens (`--port` may have moved it from 8080). */
const tryThis = (port: number, adminPort: number): string => `
Weir is up: traffic on http://127.0.0.1:${port}, admin on http://127.0.0.1:${adminPort}. Try (see examples/travel/README.md):
  TOKEN=$(curl -s -XPOST localhost:${port}/auth/login -d '{"user":"${user.user}","password":"${user.password}"}' | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')
  curl -s 'localhost:${port}/travel/flights/search?from=LIS&to=BER&date=2026-05-01' -H "authorization: Bearer $TOKEN"
  curl -s -XPOST localhost:${port}/travel/bookings -H "authorization: Bearer $TOKEN" -H 'idempotency-key: trip-1' \\
       -H 'content-type: application/json' -d '{"bookingToken":"<from the search>","passenger":{"name":"Alice","email":"alice@example.com"},"payment":{"cardNumber":"${DEMO_CARDS.ok}"}}'
  (card ${DEMO_CARDS.declined} is declined: watch Weir cancel the reservation)
Ctrl-C stops Weir and the demo services.`;

const weirArgs = process.argv.slice(2);
let dataDir: string | undefined;
if (!weirArgs.some((a) => a === '--data' || a.startsWith('--data='))) {
  dataDir = mkdtempSync(join(tmpdir(), 'weir-travel-'));
  weirArgs.push('--data', dataDir);
}

const weir = spawn(process.execPath, ['bin/weir.js', 'start', '--config', 'examples/travel/weir.yaml', ...weirArgs], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let serving = false;
weir.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (serving) return;
  const line = chunk.toString().split('\n').find((l) => l.includes('"msg":"weir is serving"'));
  if (line === undefined) return;
  serving = true;
  const { port, adminPort } = JSON.parse(line) as { port: number; adminPort: number };
  console.log(tryThis(port, adminPort));
});

// Ctrl-C reaches Weir too (same process group); passing the signal on covers `kill <pid>`.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => weir.kill(signal));
weir.on('exit', (code) => {
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  void travel.close().then(() => process.exit(code ?? 0));
});
