import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config, RouteConfig, RouteLimits } from '../config/types.js';
import { maskedLogger, type Logger } from '../observability/logger.js';
import { compileLogMasker } from '../masking/log.js';
import { UpstreamService } from '../upstream/service.js';
import { sendProblem } from './http/problem.js';
import { compilePipeline } from './pipeline/pipeline.js';
import type { PluginRegistry } from './pipeline/registry.js';
import { builtinPlugins } from './plugins/index.js';
import { answersPreflight } from './plugins/cors/index.js';
import { ProxyExchange, type ProxySettings, type RouteHandler } from './proxy/exchange.js';
import { proxyUpgrade } from './proxy/websocket.js';
import { requestIdFor } from './proxy/headers.js';
import { Router } from './router/router.js';
import { splitTarget } from './http/request-target.js';
import { flowRouteConfig, handleFlow, sendResponse, type FlowRoute, type FlowSettings } from '../flows/handler.js';
import { JobRunner } from '../flows/jobs.js';
import { FlowStats } from '../flows/stats.js';
import type { FlowConfig } from '../flows/types.js';
import type { FlowStateStore } from '../store/flow-state.js';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { planFlow } from '../flows/plan.js';
import { metrics } from '../observability/metrics.js';
import { maskedRecorder, refusedCall, type CallRecorder } from '../calls/recorder.js';
import type { ErrorCode } from '../errors.js';
import { accessLogger, logAccess } from '../observability/access-log.js';
import { traceIdOf, tracing } from '../observability/tracing.js';

/** Everything the data plane derives from one config version. Immutable once built. */
/** What a route leads to: the proxy, or a flow. */
export type RouteTarget = RouteHandler | FlowRoute;

export interface CompiledConfig {
  readonly version: string;
  readonly router: Router<RouteTarget>;
  readonly flowSettings: FlowSettings;
  /** Flows by name, for async jobs. */
  readonly flows: ReadonlyMap<string, FlowRoute>;
  readonly settings: ProxySettings;
  readonly services: ReadonlyMap<string, UpstreamService>;
}

export interface GatewayOptions {
  log: Logger;
  registry?: PluginRegistry;
  /** Idempotency records, async jobs and failed compensations; without it those features are off. */
  state?: FlowStateStore;
  /** Where call log records go; without it (or with `global.callLog.enabled: false`) none are made. */
  calls?: CallRecorder;
}

/**
 * The data plane of one process: turns a config into a compiled route table and live services,
 * swaps them atomically on reload, and answers requests with the current one. A request keeps
 * the version it started with until it ends.
 */
export class Gateway {
  private current: CompiledConfig | null = null;
  private serviceKeys = new Map<string, string>();
  private readonly log: Logger;
  private readonly registry: PluginRegistry;
  private readonly state: FlowStateStore | undefined;
  private readonly calls: CallRecorder | undefined;
  /** Who holds this process's claims (idempotency keys, jobs) in the store. */
  private readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  private jobs: JobRunner | undefined;
  /** Step latencies of this process's flows, for explain. */
  readonly stats = new FlowStats();
  /** Set while shutting down: answers still flow, but connections are not kept alive. */
  draining = false;

  constructor(options: GatewayOptions) {
    this.log = options.log;
    this.registry = options.registry ?? builtinPlugins;
    this.state = options.state;
    this.calls = options.calls;
  }

  get version(): string | null {
    return this.current?.version ?? null;
  }

  /** The flows of the current config. */
  get flows(): FlowConfig[] {
    return [...(this.current?.flows.values() ?? [])].map((target) => target.flow);
  }

  get services(): ReadonlyMap<string, UpstreamService> {
    return this.current?.services ?? new Map();
  }

