/**
 * The demo shop side of bench/flows.ts: calls straight to the demo services (the direct and
 * waterfall clients), the critical path from the services' configured latencies, the config
 * rewriting, and the checks of a shop flow's answer.
 */
import { Pool } from 'undici';
import { isMap, isSeq, parseDocument } from 'yaml';
import { SEED_LATENCY_MS } from '../../examples/shop/services.js';
import { parseConfig } from '../../src/config/load.js';
import type { FlowPlan } from '../../src/flows/plan.js';
import { runFlow, type CallResult, type CallService, type ResolvedCall } from '../../src/flows/run.js';
import type { FlowConfig, FlowContext } from '../../src/flows/types.js';

/** What a call to a shop endpoint costs, from SEED_LATENCY_MS × scale, rounded as services.ts does. */
export function modelLatencyMs(call: ResolvedCall, scale: number): number {
  const L = SEED_LATENCY_MS;
  const [path = '', query = ''] = call.path.split('?', 2);
  const method = call.method.toUpperCase();
  let base: number;
  if (path === '/health') base = 0;
  else if (method === 'POST' && path === '/auth/login') base = L.login;
  else if (method === 'GET' && path === '/auth/verify') base = L.verify;
  else if (method === 'GET' && path === '/orders') base = L.orderList;
  else if (method === 'GET' && /^\/orders\/[^/]+$/.test(path)) base = L.orderDetail;
  else if (method === 'GET' && path === '/products') {
    const ids = new URLSearchParams(query).get('ids');
    base = L.productBatch + L.productBatchPerId * (ids?.split(',').length ?? 30);
  } else if (method === 'GET' && /^\/products\/[^/]+$/.test(path)) base = L.product;
  else throw new Error(`no configured latency for ${method} ${path} on "${call.service}" (bench/flows.ts modelLatencyMs knows the shop's endpoints)`);
  return Math.round(base * scale);
}

export class DirectCaller {
  private readonly pools = new Map<string, Pool>();
  constructor(private readonly urls: ReadonlyMap<string, string>, private readonly connections: number) {}

  /** One call, as Weir's CallService would make it; `zeroDelay` asks the demo service to answer at once. */
  call(call: ResolvedCall, zeroDelay = false): Promise<CallResult> {
    return this.send(call, zeroDelay);
  }

  private async send(call: ResolvedCall, zeroDelay: boolean): Promise<CallResult> {
    const pool = this.pool(call.service);
    const headers: Record<string, string> = { ...call.headers, accept: 'application/json' };
    if (zeroDelay) headers['x-demo-delay'] = '0';
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await pool.request({ path: call.path, method: call.method as 'GET', headers, body });
    const text = await res.body.text();
    const type = res.headers['content-type'];
    const value = text === '' ? null : typeof type === 'string' && type.includes('json') ? (JSON.parse(text) as unknown) : text;
    return { status: res.statusCode, headers: res.headers, body: value };
  }

