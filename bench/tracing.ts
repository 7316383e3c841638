// What tracing costs per request, in CPU microseconds, measured in-process: the spans a proxied
// request makes with tracing on (a server span from the client's traceparent, one client span
// for its upstream attempt, both ended), exported by the real BatchSpanProcessor and OTLP/HTTP
// exporter to a loopback sink in another process. Tracing off costs one property check, not measured.
//
//   node --import tsx bench/tracing.ts            # N=200000
//   RATIO=0 node --import tsx bench/tracing.ts    # sampled out: spans made, none recorded
import { spawn } from 'node:child_process';
import type { IncomingMessage } from 'node:http';
import { openTracer } from '../src/observability/tracing-sdk.js';
import { silentLogger } from '../src/observability/logger.js';

const N = Number(process.env['N'] ?? 200_000);
const RATIO = Number(process.env['RATIO'] ?? 1);
// The sink runs in its own process, so this process's CPU is Weir's side only.
const SINK = `
let spans = 0;
const server = require('node:http').createServer((req, res) => {
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => { spans += Buffer.concat(chunks).toString().split('"spanId"').length - 1; res.end('{}'); });
});
server.listen(0, '127.0.0.1', () => process.send(server.address().port));
process.on('message', () => process.send(spans));
`;
const sink = spawn(process.execPath, ['-e', SINK], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((r) => sink.once('message', (m) => r(m as number)));
const { tracer, shutdown } = openTracer({ enabled: true, endpoint: `http://127.0.0.1:${port}/v1/traces`, headers: {}, sampleRatio: RATIO, serviceName: 'bench' }, silentLogger());

const req = {
  method: 'GET',
  httpVersion: '1.1',
  headers: { host: 'api.example.com', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  socket: { remoteAddress: '127.0.0.1' },
} as unknown as IncomingMessage;
if (RATIO < 1) delete (req.headers as Record<string, unknown>)['traceparent'];

function one(): void {
  const span = tracer.start(req, '/items/42', '/items/:id', { 'weir.route': 'items', 'weir.request_id': 'r-1' });
  const attempt = span.client('GET', { 'http.request.method': 'GET', 'server.address': '127.0.0.1', 'server.port': 9001, 'weir.service': 'api', 'weir.target': 'http://127.0.0.1:9001' });
  if (attempt.traceparent.length !== 55) throw new Error('bad traceparent');
  attempt.end({ 'http.response.status_code': 200 });
  span.end(200, { 'weir.attempts': 1 });
}

for (let i = 0; i < 20_000; i++) one();
// In slices, yielding between them so the batch processor exports as it would under load.
const cpu = process.cpuUsage();
const t = performance.now();
for (let done = 0; done < N; done += 100) {
  for (let i = 0; i < 100; i++) one();
  await new Promise((r) => setImmediate(r));
}
await shutdown();
const used = process.cpuUsage(cpu);
sink.send('count');
const exported = await new Promise<number>((r) => sink.once('message', (m) => r(m as number)));
sink.kill();
console.log(`tracing on (sampleRatio ${RATIO}): ${(((used.user + used.system) / N)).toFixed(2)} µs CPU per request (server span + 1 attempt span, export included), wall ${(((performance.now() - t) * 1000) / N).toFixed(2)} µs; ${exported} of ${2 * (N + 20_000)} spans exported (the rest dropped by the full queue)`);