  /** Compiles `config` and makes it current. Services whose config is unchanged are kept. */
  apply(config: Config): void {
    const previous = this.current;
    const services = new Map<string, UpstreamService>();
    const keys = new Map<string, string>();
    for (const [name, serviceConfig] of config.services) {
      const key = JSON.stringify(serviceConfig);
      const kept = previous?.services.get(name);
      services.set(name, kept !== undefined && this.serviceKeys.get(name) === key ? kept : new UpstreamService(serviceConfig, this.log));
      keys.set(name, key);
    }
    const logMasker = compileLogMasker(config.global.masking);
    const log = config.global.masking === null ? this.log : maskedLogger(this.log, logMasker);
    const settings: ProxySettings = {
      forwarded: config.global.proxy.forwarded,
      via: config.global.proxy.via,
      requestIdHeader: config.global.proxy.requestIdHeader,
      trustRequestId: config.global.proxy.trustRequestId,
      maxBodySize: config.global.limits.maxBodySize,
      log,
      logMasker,
      ...(this.calls !== undefined && config.global.callLog.enabled ? { calls: maskedRecorder(this.calls, logMasker) } : {}),
      ...(config.global.accessLog ? { access: accessLogger(log) } : {}),
    };
    const flowRoutes = config.flows.map((flow) => ({ flow, route: flowRouteConfig(flow, config.routes.length + flow.index) }));
    const flows = new Map(
      flowRoutes.map(({ flow, route }): [RouteConfig, FlowRoute] => [
        route,
        { kind: 'flow', route, flow, plan: planFlow(flow), pipeline: compilePipeline(this.registry, config.global.plugins, flow.plugins), metrics: metrics.route(route.name) },
      ]),
    );
    const router = new Router<RouteTarget>([...config.routes, ...flowRoutes.map((f) => f.route)], (route) =>
      flows.get(route) ?? this.compileRoute(route, services.get(route.service)!, config),
    );
    if (this.state !== undefined) {
      if (this.jobs === undefined) {
        this.jobs = new JobRunner(this.state, this.log, this.owner, config.global.jobs, (name) => this.flowNamed(name));
        this.jobs.start();
      } else {
        this.jobs.configure(config.global.jobs);
      }
    }
    const flowSettings: FlowSettings = {
      services,
      requestIdHeader: settings.requestIdHeader,
      trustRequestId: settings.trustRequestId,
      maxBodySize: settings.maxBodySize,
      log,
      logMasker,
      state: this.state,
      jobs: this.jobs,
      owner: this.owner,
      stats: this.stats,
      calls: settings.calls,
      access: settings.access,
    };
    const byName = new Map([...flows.values()].map((target) => [target.flow.name, target]));
    this.current = { version: config.version, router, settings, flowSettings, flows: byName, services };
    this.serviceKeys = keys;
    if (previous !== null) this.retire(previous, services);
  }

  private compileRoute(route: RouteConfig, service: UpstreamService, config: Config): RouteHandler {
    return {
      kind: 'proxy',
      route,
      service,
      pipeline: compilePipeline(this.registry, config.global.plugins, route.plugins),
      preserveHost: route.preserveHost ?? service.config.preserveHost,
      stripPrefix: route.stripPrefix,
      maxBodySize: route.limits?.maxBodySize ?? config.global.limits.maxBodySize,
      metrics: metrics.route(route.name),
    };
  }

  /** A flow of the current config and what running it needs (async jobs run on the current version). */
  private flowNamed(name: string): { target: FlowRoute; settings: FlowSettings } | undefined {
    const compiled = this.current;
    const target = compiled?.flows.get(name);
    return target === undefined ? undefined : { target, settings: compiled!.flowSettings };
  }

  /** Closes services the new version no longer uses, once their in-flight requests finish. */
  private retire(previous: CompiledConfig, next: ReadonlyMap<string, UpstreamService>): void {
    for (const [name, service] of previous.services) {
      if (next.get(name) === service) continue;
      service.close().catch((err: unknown) => this.log.warn({ err, service: name }, 'closing a retired service failed'));
    }
  }

  /** ScrapeSources: every target of the current config, for /metrics. */
  *targets(): Generator<{ service: string; target: string; breaker: 'closed' | 'half-open' | 'open' | null; active: number }> {
    for (const service of this.services.values()) {
      for (const t of service.targets) yield { service: service.name, target: t.id, breaker: t.breaker?.state ?? null, active: t.active };
    }
  }

