import type { IncomingHttpHeaders } from 'node:http';
import type { TSchema } from '@sinclair/typebox';
import type { RouteConfig } from '../../config/types.js';
import type { HeaderList } from '../http/header-list.js';

/**
 * The stages of the request pipeline, in the order they run (PRODUCT.md): a plugin belongs to
 * one stage; within a stage, plugins run in the order they are listed (global first, then route).
 */
export const STAGES = [
  'authenticate',
  'authorize',
  'rate-limit',
  'cache',
  'request-transform',
  'response-transform',
  'log',
] as const;
export type Stage = (typeof STAGES)[number];

/** What a plugin sees of a request in flight. */
export interface RequestContext {
  readonly requestId: string;
  readonly method: string;
  /** Path without the query string, as the client sent it. */
  readonly path: string;
  /** The query string without `?` ('' when none). */
  readonly query: string;
  /** The client's headers (node's parsed, lower-case object). */
  readonly headers: IncomingHttpHeaders;
  readonly params: Readonly<Record<string, string | undefined>>;
  readonly route: RouteConfig;
  readonly clientIp: string;
  /** Headers that will be sent upstream; plugins may change them. */
  readonly upstreamHeaders: HeaderList;
  /** Per-request scratch space for plugins (keyed by plugin name by convention). */
  readonly state: Map<string, unknown>;
  /** Answer the request here; later stages and the upstream are skipped. */
  respond(status: number, body: string | Buffer, headers?: Record<string, string>): void;
  readonly responded: boolean;
}

/** What the client is about to get; response plugins may change headers. */
export interface ResponseInfo {
  readonly status: number;
  readonly headers: HeaderList;
}

/** How a request ended, for log-stage plugins. */
export interface Outcome {
  readonly status: number;
  readonly errorCode: string | undefined;
  readonly durationMs: number;
  readonly upstreamMs: number;
  readonly attempts: number;
  readonly target: string | undefined;
}

/**
 * A configured plugin instance. Every hook is optional; a route only pays for hooks its
 * plugins define. `onRequest` may return a promise (e.g. a credential lookup) or nothing.
 */
export interface Plugin {
  readonly name: string;
  readonly stage: Stage;
  onRequest?(ctx: RequestContext): void | Promise<void>;
  onResponse?(ctx: RequestContext, response: ResponseInfo): void;
  onLog?(ctx: RequestContext, outcome: Outcome): void;
}

/** A plugin type: its name, stage, config schema (validated at load) and a factory. */
export interface PluginDefinition<C = unknown> {
  readonly name: string;
  readonly stage: Stage;
  readonly schema: TSchema;
  create(config: C): Plugin;
}
