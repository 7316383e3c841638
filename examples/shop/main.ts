/**
 * Runs the demo shop's upstream services on their own (without the gateway):
 *
 *   node --import tsx examples/shop/main.ts [--host 127.0.0.1] [--base-port 9101] [--latency seed|none|<factor>]
 *
 * Ctrl-C (SIGINT) or SIGTERM stops them.
 */
import { parseArgs } from 'node:util';
import { DEMO_USERS, startShopServices, type ShopLatency } from './services.js';

function parseLatency(text: string): ShopLatency {
  if (text === 'seed' || text === 'none') return text;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`--latency must be seed, none or a non-negative number, got "${text}"`);
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      'base-port': { type: 'string', default: '9101' },
      latency: { type: 'string', default: 'seed' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: node --import tsx examples/shop/main.ts [--host 127.0.0.1] [--base-port 9101] [--latency seed|none|<factor>]');
    return;
  }
  const basePort = Number(values['base-port']);
  const shop = await startShopServices({ host: values.host, basePort, latency: parseLatency(values.latency) });

  console.log('Weir demo shop is up:');
  for (const s of shop.services) console.log(`  ${s.name.padEnd(8)} ${s.url}`);
  console.log(`Demo users: ${DEMO_USERS.map((u) => `${u.user}/${u.password}`).join(', ')}`);
  console.log('Fault injection: headers x-demo-delay, x-demo-fail, x-demo-drop; POST /_demo/faults on each service.');
  console.log('Ctrl-C to stop.');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the demo shop`);
    shop.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