  /** Marks a target up or down as the active health checker sees it. */
  setTargetHealth(serviceName: string, targetId: string, healthy: boolean): void {
    this.current?.services.get(serviceName)?.setHealthy(targetId, healthy);
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, expectsContinue = false): void {
    const compiled = this.current;
    if (this.draining) res.shouldKeepAlive = false;
    const target = splitTarget(req.url ?? '');
    if (target === null) return this.refuse(req, res, compiled, 'WEIR_BAD_REQUEST', 'the request target is not a valid path', req.url ?? '');
    if (req.headers.host === undefined && req.httpVersionMinor === 1) {
      res.shouldKeepAlive = false;
      return this.refuse(req, res, compiled, 'WEIR_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header', target.path);
    }
    if (compiled === null) return this.refuse(req, res, null, 'WEIR_SHUTTING_DOWN', 'no configuration is loaded yet', target.path);
    const jobs = this.jobs;
    if (jobs !== undefined && compiled.flows.size > 0 && target.path.startsWith(jobs.path) && target.path.charCodeAt(jobs.path.length) === 47 /* / */) {
      return this.answerJob(req, res, jobs, target.path.slice(jobs.path.length + 1), compiled);
    }
    const match = (req.method === 'OPTIONS' ? preflightMatch(compiled.router, req, target.path) : null) ?? compiled.router.find(req.method!, target.path, req.headers.host, req.headers);
    if (match === null) return this.noRoute(req, res, target.path, compiled);
    const limits = match.entry.route.limits;
    const over = limits === undefined ? null : overRouteLimits(req, limits);
    if (over !== null) return this.refuse(req, res, compiled, over.code, over.detail, target.path, match.entry.target.route.name);
    const limit = limits?.maxBodySize ?? compiled.settings.maxBodySize;
    const length = req.headers['content-length'];
    if (limit > 0 && length !== undefined && Number(length) > limit) {
      return this.refuse(req, res, compiled, 'WEIR_BODY_TOO_LARGE', `the request body of ${length} bytes is larger than the limit of ${limit} bytes`, target.path, match.entry.target.route.name);
    }
    if (expectsContinue) res.writeContinue();
    const handler = match.entry.target;
    if (handler.kind === 'flow') return handleFlow(req, res, handler, match.params, target.path, target.query, compiled.flowSettings);
    new ProxyExchange(req, res, handler, match.params, target.path, target.query, compiled.settings).start();
  }

  /**
   * Answers with problem+json before any route handled the request, and logs the call with the
   * route it matched, if any ('' otherwise): refused requests are requests too.
   */
  private refuse(req: IncomingMessage, res: ServerResponse, compiled: CompiledConfig | null, code: ErrorCode, detail: string, path: string, route = '', headers?: Record<string, string>): void {
    const requestId = requestIdFor(req, compiled?.settings);
    const status = sendProblem(req, res, code, detail, requestId, compiled?.settings.requestIdHeader, headers);
    metrics.unrouted(status);
    const calls = compiled?.settings.calls;
    if (calls !== undefined) calls.record(refusedCall(calls, req, requestId, path, route, status, code));
    const tracer = tracing.tracer;
    let traceId: string | null = null;
    if (tracer !== null && compiled !== null) {
      const span = tracer.start(req, compiled.settings.logMasker.text(path), '', { 'weir.route': route || undefined, 'weir.request_id': requestId });
      span.end(status, { 'weir.error_code': code }, code);
      traceId = span.traceId;
    }
    const access = compiled?.settings.access;
    if (access !== undefined) {
      const length = req.headers['content-length'];
      logAccess(access, {
        requestId, method: req.method ?? '', path, status, durationMs: 0, route, kind: 'refused', consumer: null, target: null, attempts: 0,
        traceId: traceId ?? traceIdOf(req.headers.traceparent), bytesIn: length === undefined ? 0 : Number(length) || 0, bytesOut: 0, errorCode: code,
      });
    }
  }