  private pool(service: string): Pool {
    let pool = this.pools.get(service);
    if (pool === undefined) {
      const url = this.urls.get(service);
      if (url === undefined) throw new Error(`no demo service for "${service}"`);
      pool = new Pool(url, { connections: this.connections });
      this.pools.set(service, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}

/** Makes the flow's calls one at a time, in the order Weir's engine asks for them. */
export function oneAtATime(call: (c: ResolvedCall) => Promise<CallResult>): CallService {
  let chain: Promise<unknown> = Promise.resolve();
  return (c) => {
    const next = chain.then(() => call(c));
    chain = next.catch(() => undefined);
    return next;
  };
}

export interface CriticalPath {
  ms: number;
  chain: string[];
  /** When the simulated flow answered; equal to `ms` unless the scheduler left a step waiting. */
  endMs: number;
  calls: number;
  /** Sum of every call's latency: what a client making them one by one waits at least. */
  sumMs: number;
}

/**
 * The flow's critical path from the configured latencies: Weir's planner and scheduler (runFlow)
 * run in virtual time. Each call is answered at once by the demo service (x-demo-delay: 0), but
 * handed to the engine only when the virtual clock reaches its start + its configured latency, the
 * earliest such call first, once the engine has nothing else to do. Step durations are then exact
 * for the configuration (fan-out concurrency, batches …), and the critical path is the heaviest
 * chain of dependent steps over those durations (plan.criticalPath).
 */
export async function simulateCriticalPath(plan: FlowPlan, request: FlowContext['request'], direct: DirectCaller, scale: number): Promise<CriticalPath> {
  let clock = 0;
  let sequence = 0;
  let sumMs = 0;
  const pending: Array<{ end: number; seq: number; answer: Promise<CallResult>; resolve: (r: CallResult) => void; reject: (e: unknown) => void }> = [];
  const callService: CallService = (call) => {
    const latency = modelLatencyMs(call, scale);
    sumMs += latency;
    const answer = direct.call(call, true);
    answer.catch(() => undefined);
    return new Promise<CallResult>((resolve, reject) => pending.push({ end: clock + latency, seq: sequence++, answer, resolve, reject }));
  };
  let outcome: Awaited<ReturnType<typeof runFlow>> | undefined;
  const ctx: FlowContext = { request, steps: {} };
  void runFlow(plan, ctx, callService, { timeoutMs: 0, now: () => clock }).then((o) => (outcome = o));
  const idle = () => new Promise((resolve) => setImmediate(resolve));
  for (let guard = 0; ; guard++) {
    await idle();
    await idle();
    if (outcome !== undefined) break;
    if (pending.length === 0) throw new Error('the simulated flow is waiting for nothing');
    if (guard > 100_000) throw new Error('the simulated flow does not end');
    pending.sort((a, b) => a.end - b.end || a.seq - b.seq);
    const next = pending.shift()!;
    clock = next.end;
    try {
      next.resolve(await next.answer);
    } catch (err) {
      next.reject(err);
    }
  }
  if (!outcome.ok) throw new Error(`the simulated flow failed: ${outcome.code} ${JSON.stringify(outcome.errors)}`);
  const durations = new Map(outcome.records.map((r) => [r.name, r.durationMs]));
  const path = plan.criticalPath(durations);
  return { ms: path.ms, chain: path.steps, endMs: clock, calls: sequence, sumMs };
}

// Config rewriting

/** Points every target of every service at `urlOf(serviceName, oldUrl)`; keeps the rest (comments too). */
export function rewriteTargets(text: string, urlOf: (service: string, old: string) => string): string {
  const doc = parseDocument(text);
  const services = doc.get('services');
  if (!isMap(services)) throw new Error('the config has no services map');
  for (const pair of services.items) {
    const name = String((pair.key as { value?: unknown })?.value ?? pair.key);
    const service = pair.value;
    if (!isMap(service)) continue;
    const targets = service.get('targets');
    if (!isSeq(targets)) continue;
    for (const target of targets.items) {
      if (!isMap(target)) continue;
      target.set('url', urlOf(name, String(target.get('url'))));
    }
  }
  return doc.toString();
}

export function loadFlows(text: string, source: string): FlowConfig[] {
  const result = parseConfig(text, source);
  if (!result.ok) throw new Error(`${source} is not valid: ${result.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`);
  return result.config.flows;
}

/** The flow answering `method path`, with the path parameters. */
export function findFlow(flows: FlowConfig[], method: string, path: string): { flow: FlowConfig; params: Record<string, string> } | undefined {
  const segments = path.split('/');
  for (const flow of flows) {
    if (flow.method.toUpperCase() !== method) continue;
    const pattern = flow.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    if (pattern.every((part, i) => (part.startsWith(':') ? ((params[part.slice(1)] = decodeURIComponent(segments[i]!)), true) : part === segments[i]))) {
      return { flow, params };
    }
  }
  return undefined;
}

// Answer checks

type Json = unknown;

function findOrder(value: Json, id: number, depth = 0): { items: unknown[] } | undefined {
  if (depth > 6 || value === null || typeof value !== 'object') return undefined;
  if (!Array.isArray(value)) {
    const record = value as Record<string, unknown>;
    if (record.id === id && Array.isArray(record.items)) return record as { items: unknown[] };
  }
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    const found = findOrder(v, id, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** The answer holds order `id` (an object with that id and its items) and, if it lists products, one per item. */
export function checkShopAnswer(body: Json, id: number): void {
  const order = findOrder(body, id);
  if (order === undefined) throw new Error(`the answer holds no order ${id}: ${JSON.stringify(body).slice(0, 160)}`);
  const products = (body as Record<string, unknown>).products;
  if (Array.isArray(products) && products.length !== order.items.length) {
    throw new Error(`order ${id} has ${order.items.length} items but the answer lists ${products.length} products`);
  }
  if ((body as Record<string, unknown>)._errors !== undefined) throw new Error(`partial answer: ${JSON.stringify((body as Record<string, unknown>)._errors).slice(0, 200)}`);
}
