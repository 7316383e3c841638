import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FlowConfig } from '../flows/types.js';
import { explainFlow } from '../flows/explain.js';
import { planFlow } from '../flows/plan.js';
import type { StatsSnapshot } from '../flows/stats.js';
import type { FlowStateStore } from '../store/flow-state.js';
import { PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../errors.js';

/** What the admin endpoints report about the node. */
export interface NodeStatus {
  /** Serving traffic with a loaded config. */
  serving: boolean;
  /** Ready for traffic: every data plane runs the current config and the node is not draining. */
  ready: boolean;
  configVersion: string | null;
  configSource: string;
  workers: { id: number; pid: number | undefined; configVersion: string | null; ready: boolean }[];
  startedAt: number;
}

export interface AdminSources {
  /** The flows of the current config and their observed step latencies (merged across workers). */
  flows?: () => { flows: readonly FlowConfig[]; stats: StatsSnapshot };
  /** For the failed compensations an operator must finish by hand. */
  state?: FlowStateStore;
}

/**
 * The admin port (9080 by default, bound to 127.0.0.1 unless configured otherwise):
 * - `GET /healthz` (200 while serving) and `GET /readyz` (200 when ready for traffic, 503 while
 *   starting, reloading or draining);
 * - `GET /api/v1/flows`, `GET /api/v1/flows/{name}/explain[?latency=step:ms,…]` (the DAG and its
 *   critical path from the step latencies observed by every worker, or the ones given);
 * - `GET /api/v1/compensation-failures[?limit=N]`.
 * The rest of the admin API (with authentication) is the control plane's.
 */
export function createAdminServer(status: () => NodeStatus, sources: AdminSources = {}): Server {
  return createServer((req, res) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    if (path === '/healthz') {
      const s = status();
      return reply(res, s.serving ? 200 : 503, {
        status: s.serving ? 'ok' : 'unavailable',
        configVersion: s.configVersion,
        configSource: s.configSource,
        uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
        workers: s.workers,
      });
    }
    if (path === '/readyz') {
      const s = status();
      return reply(res, s.ready ? 200 : 503, { ready: s.ready, configVersion: s.configVersion });
    }
    if (path === '/api/v1/flows' && sources.flows) return listFlows(res, sources.flows());
    const explain = /^\/api\/v1\/flows\/([^/]+)\/explain$/.exec(path);
    if (explain !== null && sources.flows) return explainOne(req, res, decodeURIComponent(explain[1]!), new URLSearchParams(query), sources.flows());
    if (path === '/api/v1/compensation-failures' && sources.state) {
      const limit = Math.min(1000, Math.max(1, Number(new URLSearchParams(query).get('limit') ?? 100) || 100));
      sources.state.listCompensationFailures(limit).then(
        (failures) => reply(res, 200, { items: failures.map((f) => ({ ...f, at: new Date(f.at).toISOString() })) }),
        () => problem(req, res, 'WEIR_INTERNAL', 'the store could not be read'),
      );
      return;
    }
    problem(req, res, 'WEIR_NO_ROUTE', `no admin endpoint ${path}`);
  });
}

function listFlows(res: ServerResponse, current: { flows: readonly FlowConfig[] }): void {
  reply(res, 200, {
    items: current.flows.map((f) => ({ name: f.name, method: f.method, path: f.path, mode: f.mode, timeoutMs: f.timeoutMs, steps: f.steps.map((s) => s.name) })),
  });
}

function explainOne(req: IncomingMessage, res: ServerResponse, name: string, query: URLSearchParams, current: { flows: readonly FlowConfig[]; stats: StatsSnapshot }): void {
  const flow = current.flows.find((f) => f.name === name);
  if (flow === undefined) return problem(req, res, 'WEIR_NO_ROUTE', `no flow "${name}" (flows: ${current.flows.map((f) => f.name).join(', ') || 'none'})`);
  const observed = current.stats[name] ?? {};
  const latencies = new Map(Object.entries(observed).map(([step, s]) => [step, s.p50Ms]));
  const given = query.get('latency');
  if (given !== null) {
    for (const pair of given.split(',')) {
      const match = /^([A-Za-z_][A-Za-z0-9_]*):(\d+(?:\.\d+)?)$/.exec(pair.trim());
      if (match === null) return problem(req, res, 'WEIR_BAD_REQUEST', `latency takes step:ms pairs separated by commas, e.g. latency=order:120,user:40 (got "${pair}")`);
      latencies.set(match[1]!, Number(match[2]));
    }
  }
  reply(res, 200, { ...explainFlow(planFlow(flow), latencies), observed, latencySource: given !== null ? 'given and observed (p50)' : 'observed (p50)' });
}

function problem(req: IncomingMessage, res: ServerResponse, code: ErrorCode, detail: string): void {
  const body = problemFor(code, detail, undefined, req.url);
  reply(res, body.status, body, { 'content-type': PROBLEM_CONTENT_TYPE });
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
