import type { ServerResponse } from 'node:http';
import type { PluginConfig } from '../../config/types.js';
import { HeaderList } from '../http/header-list.js';
import { STAGES, type Plugin, type RequestContext } from './plugin.js';
import type { PluginRegistry } from './registry.js';

/**
 * The plugins of one route, instantiated once per config version and split by hook, so the
 * request path only walks the hooks that exist. A route with no plugins gets `EMPTY`.
 */
export interface Pipeline {
  readonly request: readonly Plugin[];
  readonly response: readonly Plugin[];
  readonly log: readonly Plugin[];
}

export const EMPTY_PIPELINE: Pipeline = Object.freeze({ request: [], response: [], log: [] });

/** Route plugins override global plugins of the same name. */
export function compilePipeline(registry: PluginRegistry, global: readonly PluginConfig[], route: readonly PluginConfig[]): Pipeline {
  if (global.length === 0 && route.length === 0) return EMPTY_PIPELINE;
  const byName = new Map<string, PluginConfig>();
  for (const p of global) byName.set(p.name, p);
  for (const p of route) byName.set(p.name, p);
  const plugins = [...byName.values()].map((p) => registry.create(p));
  plugins.sort((a, b) => STAGES.indexOf(a.stage) - STAGES.indexOf(b.stage));
  return {
    request: plugins.filter((p) => p.onRequest !== undefined),
    response: plugins.filter((p) => p.onResponse !== undefined),
    log: plugins.filter((p) => p.onLog !== undefined),
  };
}

/**
 * Runs the request hooks in order until one responds. Stays synchronous while the hooks are;
 * returns a promise only from the first hook that returns one.
 */
export function runRequestHooks(plugins: readonly Plugin[], ctx: RequestContext, from = 0): void | Promise<void> {
  for (let i = from; i < plugins.length; i++) {
    const result = plugins[i]!.onRequest!(ctx);
    if (ctx.responded) return;
    if (result !== undefined) return result.then(() => (ctx.responded ? undefined : runRequestHooks(plugins, ctx, i + 1)));
  }
}

/**
 * Writes what a plugin answered with `respond()` (a proxied route's or a flow's): its headers,
 * the request id and the length; no body for HEAD.
 */
export function writePluginAnswer(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> | undefined,
  requestIdHeader: string,
  requestId: string,
): void {
  const out = new HeaderList();
  if (headers !== undefined) for (const name in headers) out.add(name, headers[name]!);
  out.set(requestIdHeader, requestId);
  out.set('content-length', String(Buffer.byteLength(body)));
  res.writeHead(status, out.raw);
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
