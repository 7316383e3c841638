import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config, RouteConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { UpstreamService } from '../upstream/service.js';
import { sendProblem } from './http/problem.js';
import { compilePipeline } from './pipeline/pipeline.js';
import type { PluginRegistry } from './pipeline/registry.js';
import { builtinPlugins } from './plugins/index.js';
import { ProxyExchange, type ProxySettings, type RouteHandler } from './proxy/exchange.js';
import { proxyUpgrade } from './proxy/websocket.js';
import { requestIdFor } from './proxy/headers.js';
import { Router } from './router/router.js';
import { splitTarget } from './http/request-target.js';
import { flowRouteConfig, handleFlow, type FlowRoute, type FlowSettings } from '../flows/handler.js';
import { planFlow } from '../flows/plan.js';

/** Everything the data plane derives from one config version. Immutable once built. */
/** What a route leads to: the proxy, or a flow. */
export type RouteTarget = RouteHandler | FlowRoute;

export interface CompiledConfig {
  readonly version: string;
  readonly router: Router<RouteTarget>;
  readonly flowSettings: FlowSettings;
  readonly settings: ProxySettings;
  readonly services: ReadonlyMap<string, UpstreamService>;
}

export interface GatewayOptions {
  log: Logger;
  registry?: PluginRegistry;
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
  /** Set while shutting down: answers still flow, but connections are not kept alive. */
  draining = false;

  constructor(options: GatewayOptions) {
    this.log = options.log;
    this.registry = options.registry ?? builtinPlugins;
  }

  get version(): string | null {
    return this.current?.version ?? null;
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
    const settings: ProxySettings = {
      forwarded: config.global.proxy.forwarded,
      via: config.global.proxy.via,
      requestIdHeader: config.global.proxy.requestIdHeader,
      trustRequestId: config.global.proxy.trustRequestId,
      maxBodySize: config.global.limits.maxBodySize,
      log: this.log,
    };
    const flowRoutes = config.flows.map((flow) => ({ flow, route: flowRouteConfig(flow, config.routes.length + flow.index) }));
    const flows = new Map(flowRoutes.map(({ flow, route }) => [route, { kind: 'flow', route, flow, plan: planFlow(flow) } as FlowRoute]));
    const router = new Router<RouteTarget>([...config.routes, ...flowRoutes.map((f) => f.route)], (route) =>
      flows.get(route) ?? this.compileRoute(route, services.get(route.service)!, config),
    );
    const flowSettings: FlowSettings = {
      services,
      requestIdHeader: settings.requestIdHeader,
      trustRequestId: settings.trustRequestId,
      maxBodySize: settings.maxBodySize,
      log: this.log,
    };
    this.current = { version: config.version, router, settings, flowSettings, services };
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
    };
  }

  /** Closes services the new version no longer uses, once their in-flight requests finish. */
  private retire(previous: CompiledConfig, next: ReadonlyMap<string, UpstreamService>): void {
    for (const [name, service] of previous.services) {
      if (next.get(name) === service) continue;
      service.close().catch((err: unknown) => this.log.warn({ err, service: name }, 'closing a retired service failed'));
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
    if (target === null) return void sendProblem(req, res, 'WEIR_BAD_REQUEST', 'the request target is not a valid path', requestIdFor(req, compiled?.settings), compiled?.settings.requestIdHeader);
    if (req.headers.host === undefined && req.httpVersionMinor === 1) {
      res.shouldKeepAlive = false;
      return void sendProblem(req, res, 'WEIR_BAD_REQUEST', 'an HTTP/1.1 request needs a Host header', requestIdFor(req, compiled?.settings), compiled?.settings.requestIdHeader);
    }
    if (compiled === null) return void sendProblem(req, res, 'WEIR_SHUTTING_DOWN', 'no configuration is loaded yet', requestIdFor(req, undefined), undefined);
    const match = compiled.router.find(req.method!, target.path, req.headers.host, req.headers);
    if (match === null) return void sendProblem(req, res, 'WEIR_NO_ROUTE', `no route matches ${req.method} ${target.path}`, requestIdFor(req, compiled?.settings), compiled?.settings.requestIdHeader);
    const limit = compiled.settings.maxBodySize;
    const length = req.headers['content-length'];
    if (limit > 0 && length !== undefined && Number(length) > limit) {
      return void sendProblem(req, res, 'WEIR_BODY_TOO_LARGE', `the request body of ${length} bytes is larger than the limit of ${limit} bytes`, requestIdFor(req, compiled?.settings), compiled?.settings.requestIdHeader);
    }
    if (expectsContinue) res.writeContinue();
    const handler = match.entry.target;
    if (handler.kind === 'flow') return handleFlow(req, res, handler, match.params, target.path, target.query, compiled.flowSettings);
    new ProxyExchange(req, res, handler, match.params, target.path, target.query, compiled.settings).start();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const compiled = this.current;
    const target = splitTarget(req.url ?? '');
    const match = compiled === null || target === null ? null : compiled.router.find(req.method!, target.path, req.headers.host, req.headers);
    const handler = match?.entry.target;
    proxyUpgrade(req, socket, head, handler?.kind === 'proxy' ? handler : null, target, compiled?.settings ?? null);
  }

  /** Closes every pool (waiting for in-flight requests). */
  async close(): Promise<void> {
    const compiled = this.current;
    this.current = null;
    if (compiled !== null) await Promise.all([...compiled.services.values()].map((s) => s.close()));
  }
}

