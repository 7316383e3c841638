/**
 * The demo shop's three upstreams (examples/shop/services.ts) in a process of their own, for
 * bench/flows.ts: so the benchmark's load generator and the services do not share an event loop.
 *
 *   node --import tsx bench/flows/shop-services.ts SCALE
 *
 * Listens on free ports, prints one JSON line `{"services":[{"name":"auth","url":…},…]}`, and
 * stops when its stdin closes (the bench went away) or on SIGTERM.
 */
import { startShopServices } from '../../examples/shop/services.js';

const scale = Number(process.argv[2] ?? '0.1');
const shop = await startShopServices({ host: '127.0.0.1', basePort: 0, latency: scale });
process.stdout.write(`${JSON.stringify({ services: shop.services })}\n`);

const stop = (): void => void shop.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
