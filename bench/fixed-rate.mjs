// Open-loop, fixed-rate HTTP load generator (what wrk2's -R does; wrk2 is not packaged in Debian).
//
//   node bench/fixed-rate.mjs --url http://127.0.0.1:8080/ --rate 3000 --duration 10 \
//     [--connections 64] [--warmup 2] [--drain-timeout 10]
//
// Request i is *scheduled* at t0 + i / rate, whatever happened to the earlier ones, and sent on an
// undici Pool of --connections keep-alive connections (queued inside the Pool when all are busy).
// Its latency is measured from the scheduled time, not from when it actually left, so a stall of
// the server (or of this process) shows up in the latency of every request that should have been
// sent meanwhile: coordinated omission is accounted for, as in wrk2. Requests are sent from a
// timer (Node's timers have 1 ms granularity): the few requests due in the same millisecond leave
// together, and the time they waited for the timer counts in their latency (`send_lag_ms` shows it;
// it is the same against every target, so it cancels out of a difference of two runs).
//
// The first --warmup seconds run at the same rate but are not recorded (their statuses are still
// checked). Every response must be 2xx. Prints one JSON object on stdout:
//   { url, target_rate, duration_s, connections, scheduled, completed, non2xx, errors, first_problem,
//     achieved_rate, achieved_ratio, valid, invalid_reason,
//     latency_ms: { p50, p90, p99, p999, max, mean }, send_lag_ms: { p50, p99, max } }
// achieved_rate = recorded responses / (last recorded response − start of the recorded window).
// `valid` is false when it is not within 2% of the target: the generator (or the server) did not
// keep up, and the percentiles do not describe that rate.
// Exit status: 0 every response 2xx; 1 a non-2xx answer, a request error or a missing response;
// 2 bad arguments.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

function usage(message) {
  process.stderr.write(`fixed-rate: ${message}\n` +
    'usage: node bench/fixed-rate.mjs --url URL --rate REQ_PER_S --duration S [--connections N] [--warmup S] [--drain-timeout S]\n');
  process.exit(2);
}

let args;
try {
  ({ values: args } = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      connections: { type: 'string', default: '64' },
      warmup: { type: 'string', default: '0' },
      'drain-timeout': { type: 'string', default: '10' },
    },
  }));
} catch (err) {
  usage(err.message);
}

const rate = Number(args.rate);
const duration = Number(args.duration);
const connections = Number(args.connections);
const warmup = Number(args.warmup);
const drainTimeout = Number(args['drain-timeout']);
if (!args.url) usage('--url is required');
if (!(rate > 0)) usage('--rate must be > 0');
if (!(duration > 0)) usage('--duration must be > 0');
if (!(Number.isInteger(connections) && connections >= 1)) usage('--connections must be a whole number >= 1');
if (!(warmup >= 0)) usage('--warmup must be >= 0');
if (!(drainTimeout > 0)) usage('--drain-timeout must be > 0');

const url = new URL(args.url);
const path = url.pathname + url.search;
const pool = new Pool(url.origin, { connections, pipelining: 1 });

const interval = 1000 / rate; // ms between two scheduled sends
const warmupCount = Math.round(warmup * rate);
const measuredCount = Math.round(duration * rate);
const total = warmupCount + measuredCount;

const latency = new Float64Array(measuredCount); // ms from scheduled send to the response's end
const sendLag = new Float64Array(measuredCount); // ms from scheduled send to actually dispatched
let recorded = 0;
let done = 0; // warm-up included: responses and errors
let non2xx = 0;
let errors = 0;
let firstProblem = null;
let lastMeasuredEnd = 0;
let finish;
const finished = new Promise((resolve) => { finish = resolve; });

function problem(text) {
  if (firstProblem === null) firstProblem = text;
}

function settle() {
  done++;
  if (done === total) finish();
}