  /**
   * No route took the request: 405 with `Allow` when routes exist for the path (and host and
   * headers) but not for this method, else 404. Computed here, off the matching hot path.
   */
  private noRoute(req: IncomingMessage, res: ServerResponse, path: string, compiled: CompiledConfig): void {
    const allowed = compiled.router.allowedMethods(path, req.headers.host, req.headers);
    if (allowed.length === 0) return this.refuse(req, res, compiled, 'WEIR_NO_ROUTE', `no route matches ${req.method} ${path}`, path);
    const detail = `${path} does not accept ${req.method}; it accepts ${allowed.join(', ')}`;
    this.refuse(req, res, compiled, 'WEIR_METHOD_NOT_ALLOWED', detail, path, '', { allow: allowed.join(', ') });
  }

  /** GET {jobs.path}/{id}: an async flow's job. */
  private answerJob(req: IncomingMessage, res: ServerResponse, jobs: JobRunner, id: string, compiled: CompiledConfig): void {
    const { requestIdHeader } = compiled.settings;
    const requestId = requestIdFor(req, compiled.settings);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return void sendProblem(req, res, 'WEIR_NO_ROUTE', `${jobs.path}/{id} answers GET only`, requestId, requestIdHeader);
    }
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return void sendProblem(req, res, 'WEIR_JOB_NOT_FOUND', `no job "${id}"`, requestId, requestIdHeader);
    req.resume();
    jobs.status(id, requestId, req.url).then(
      (response) => sendResponse(res, response, requestId, requestIdHeader),
      (err: unknown) => {
        this.log.error({ err, requestId, jobId: id }, 'reading a job failed');
        sendProblem(req, res, 'WEIR_INTERNAL', 'the job could not be read', requestId, requestIdHeader);
      },
    );
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const compiled = this.current;
    const target = splitTarget(req.url ?? '');
    const match = compiled === null || target === null ? null : compiled.router.find(req.method!, target.path, req.headers.host, req.headers);
    const handler = match?.entry.target;
    proxyUpgrade(req, socket, head, handler?.kind === 'proxy' ? handler : null, target, compiled?.settings ?? null);
  }

  /** Closes every pool (waiting for in-flight requests and, up to `jobGraceMs`, jobs running here). */
  async close(jobGraceMs = 10_000): Promise<void> {
    await this.jobs?.stop(jobGraceMs);
    const compiled = this.current;
    this.current = null;
    if (compiled !== null) await Promise.all([...compiled.services.values()].map((s) => s.close()));
  }
}

/**
 * A route's own URL and header limits (`routes[].limits`; its body limit is checked with the
 * global one): the refusal (414 or 431) when the request is over one, else null.
 */
function overRouteLimits(req: IncomingMessage, limits: RouteLimits): { code: ErrorCode; detail: string } | null {
  const url = req.url ?? '';
  if (limits.maxUrlLength !== undefined && Buffer.byteLength(url) > limits.maxUrlLength) {
    return { code: 'WEIR_URI_TOO_LONG', detail: `the request target is longer than this route's limit of ${limits.maxUrlLength} bytes` };
  }
  if (limits.maxHeaderSize !== undefined) {
    // As the HTTP parser counts: the request line, then `name: value` and CRLF per header line.
    let size = (req.method?.length ?? 0) + url.length + 12;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 4;
    if (size > limits.maxHeaderSize) return { code: 'WEIR_HEADERS_TOO_LARGE', detail: `the request head of ${size} bytes is larger than this route's limit of ${limits.maxHeaderSize} bytes` };
  }
  return null;
}

/**
 * A CORS preflight asks about the request it announces (`Access-Control-Request-Method`), so it
 * goes to the route that request would match — when that route's plugins answer preflights
 * (`cors`). Routes listing only `GET` thus get their preflights without listing `OPTIONS`, and
 * the preflight never reaches the upstream. Anything else is routed as it is.
 */
function preflightMatch(router: Router<RouteTarget>, req: IncomingMessage, path: string): ReturnType<Router<RouteTarget>['find']> {
  const announced = req.headers['access-control-request-method'];
  if (announced === undefined || req.headers.origin === undefined) return null;
  const match = router.find(announced.trim().toUpperCase(), path, req.headers.host, req.headers);
  return match !== null && answersPreflight(match.entry.target.pipeline) ? match : null;
}
