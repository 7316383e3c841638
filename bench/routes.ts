/**
 * `npm run bench:routes`: how long a config with 10,000 routes takes to load (parse, validate,
 * normalise) and to compile into the route table, and what one lookup costs. Target (issue 2):
 * 10,000 routes load in under 1 s.
 */
import { parseConfig } from '../src/config/load.js';
import { Router } from '../src/dataplane/router/router.js';

const N = Number(process.env.ROUTES ?? 10_000);
const lines = ['services:', '  s:', '    targets: [{ url: "http://127.0.0.1:9001" }]', 'routes:'];
for (let i = 0; i < N; i++) {
  const path = i % 3 === 0 ? `/api/svc${i}/items/:id` : i % 3 === 1 ? `/api/svc${i}/static` : `/api/svc${i}/files/*`;
  lines.push(`  - { path: ${path}, methods: [GET, POST], service: s }`);
}
const text = lines.join('\n');

let t = performance.now();
const result = parseConfig(text, 'bench.yaml');
const loadMs = performance.now() - t;
if (!result.ok) throw new Error(`config invalid: ${result.issues[0]?.message}`);
t = performance.now();
const router = new Router(result.config.routes, (r) => r.name);
const compileMs = performance.now() - t;

const paths = Array.from({ length: 1000 }, (_, k) => {
  const i = (k * 7919) % N;
  return i % 3 === 0 ? `/api/svc${i}/items/42` : i % 3 === 1 ? `/api/svc${i}/static` : `/api/svc${i}/files/a/b.png`;
});
let found = 0;
for (let r = 0; r < 200; r++) for (const p of paths) if (router.find('GET', p, undefined, {}) !== null) found++;
t = performance.now();
found = 0;
const LOOKUPS = 1_000_000;
for (let r = 0; r < LOOKUPS / paths.length; r++) for (const p of paths) if (router.find('GET', p, undefined, {}) !== null) found++;
const lookupNs = ((performance.now() - t) * 1e6) / LOOKUPS;
if (found !== LOOKUPS) throw new Error(`only ${found} of ${LOOKUPS} lookups matched`);

const total = loadMs + compileMs;
console.log(`routes: ${N}`);
console.log(`load (YAML parse + validate + normalise): ${loadMs.toFixed(0)} ms`);
console.log(`compile route table:                      ${compileMs.toFixed(0)} ms`);
console.log(`total:                                    ${total.toFixed(0)} ms ${total < 1000 ? '(under the 1 s target)' : '(OVER the 1 s target)'}`);
console.log(`lookup: ${lookupNs.toFixed(0)} ns per request (all ${LOOKUPS} matched)`);
process.exitCode = total < 1000 ? 0 : 1;
