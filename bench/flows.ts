/**
 * `npm run bench:flows`: what a flow costs, in latency and in CPU. See bench/README.md.
 *
 * 1. Latency against the critical path. Weir (1 worker, core 0) runs examples/shop/weir.yaml
 *    (whatever it holds when the bench runs; only the target URLs are rewritten) in front of the
 *    demo shop's services (examples/shop/services.ts, their latencies scaled by SCALE). For each
 *    shop flow, closed-loop clients at 1, 50 and 500 concurrency measure p50/p99, next to
 *      - the critical path: the flow's longest chain of dependent calls, from the services'
 *        configured latencies (SEED_LATENCY_MS × SCALE), computed by running Weir's own planner
 *        and scheduler in virtual time (so batches, fan-out concurrency etc. count as configured);
 *      - a client-side waterfall: the same calls made one at a time by the benchmark, straight to
 *        the services, as a naive client would.
 * 2. CPU cost. bench/flows/cpu-flow.yaml (5 steps: two levels of two parallel calls, then a
 *    10-item fan-out) against a zero-latency upstream: Weir's flows/s and CPU per flow, against
 *    bench/flows/handwritten.mjs (node:http + undici Pool + Promise.all) making the same calls.
 *    ROUNDS interleaved rounds, medians. PROFILE=1 adds one profiled run of each (node --cpu-prof
 *    on Weir's worker and on the hand-written server) and summarises where the time goes, per flow.
 *
 * Not a test: it prints and writes bench/results/flows-<date>-<time>.txt, and exits 1 only when a
 * run had a non-2xx answer, a partial answer, a wrong body or an error (or a server did not start).
 *
 *   npm run bench:flows
 *   SCALE=1 DURATION=5 npm run bench:flows          # the seed's real latencies, longer points
 *   PARTS=cpu ROUNDS=5 PROFILE=1 npm run bench:flows
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { SEED_LATENCY_MS } from '../examples/shop/services.js';
import { parseConfig } from '../src/config/load.js';
import { planFlow } from '../src/flows/plan.js';
import { runFlow } from '../src/flows/run.js';
import type { FlowContext } from '../src/flows/types.js';
import { closedLoop, failures2, percentile } from './flows/load.js';
import {
  CORES,
  PIN,
  coreTimes,
  coreUse,
  cpuSeconds,
  firstLine,
  freePort,
  pinSelf,
  pinned,
  processTree,
  startProcess,
  startWeir as startWeirIn,
  stopProcess,
  type RunningWeir,
} from './flows/processes.js';
import { formatComparison, formatSummary, summarizeProfile } from './flows/profile-summary.js';
import { DirectCaller, checkShopAnswer, findFlow, loadFlows, oneAtATime, rewriteTargets, simulateCriticalPath, type CriticalPath } from './flows/shop.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(ROOT);

// ---------------------------------------------------------------------------------------------
// Settings (environment)

function numberEnv(name: string, fallback: number, min = 0): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) {
    console.error(`${name} must be a number ≥ ${min}, got "${text}"`);
    process.exit(2);
  }
  return n;
}

const SCALE = numberEnv('SCALE', 0.1);
const DURATION = numberEnv('DURATION', 3, 0.1); // seconds measured per latency point
const WARMUP = numberEnv('WARMUP', 1); // seconds of unrecorded load before each latency point
const MIN_SAMPLES = Math.floor(numberEnv('MIN_SAMPLES', 200)); // a point runs on until it has this many…
const MAX_POINT = numberEnv('MAX_POINT', 30, 0.1); // …but not past this many seconds
const CLIENTS = (process.env.CLIENTS ?? '1,50,500').split(',').map((s) => Number(s.trim()));
const ORDER_ID = Math.floor(numberEnv('ORDER_ID', 1001, 1));
const CPU_DURATION = numberEnv('CPU_DURATION', 5, 0.1);
const CPU_WARMUP = numberEnv('CPU_WARMUP', 2);
const CPU_CLIENTS = Math.floor(numberEnv('CPU_CLIENTS', 64, 1));
const ROUNDS = Math.floor(numberEnv('ROUNDS', 3, 1));
const PROFILE = process.env.PROFILE === '1';
const PARTS = new Set((process.env.PARTS ?? 'latency,cpu').split(',').map((s) => s.trim()));
const CORE_SUT = 0; // Weir, or the hand-written server
const CORE_REST = 1; // upstreams, load generator, this process

if (CLIENTS.some((c) => !Number.isInteger(c) || c < 1)) {
  console.error(`CLIENTS must be a comma-separated list of whole numbers ≥ 1, got "${process.env.CLIENTS}"`);
  process.exit(2);
}
if (![...PARTS].every((p) => p === 'latency' || p === 'cpu')) {
  console.error(`PARTS takes latency and/or cpu, got "${process.env.PARTS}"`);
  process.exit(2);
}

// Latency targets (issue: flows run at the speed of their critical path).
const TARGET_P50_GAP_MS = 1;
const TARGET_P99_GAP_MS = 5;
const TARGET_CPU_RATIO = 0.9;
/** Above this share of the server's core taken by other processes (column `others`), a CPU run is disturbed. */
const DISTURBED_PCT = 5;