function send(i, scheduled) {
  const measured = i >= warmupCount;
  const slot = i - warmupCount;
  if (measured) sendLag[slot] = performance.now() - scheduled;
  let status = 0;
  pool.dispatch({ method: 'GET', path, headers: { host: url.host } }, {
    onConnect() {},
    onHeaders(statusCode) {
      status = statusCode;
      return true;
    },
    onData() {
      return true;
    },
    onComplete() {
      const end = performance.now();
      if (status < 200 || status > 299) {
        non2xx++;
        problem(`status ${status}`);
      }
      if (measured) {
        latency[recorded++] = end - scheduled;
        if (end > lastMeasuredEnd) lastMeasuredEnd = end;
      }
      settle();
    },
    onError(err) {
      errors++;
      problem(`${err.code ?? err.name}: ${err.message}`);
      settle();
    },
  });
}

// Start a few ms from now so the first batch is not already late.
const t0 = performance.now() + 20;
const measuredStart = t0 + warmupCount * interval;
let next = 0;

function tick() {
  const now = performance.now();
  while (next < total) {
    const scheduled = t0 + next * interval;
    if (scheduled > now) break;
    send(next, scheduled);
    next++;
  }
  if (next < total) setTimeout(tick, Math.max(0, t0 + next * interval - performance.now()));
}
setTimeout(tick, Math.max(0, t0 - performance.now()));

// Wait for every response, or give up drainTimeout seconds after the last scheduled send.
const scheduleEnd = t0 + total * interval;
let timedOut = false;
await Promise.race([
  finished,
  new Promise((resolve) => {
    const check = setInterval(() => {
      if (done === total) { clearInterval(check); resolve(); return; }
      if (performance.now() > scheduleEnd + drainTimeout * 1000) {
        timedOut = true;
        clearInterval(check);
        resolve();
      }
    }, 50);
  }),
]);
const missing = total - done;
if (timedOut && missing > 0) {
  errors += missing;
  problem(`${missing} responses still missing ${drainTimeout}s after the last scheduled send`);
}
await pool.destroy().catch(() => {});

// Nearest-rank percentile over a sorted array.
function pct(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(p * sorted.length)));
  return sorted[rank - 1];
}
const round3 = (v) => (v === null || Number.isNaN(v) ? null : Math.round(v * 1000) / 1000);

const lat = latency.subarray(0, recorded).slice().sort();
const lag = sendLag.slice().sort();
let sum = 0;
for (const v of lat) sum += v;
const elapsed = (lastMeasuredEnd - measuredStart) / 1000;
const achievedRate = recorded > 0 && elapsed > 0 ? recorded / elapsed : 0;
const achievedRatio = achievedRate / rate;
let invalidReason = null;
if (recorded < measuredCount) invalidReason = `only ${recorded} of ${measuredCount} scheduled requests answered`;
else if (Math.abs(achievedRatio - 1) > 0.02) {
  invalidReason = `achieved ${achievedRate.toFixed(0)} req/s, ${(achievedRatio * 100).toFixed(1)}% of the target ${rate} (must be within 2%)`;
}

const result = {
  url: url.href,
  target_rate: rate,
  duration_s: duration,
  warmup_s: warmup,
  connections,
  scheduled: measuredCount,
  completed: recorded,
  non2xx,
  errors,
  first_problem: firstProblem,
  achieved_rate: Math.round(achievedRate * 10) / 10,
  achieved_ratio: Math.round(achievedRatio * 10000) / 10000,
  valid: invalidReason === null,
  invalid_reason: invalidReason,
  latency_ms: {
    p50: round3(pct(lat, 0.5)),
    p90: round3(pct(lat, 0.9)),
    p99: round3(pct(lat, 0.99)),
    p999: round3(pct(lat, 0.999)),
    max: round3(lat.length ? lat[lat.length - 1] : null),
    mean: round3(lat.length ? sum / lat.length : null),
  },
  send_lag_ms: {
    p50: round3(pct(lag, 0.5)),
    p99: round3(pct(lag, 0.99)),
    max: round3(lag.length ? lag[lag.length - 1] : null),
  },
};
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = non2xx > 0 || errors > 0 ? 1 : 0;
