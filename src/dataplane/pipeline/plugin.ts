import type { IncomingHttpHeaders } from 'node:http';
import type { TSchema } from '@sinclair/typebox';
import type { RouteConfig } from '../../config/types.js';
import type { HeaderList } from '../http/header-list.js';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../../errors.js';

/**
 * The stages of the request pipeline, in the order they run (PRODUCT.md): a plugin belongs to
 * one stage; within a stage, plugins run in the order they are listed (global first, then route).
 */
export const STAGES = [
  'access',
  'authenticate',
  'authorize',
  'rate-limit',
  'validate',
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
  /**
   * Proxied routes only (absent on flows). The path and query to send upstream instead of the
   * client's; the route's `stripPrefix` and the target's base path still apply.
   */
  rewriteTarget?(path: string, query: string): void;
  /**
   * Buffers the request body for a plugin to read: resolves with it when it is at most
   * `maxBytes`, or null when there is no body or it is larger (then it is streamed upstream
   * untouched, the bytes already read included). Only routes whose plugins call this ever buffer.
   * On flows (which read the whole body anyway) the flow then runs on the same bytes.
   */
  readBody?(maxBytes: number): Promise<Buffer | null>;
  /** Proxied routes only, after `readBody` resolved with a body: send this body instead. */
  replaceBody?(body: Buffer | string): void;
  /**
   * Proxied routes only. Answers with a stored upstream response (the response cache): unlike
   * `respond`, the response hooks run on it as if the upstream had just sent it, so per-request
   * headers (CORS, RateLimit …) and body transforms apply. `headers` is copied.
   */
  respondStored?(status: number, headers: readonly string[], body: Buffer): void;
  /**
   * Proxied routes only. Sends this request again to the route's service, as a GET without body,
   * conditions or range, and with the upstream headers as they are now, without a client (the
   * response cache's background refresh). Resolves with the answer (`body` null when longer than
   * `maxBytes`); rejects when no target can take it or the attempt fails.
   */
  fetchUpstream?(maxBytes: number): Promise<UpstreamAnswer>;
}

/** A response fetched by `fetchUpstream`; headers without hop-by-hop ones. */
export interface UpstreamAnswer {
  status: number;
  headers: string[];
  body: Buffer | null;
}

/** What the client is about to get; response plugins may change headers. */
export interface ResponseInfo {
  /** Response hooks may change it (status mapping). */
  status: number;
  readonly headers: HeaderList;
  /**
   * Proxied routes only. Asks to rewrite the body: the response is held until its end (at most
   * `maxBytes`; a declared larger length, a longer body, HEAD, 204 and 304 are streamed
   * untouched), then `transform` gives the body to send and `Content-Length` is set to match.
   * When several hooks ask, each transform gets the previous one's output, in hook order, when
   * it is within its own `maxBytes`.
   */
  transformBody?(maxBytes: number, transform: (body: Buffer) => Buffer | string): void;
  /**
   * Proxied routes only. A fresh copy of the response headers as the upstream sent them
   * (hop-by-hop removed), before any plugin changed them.
   */
  upstreamHeaders?(): string[];
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
  /**
   * Checks beyond the schema (CIDRs, regexes, templates), run at config load once the schema
   * accepts the config; paths are relative to `config` (`/allow/2`).
   */
  check?(config: C): Array<{ path: string; message: string }>;
  create(config: C): Plugin;
}

/**
 * Answers the request from a plugin with problem+json for `code` (its status from the error
 * table), never cached; `headers` adds to it (a challenge, Retry-After, Vary …).
 */
export function respondProblem(ctx: RequestContext, code: ErrorCode, detail: string | undefined, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(problemFor(code, detail, ctx.requestId, ctx.path));
  ctx.respond(ERRORS[code].status, body, { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...headers });
}