// ---------------------------------------------------------------------------------------------
// Output: printed and written to bench/results/flows-<date>-<time>.txt

const stamp = new Date().toISOString().replace(/T/, '-').replace(/:/g, '').replace(/\..*$/, '');
mkdirSync(join(ROOT, 'bench/results'), { recursive: true });
const RESULTS = join(ROOT, `bench/results/flows-${stamp}.txt`);
writeFileSync(RESULTS, '');
const TMP = mkdtempSync(join(tmpdir(), 'weir-bench-flows-'));

function say(text = ''): void {
  console.log(text);
  appendFileSync(RESULTS, `${text}\n`);
}

/** Everything that makes the run fail (exit 1): non-2xx, partial or wrong answers, errors. */
const failures: string[] = [];
function fail(what: string): void {
  failures.push(what);
  say(`ERROR: ${what}`);
}

const ms = (v: number | undefined, digits = 1): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits));
const signed = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? 'n/a' : `${v >= 0 ? '+' : ''}${v.toFixed(1)}`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const startWeir = (config: string, label: string, nodeArgs: string[] = []): Promise<RunningWeir> => startWeirIn(config, label, { dir: TMP, core: CORE_SUT, nodeArgs });

// ---------------------------------------------------------------------------------------------
// Part 1: latency against the critical path

interface LatencyRow {
  flow: string;
  clients: number;
  target: Target;
  n: number;
  rate: number;
  p50: number;
  p99: number;
  errors: number;
  /** Weir only: share of its upstream calls that joined an identical call in flight (coalescing). */
  joined?: number;
  core0: number;
  core1: number;
}

type Target = 'weir' | 'direct-dag' | 'waterfall';

const TARGET_NOTES: Record<Target, string> = {
  weir: 'one request to Weir per flow',
  'direct-dag': 'no gateway: the bench runs the flow itself (Weir\'s engine, in-process) straight against the services, calls in parallel as the DAG allows — what the services alone take for the critical path',
  waterfall: 'the same calls made one at a time by the bench, straight to the services, as a naive client would',
};

async function latencyPart(): Promise<void> {
  say('== 1. Latency against the critical path ==');
  say(`SCALE=${SCALE}: the demo services answer after SEED_LATENCY_MS × ${SCALE} (each call's total rounded to whole ms): ${Object.entries(SEED_LATENCY_MS)
    .map(([k, v]) => `${k} ${+(v * SCALE).toFixed(3)}`)
    .join(', ')} ms`);

  const shopLog = join(TMP, 'shop-services.log');
  const shop = startProcess(pinned(CORE_REST, [process.execPath, '--import', 'tsx', 'bench/flows/shop-services.ts', String(SCALE)]), shopLog, { stdoutPipe: true });
  let weir: RunningWeir | undefined;
  try {
    const started = JSON.parse(await firstLine(shop, 'the demo shop services')) as { services: Array<{ name: string; url: string }> };
    const urls = new Map(started.services.map((s) => [s.name, s.url]));
    // examples/shop/weir.yaml points auth, orders and catalog at 9101–9103 (services.ts's basePort 9101 + i).
    const byPort = new Map(started.services.map((s, i) => [String(9101 + i), s.url]));
    const yaml = rewriteTargets(readFileSync('examples/shop/weir.yaml', 'utf8'), (name, old) => {
      const url = urls.get(name) ?? byPort.get(/:(\d+)/.exec(old.replace(/^https?:\/\//, ''))?.[1] ?? '');
      if (url === undefined) throw new Error(`examples/shop/weir.yaml: service "${name}" (${old}) is none of the demo services (${[...urls.keys()].join(', ')})`);
      return url;
    });
    const config = join(TMP, 'shop.yaml');
    writeFileSync(config, yaml);
    const flows = loadFlows(yaml, 'examples/shop/weir.yaml (rewritten)');
    say(`demo services: ${started.services.map((s) => `${s.name} ${s.url}`).join(', ')}; Weir config: examples/shop/weir.yaml with those target URLs`);

    weir = await startWeir(config, 'weir-shop');
    const setup = new DirectCaller(urls, 4);
    const weirPool = new Pool(weir.url, { connections: 4 });
    const login = await weirPool.request({ path: '/auth/login', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-demo' }) });
    const loginBody = (await login.body.json()) as { token?: string; userId?: number };
    if (login.statusCode !== 200 || typeof loginBody.token !== 'string') throw new Error(`POST /auth/login through Weir answered ${login.statusCode}`);
    const authorization = `Bearer ${loginBody.token}`;
    const list = await setup.call({ service: 'orders', method: 'GET', path: `/orders?userId=${loginBody.userId}`, headers: {}, body: undefined }, true);
    const newest = (list.body as Array<{ id: number }>)[0]?.id;
    if (list.status !== 200 || newest === undefined) throw new Error(`GET /orders?userId=${loginBody.userId} answered ${list.status}`);
    await weirPool.close();

    const cases = [
      { path: `/shop/orders/${ORDER_ID}/details`, expect: ORDER_ID },
      { path: '/shop/me/latest-order', expect: newest },
    ];
    const rows: LatencyRow[] = [];
    const critical = new Map<string, CriticalPath | undefined>();

    for (const c of cases) {
      const found = findFlow(flows, 'GET', c.path);
      if (found === undefined) {
        fail(`examples/shop/weir.yaml has no flow for GET ${c.path}`);
        continue;
      }
      const flowName = found.flow.name;
      const plan = planFlow(found.flow);
      const request = (): FlowContext['request'] => ({ method: 'GET', path: c.path, params: found.params, query: {}, headers: { authorization, host: '127.0.0.1' }, body: null });
      let cp: CriticalPath | undefined;
      try {
        cp = await simulateCriticalPath(plan, request(), setup, SCALE);
        const note = Math.abs(cp.endMs - cp.ms) > 0.01 ? ` (WARNING: the simulated flow answered at ${ms(cp.endMs)} ms: the scheduler left a step waiting)` : '';
        say(`flow ${flowName} (GET ${c.path}): critical path ${cp.chain.join(' → ')} = ${ms(cp.ms)} ms; ${cp.calls} calls adding up to ${ms(cp.sumMs)} ms${note}`);
      } catch (err) {
        say(`WARNING: flow ${flowName}: could not compute the critical path: ${(err as Error).message}`);
      }
      critical.set(flowName, cp);

      /**
       * Warm-up, then the measured closed loop, with how busy each core was. Whatever orchestrates
       * the calls gets core 0 to itself: Weir there for `weir` (this process, the load generator,
       * beside the services on core 1), this process there for the others (Weir idles).
       */
      const point = async (target: Target, clients: number, one: () => Promise<void>, before?: () => void): Promise<LatencyRow> => {
        pinSelf(target === 'weir' ? CORE_REST : CORE_SUT);
        const warm = await closedLoop(clients, WARMUP * 1000, one);
        before?.();
        const cores0 = coreTimes();
        const s = await closedLoop(clients, DURATION * 1000, one, { minSamples: clients === 1 ? MIN_SAMPLES : 0, maxMs: MAX_POINT * 1000 });
        const cores1 = coreTimes();
        const errors = s.errors + warm.errors;
        if (errors > 0) fail(`${flowName} ${target}, ${clients} clients: ${errors} failed requests: ${failures2(s, warm)}`);
        pinSelf(CORE_REST);
        return {
          flow: flowName,
          clients,
          target,
          n: s.latencies.length,
          rate: s.completed / s.seconds,
          p50: percentile(s.latencies, 0.5),
          p99: percentile(s.latencies, 0.99),
          errors,
          core0: coreUse(cores0, cores1, 0).busy,
          core1: coreUse(cores0, cores1, 1).busy,
        };
      };

      for (const clients of CLIENTS) {
        // Weir: one request per flow. Server-Timing says how many calls joined one in flight.
        const pool = new Pool(weir.url, { connections: clients });
        let joined = 0;
        let answered = 0;
        const hit = async (): Promise<void> => {
          const res = await pool.request({ path: c.path, method: 'GET', headers: { authorization } });
          const text = await res.body.text();
          if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${res.statusCode}: ${text.slice(0, 160)}`);
          if (res.headers['weir-failed-steps'] !== undefined) throw new Error(`partial answer (Weir-Failed-Steps: ${String(res.headers['weir-failed-steps'])})`);
          checkShopAnswer(JSON.parse(text), c.expect);
          const timing = res.headers['server-timing'];
          if (typeof timing === 'string' && timing.includes('coalesced=')) for (const m of timing.matchAll(/coalesced=(\d+)/g)) joined += Number(m[1]);
          answered++;
        };
        const w = await point('weir', clients, hit, () => ((joined = 0), (answered = 0)));
        await pool.close();
        if (cp !== undefined && answered > 0) w.joined = joined / (answered * cp.calls);
        rows.push(w);

        // No gateway: the same engine in this process, calls straight to the services, in parallel.
        // Enough connections that parallel calls never queue in the bench's own pools.
        const inParallel = new DirectCaller(urls, clients * 16);
        const dag = async (): Promise<void> => {
          const outcome = await runFlow(plan, { request: request(), steps: {} }, (call) => inParallel.call(call), { timeoutMs: 0 });
          if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.errors.map((e) => e.message).join('; ').slice(0, 200)}`);
          if (outcome.errors.length > 0) throw new Error(`partial: ${outcome.errors.map((e) => e.message).join('; ').slice(0, 200)}`);
          checkShopAnswer(outcome.body, c.expect);
        };
        rows.push(await point('direct-dag', clients, dag));
        await inParallel.close();

        // The client-side waterfall: the same calls, one at a time, straight to the services.
        const services = new DirectCaller(urls, clients);
        const naive = async (): Promise<void> => {
          const outcome = await runFlow(plan, { request: request(), steps: {} }, oneAtATime((call) => services.call(call)), { timeoutMs: 0 });
          if (!outcome.ok) throw new Error(`${outcome.code}: ${outcome.errors.map((e) => e.message).join('; ').slice(0, 200)}`);
          if (outcome.errors.length > 0) throw new Error(`partial: ${outcome.errors.map((e) => e.message).join('; ').slice(0, 200)}`);
          checkShopAnswer(outcome.body, c.expect);
        };
        rows.push(await point('waterfall', clients, naive));
        await services.close();
        process.stderr.write(`  … ${flowName} at ${clients} clients done\n`);
      }
    }
    await setup.close();

    say('');
    for (const [target, note] of Object.entries(TARGET_NOTES)) say(`${target.padEnd(10)}  ${note}.`);
    say('crit: critical path from the configured latencies; gap = measured − crit. n: measured requests; flows/s: achieved rate;');
    say('joined: share of Weir\'s upstream calls that joined an identical call already in flight (coalescing: every client asks for the same thing);');
    say(`core0/core1: how busy each core was during the point. Services on core ${CORE_REST}; for weir, Weir on core ${CORE_SUT} and the load generator on core ${CORE_REST};`);
    say(`  for direct-dag and waterfall, the bench (which then does the calls) on core ${CORE_SUT} while Weir idles.`);
    say(
      `${'flow'.padEnd(14)} ${'clients'.padStart(7)} ${'target'.padEnd(10)} ${'n'.padStart(6)} ${'flows/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'crit ms'.padStart(7)} ${'p50 gap'.padStart(8)} ${'p99 gap'.padStart(8)} ${'joined'.padStart(6)} ${'core0'.padStart(5)} ${'core1'.padStart(5)} ${'errors'.padStart(6)}`,
    );
    for (const r of rows) {
      const cp = critical.get(r.flow)?.ms;
      const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : `${(100 * v).toFixed(0)}%`);
      say(
        `${r.flow.padEnd(14)} ${String(r.clients).padStart(7)} ${r.target.padEnd(10)} ${String(r.n).padStart(6)} ${r.rate.toFixed(0).padStart(8)} ${ms(r.p50).padStart(7)} ${ms(r.p99).padStart(7)} ${ms(cp).padStart(7)} ${signed(cp === undefined ? undefined : r.p50 - cp).padStart(8)} ${signed(cp === undefined ? undefined : r.p99 - cp).padStart(8)} ${pct(r.joined).padStart(6)} ${pct(r.core0 / 100).padStart(5)} ${pct(r.core1 / 100).padStart(5)} ${String(r.errors).padStart(6)}`,
      );
    }
    say('');
    say(`Targets (Weir): p50 ≤ critical path + ${TARGET_P50_GAP_MS} ms; p99 ≤ critical path + ${TARGET_P99_GAP_MS} ms at 500 clients.`);
    say('(weir − direct-dag: what the gateway adds over the services themselves; waterfall / weir: what the flow saves a naive client.)');
    for (const r of rows.filter((x) => x.target === 'weir')) {
      const cp = critical.get(r.flow)?.ms;
      if (cp === undefined) continue;
      const other = (t: Target) => rows.find((x) => x.target === t && x.flow === r.flow && x.clients === r.clients);
      const p50ok = r.p50 - cp <= TARGET_P50_GAP_MS;
      const p99 = r.clients === 500 ? `, p99 gap ${signed(r.p99 - cp)} ms ${r.p99 - cp <= TARGET_P99_GAP_MS ? 'met' : 'MISSED'}` : '';
      const dag = other('direct-dag');
      const added = dag ? `; weir − direct-dag: p50 ${signed(r.p50 - dag.p50)} ms, p99 ${signed(r.p99 - dag.p99)} ms` : '';
      const waterfall = other('waterfall');
      const speedup = waterfall ? `; waterfall / weir p50 ${(waterfall.p50 / r.p50).toFixed(2)}x` : '';
      say(`  ${r.flow.padEnd(14)} ${String(r.clients).padStart(3)} clients: p50 gap ${signed(r.p50 - cp)} ms ${p50ok ? 'met' : 'MISSED'}${p99}${added}${speedup}`);
    }
  } finally {
    await weir?.stop();
    await stopProcess(shop);
  }
}

// ---------------------------------------------------------------------------------------------
// Part 2: CPU cost of a flow against a zero-latency upstream

interface CpuRun {
  target: string;
  round: number;
  rate: number;
  p50: number;
  p99: number;
  /** CPU time of the server under test (all its processes) per second of the run, in %. */
  sutCpu: number;
  /** Its CPU time per flow, µs. */
  usPerFlow: number;
  core0: { busy: number; steal: number };
  core1: { busy: number; steal: number };
  loadCpu: number;
  /** CPU on the server's core taken by anything else (its core's busy time minus its own CPU), in %. */
  othersOnSutCore: number;
  /** The 1-minute load average at the end of the run. */
  loadAverage: number;
  errors: number;
  /** Every flow the server answered in its life (check, warm-up and measurement), for per-flow profile figures. */
  served: number;
}

/**
 * Client k always asks for /cpu/k: no two flows in flight ever make an identical call (Weir would
 * coalesce those into one upstream request, and then not make the same calls as the hand-written
 * server). The joined count from Server-Timing checks it.
 */
function checkCpuAnswer(text: string, id: string): void {
  const body = JSON.parse(text) as { id?: unknown; items?: unknown[]; c?: unknown; d?: unknown };
  if (body.id !== id || !Array.isArray(body.items) || body.items.length !== 10 || body.items[9] !== `item ${id}-10` || body.c !== `c ${id}` || body.d !== `d ${id}`) {
    throw new Error(`unexpected answer: ${text.slice(0, 160)}`);
  }
}

async function measureCpu(target: string, round: number, url: string, rootPid: number): Promise<CpuRun> {
  const pool = new Pool(url, { connections: CPU_CLIENTS });
  let joined = 0;
  const hit = async (client: number): Promise<void> => {
    const res = await pool.request({ path: `/cpu/${client}`, method: 'GET' });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`${res.statusCode}: ${text.slice(0, 160)}`);
    if (res.headers['weir-failed-steps'] !== undefined) throw new Error(`partial answer (Weir-Failed-Steps: ${String(res.headers['weir-failed-steps'])})`);
    const timing = res.headers['server-timing'];
    if (typeof timing === 'string' && timing.includes('coalesced=')) for (const m of timing.matchAll(/coalesced=(\d+)/g)) joined += Number(m[1]);
    checkCpuAnswer(text, String(client));
  };
  try {
    await hit(0); // one request first: a server that does not answer right fails fast
    const warm = await closedLoop(CPU_CLIENTS, CPU_WARMUP * 1000, hit);
    const pids = processTree(rootPid);
    const [cpu0, cores0, load0] = [cpuSeconds(pids), coreTimes(), process.cpuUsage()];
    const s = await closedLoop(CPU_CLIENTS, CPU_DURATION * 1000, hit);
    const [cpu1, cores1, load1] = [cpuSeconds(pids), coreTimes(), process.cpuUsage(load0)];
    const errors = s.errors + warm.errors;
    if (errors > 0) fail(`CPU run ${target} round ${round}: ${errors} failed requests: ${failures2(s, warm)}`);
    if (joined > 0) say(`WARNING: CPU run ${target} round ${round}: ${joined} calls joined an identical call in flight (coalescing): Weir made fewer calls than the hand-written server`);
    return {
      target,
      round,
      rate: s.completed / s.seconds,
      p50: percentile(s.latencies, 0.5),
      p99: percentile(s.latencies, 0.99),
      sutCpu: (100 * (cpu1 - cpu0)) / s.seconds,
      usPerFlow: ((cpu1 - cpu0) * 1e6) / Math.max(1, s.completed),
      core0: coreUse(cores0, cores1, 0),
      core1: coreUse(cores0, cores1, 1),
      loadCpu: (100 * (load1.user + load1.system)) / 1e6 / s.seconds,
      othersOnSutCore: Math.max(0, coreUse(cores0, cores1, CORE_SUT).busy - (100 * (cpu1 - cpu0)) / s.seconds),
      loadAverage: loadavg()[0]!,
      errors,
      served: 1 + warm.completed + s.completed,
    };
  } finally {
    await pool.close();
  }
}

async function cpuPart(): Promise<void> {
  say('== 2. CPU cost: a 5-step flow (a ∥ b → c ∥ d → 10-item fan-out: 14 calls) against a zero-latency upstream ==');
  const upstreamPort = await freePort();
  const upstreamLog = join(TMP, 'zero-upstream.log');
  const upstream = startProcess(pinned(CORE_REST, [process.execPath, 'bench/flows/zero-upstream.mjs', String(upstreamPort)]), upstreamLog, { stdoutPipe: true });
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  try {
    await firstLine(upstream, 'bench/flows/zero-upstream.mjs');
    const source = readFileSync('bench/flows/cpu-flow.yaml', 'utf8');
    const yaml = rewriteTargets(source, () => upstreamUrl);
    const config = join(TMP, 'cpu-flow.yaml');
    writeFileSync(config, yaml);
    const parsed = parseConfig(yaml, 'bench/flows/cpu-flow.yaml');
    if (!parsed.ok) throw new Error(`bench/flows/cpu-flow.yaml is not valid: ${parsed.issues.map((i) => i.message).join('; ')}`);
    const connections = parsed.config.services.get('up')?.connections ?? 256;
    say(`upstream ${upstreamUrl} (core ${CORE_REST}); ${CPU_CLIENTS} closed-loop clients (core ${CORE_REST}); server under test on core ${CORE_SUT}; ${CPU_WARMUP} s warm-up + ${CPU_DURATION} s per run; ${ROUNDS} interleaved rounds`);

    const runWeir = async (round: number, label = 'weir', nodeArgs: string[] = []): Promise<{ run: CpuRun; workers: number[] }> => {
      const weir = await startWeir(config, `${label}-r${round}`, nodeArgs);
      try {
        const run = await measureCpu(label, round, weir.url, weir.proc.pid!);
        return { run, workers: processTree(weir.proc.pid!).slice(1) };
      } finally {
        await weir.stop();
      }
    };
    const runHand = async (round: number, label = 'handwritten', nodeArgs: string[] = []): Promise<CpuRun> => {
      const port = await freePort();
      const log = join(TMP, `${label}-r${round}.log`);
      const hand = startProcess(pinned(CORE_SUT, [process.execPath, ...nodeArgs, 'bench/flows/handwritten.mjs', String(port), upstreamUrl, String(connections)]), log, { stdoutPipe: true });
      try {
        await firstLine(hand, 'bench/flows/handwritten.mjs');
        return await measureCpu(label, round, `http://127.0.0.1:${port}`, hand.pid!);
      } finally {
        await stopProcess(hand);
      }
    };

    const runs: CpuRun[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // Alternate which goes first, so a drift within a round does not always favour one side.
      const order = round % 2 === 1 ? ['weir', 'handwritten'] : ['handwritten', 'weir'];
      for (const target of order) {
        const run = target === 'weir' ? (await runWeir(round)).run : await runHand(round);
        runs.push(run);
        process.stderr.write(`  … round ${round} ${target}: ${run.rate.toFixed(0)} flows/s\n`);
      }
    }

    say('');
    say('Per run: flows/s; latency; CPU of the server under test (all its processes; 100% = one core) and per flow; how busy each core was (steal: time the hypervisor took);');
    say(`  others: what else ran on the server's core ${CORE_SUT} (its busy time minus the server's CPU; above a few % the run was disturbed); load: 1-minute load average at the end.`);
    const header = `${'round'.padEnd(5)} ${'target'.padEnd(12)} ${'flows/s'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'SUT CPU'.padStart(8)} ${'µs/flow'.padStart(8)} ${'core0 busy/steal'.padStart(17)} ${'core1 busy/steal'.padStart(17)} ${'loadgen'.padStart(8)} ${'others'.padStart(7)} ${'load'.padStart(5)} ${'errors'.padStart(6)}`;
    const line = (r: CpuRun) =>
      `${String(r.round).padEnd(5)} ${r.target.padEnd(12)} ${r.rate.toFixed(0).padStart(8)} ${ms(r.p50, 2).padStart(7)} ${ms(r.p99, 2).padStart(7)} ${`${r.sutCpu.toFixed(0)}%`.padStart(8)} ${r.usPerFlow.toFixed(0).padStart(8)} ${`${r.core0.busy.toFixed(0)}% / ${r.core0.steal.toFixed(0)}%`.padStart(17)} ${`${r.core1.busy.toFixed(0)}% / ${r.core1.steal.toFixed(0)}%`.padStart(17)} ${`${r.loadCpu.toFixed(0)}%`.padStart(8)} ${`${r.othersOnSutCore.toFixed(0)}%`.padStart(7)} ${r.loadAverage.toFixed(1).padStart(5)} ${String(r.errors).padStart(6)}`;
    say(header);
    for (const r of runs) say(line(r));

    const of = (t: string) => runs.filter((r) => r.target === t);
    const w = of('weir');
    const h = of('handwritten');
    const mw = median(w.map((r) => r.rate));
    const mh = median(h.map((r) => r.rate));
    const cw = median(w.map((r) => r.usPerFlow));
    const ch = median(h.map((r) => r.usPerFlow));
    const perRound = w.map((r) => r.rate / (h.find((x) => x.round === r.round)?.rate ?? NaN));
    say('');
    say(`Median of ${ROUNDS} round(s):`);
    say(`  weir          ${mw.toFixed(0).padStart(6)} flows/s (${Math.min(...w.map((r) => r.rate)).toFixed(0)}–${Math.max(...w.map((r) => r.rate)).toFixed(0)})   ${cw.toFixed(0)} µs CPU per flow`);
    say(`  handwritten   ${mh.toFixed(0).padStart(6)} flows/s (${Math.min(...h.map((r) => r.rate)).toFixed(0)}–${Math.max(...h.map((r) => r.rate)).toFixed(0)})   ${ch.toFixed(0)} µs CPU per flow`);
    // A run whose core other processes took a share of says little about flows/s.
    const disturbed = runs.filter((r) => r.othersOnSutCore > DISTURBED_PCT).length;
    const verdict = median(perRound) >= TARGET_CPU_RATIO ? 'met' : 'MISSED';
    say(`  weir / handwritten, flows/s: ${(mw / mh).toFixed(2)}x (medians); per round ${perRound.map((x) => x.toFixed(2)).join(', ')} → median ${median(perRound).toFixed(2)}x; target ≥ ${TARGET_CPU_RATIO.toFixed(2)}x: ${disturbed > 0 ? `${verdict}, but not reliable: in ${disturbed} of ${runs.length} runs other processes took over ${DISTURBED_PCT}% of core ${CORE_SUT} (column others)` : verdict}`);
    say(`  handwritten / weir, CPU per flow: ${(ch / cw).toFixed(2)}x (1.00x = the same CPU per flow; lower = Weir spends more)`);
    for (const [label, list] of [['weir', w], ['handwritten', h]] as const) {
      const used = median(list.map((r) => r.sutCpu));
      if (used < 90) {
        say(`  NOTE: ${label} used only ${used.toFixed(0)}% of its core (median): something else (core ${CORE_REST}: upstream + load generator, or other processes) limited its rate; compare µs CPU per flow.`);
      }
    }

    if (PROFILE) {
      say('');
      say('== Profiles: one more run of each under node --cpu-prof (not in the medians) ==');
      const weirDir = join(TMP, 'cpu-prof-weir');
      const handDir = join(TMP, 'cpu-prof-handwritten');
      mkdirSync(weirDir, { recursive: true });
      mkdirSync(handDir, { recursive: true });
      const { run: weirRun, workers } = await runWeir(0, 'weir-profiled', ['--cpu-prof', `--cpu-prof-dir=${weirDir}`]);
      const handRun = await runHand(0, 'hand-profiled', ['--cpu-prof', `--cpu-prof-dir=${handDir}`]);
      say(header);
      say(line(weirRun));
      say(line(handRun));
      const keep = (dir: string, pick: (files: string[]) => string | undefined, name: string): string | undefined => {
        const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
        const file = pick(files);
        if (file === undefined) {
          say(`WARNING: no .cpuprofile was written in ${dir}`);
          return undefined;
        }
        const kept = join(ROOT, `bench/results/flows-${stamp}-${name}.cpuprofile`);
        copyFileSync(join(dir, file), kept);
        return kept;
      };
      // The primary writes a profile too: take the worker's (its pid is in the file name).
      const weirProfile = keep(weirDir, (files) => files.find((f) => workers.some((pid) => f.includes(`.${pid}.`))) ?? files.sort().at(-1), 'weir-worker');
      const handProfile = keep(handDir, (files) => files[0], 'handwritten');
      if (weirProfile !== undefined) {
        say(`Weir worker: ${weirProfile.slice(ROOT.length + 1)} (open in Chrome DevTools → Performance, or: node --import tsx bench/flows/profile-summary.ts FILE)`);
        say(formatSummary(summarizeProfile(weirProfile), 25));
      }
      if (weirProfile !== undefined && handProfile !== undefined) {
        say('');
        say(`Hand-written server: ${handProfile.slice(ROOT.length + 1)}`);
        say(
          formatComparison(
            [
              { label: 'weir', summary: summarizeProfile(weirProfile), flows: weirRun.served },
              { label: 'handwritten', summary: summarizeProfile(handProfile), flows: handRun.served },
            ],
            20,
          ),
        );
      }
    }
  } finally {
    await stopProcess(upstream);
  }
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (!existsSync(join(ROOT, 'dist/cli/main.js'))) {
    console.error('weir is not built: run `npm run build` first (npm run bench:flows does)');
    process.exit(1);
  }
  pinSelf(CORE_REST);
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  say(`bench:flows ${new Date().toISOString()}  weir ${commit}  node ${process.version}  ${CORES} cores  load average ${loadavg()[0]!.toFixed(2)}`);
  say(
    PIN
      ? `Pinning: Weir (or the hand-written server) on core ${CORE_SUT}; demo services / zero-latency upstream, load generator and this process on core ${CORE_REST}.`
      : 'WARNING: fewer than 2 cores or no taskset: nothing is pinned, the numbers mean little',
  );
  if (loadavg()[0]! > 1) say(`WARNING: load average ${loadavg()[0]!.toFixed(2)} > 1 before the start: other processes share the cores`);
  say('');
  const parts: Array<[string, () => Promise<void>]> = [];
  if (PARTS.has('latency')) parts.push(['latency', latencyPart]);
  if (PARTS.has('cpu')) parts.push(['cpu', cpuPart]);
  for (const [i, [name, part]] of parts.entries()) {
    if (i > 0) say('');
    try {
      await part();
    } catch (err) {
      fail(`the ${name} part stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  say('');
  say(`Written to ${RESULTS.slice(ROOT.length + 1)}`);
  if (failures.length === 0) rmSync(TMP, { recursive: true, force: true });
  else say(`The servers' logs are in ${TMP}`);
  if (failures.length > 0) {
    const banner = '!'.repeat(78);
    say(banner);
    say(`BENCH FAILED: ${failures.length} problem(s); the numbers above are not comparable:`);
    for (const f of failures) say(`  - ${f.split('\n')[0]}`);
    say(banner);
    process.exitCode = 1;
  }
}

await main();
