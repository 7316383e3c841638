/**
 * Flows go through the same plugin pipeline as proxied routes: request hooks run before the flow
 * (an authentication plugin can refuse the request, or add identity headers the flow's templates
 * then see as `request.headers`), response hooks may change the headers of the flow's answer,
 * and log hooks get the outcome.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { RouteConfig } from '../config/types.js';
import { HeaderList } from '../dataplane/http/header-list.js';
import { runRequestHooks, writePluginAnswer, type Pipeline } from '../dataplane/pipeline/pipeline.js';
import type { Outcome, RequestContext, ResponseInfo } from '../dataplane/pipeline/plugin.js';
import { clientIpOf } from '../dataplane/proxy/headers.js';
import type { Logger } from '../observability/logger.js';
import type { StoredResponse } from '../store/flow-state.js';
import { answerErrorCode } from '../calls/recorder.js';

export class FlowPluginContext implements RequestContext {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly clientIp: string;
  /** Starts as the client's headers; request plugins may change them, and the flow sees the result. */
  readonly upstreamHeaders: HeaderList;
  readonly state = new Map<string, unknown>();
  responded = false;
  /** Set when a plugin answered instead of the flow: the body's size and its problem code (call log). */
  answered: { bytes: number; code: string | undefined } | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly pipeline: Pipeline,
    readonly route: RouteConfig,
    readonly requestId: string,
    readonly path: string,
    readonly query: string,
    readonly params: Readonly<Record<string, string | undefined>>,
    private readonly requestIdHeader: string,
    private readonly log: Logger,
    /** Reads the whole body (within the flow's limit), for plugins that ask. */
    private readonly readAll?: () => Promise<Buffer>,
  ) {
    this.method = req.method!;
    this.headers = req.headers;
    this.clientIp = clientIpOf(req);
    this.upstreamHeaders = new HeaderList([...req.rawHeaders]);
  }

  /** The body, once a request plugin asked for it: the flow then runs on these bytes. */
  body: Promise<Buffer> | undefined;

  /**
   * The body for a plugin (a signature's Content-Digest): resolves with it when it is at most
   * `maxBytes`, else (or beyond the flow's own limit, which the flow then answers) null. Flows
   * have no `replaceBody`: plugins cannot change what a flow receives.
   */
  readBody(maxBytes: number): Promise<Buffer | null> {
    if (this.readAll === undefined) return Promise.resolve(null);
    this.body ??= this.readAll();
    return this.body.then((bytes) => (bytes.length <= maxBytes ? bytes : null), () => null);
  }

  /** Runs the request hooks; resolves true when the flow should run (no plugin answered). */
  async admit(): Promise<boolean> {
    if (this.pipeline.request.length > 0) await runRequestHooks(this.pipeline.request, this);
    return !this.responded;
  }

  /** The headers the flow sees: the client's as the request plugins left them, names in lower case. */
  flowHeaders(): IncomingHttpHeaders {
    if (this.pipeline.request.length === 0) return this.headers;
    return this.upstreamHeaders.toRecord();
  }

  respond(status: number, body: string | Buffer, headers?: Record<string, string>): void {
    if (this.responded || this.res.headersSent) return;
    this.responded = true;
    writePluginAnswer(this.res, status, body, headers, this.requestIdHeader, this.requestId);
    this.answered = { bytes: Buffer.byteLength(body), code: answerErrorCode(body, headers) };
    this.logged(status, this.answered.code);
  }

  /** Sends the flow's answer through the response hooks. */
  send(response: StoredResponse, extra: Record<string, string> | undefined): void {
    const headers = new HeaderList();
    for (const name in response.headers) headers.add(name, response.headers[name]!);
    if (extra !== undefined) for (const name in extra) headers.set(name, extra[name]!);
    headers.set('content-length', String(Buffer.byteLength(response.body)));
    headers.set('cache-control', 'no-store');
    headers.set(this.requestIdHeader, this.requestId);
    const info: ResponseInfo = { status: response.status, headers };
    for (const hook of this.pipeline.response) hook.onResponse!(this, info);
    this.res.writeHead(info.status, headers.raw);
    this.res.end(this.req.method === 'HEAD' ? undefined : response.body);
    this.logged(info.status, response.status >= 400 ? codeOf(response) : undefined);
  }

  private logged(status: number, errorCode: string | undefined): void {
    if (this.pipeline.log.length === 0) return;
    const outcome: Outcome = { status, errorCode, durationMs: performance.now() - this.startedAt, upstreamMs: 0, attempts: 0, target: undefined };
    for (const hook of this.pipeline.log) {
      try {
        hook.onLog!(this, outcome);
      } catch (err) {
        this.log.error({ err, plugin: hook.name, requestId: this.requestId }, 'a log plugin failed');
      }
    }
  }
}

/** The `code` of a problem+json response, if it is one. */
export function codeOf(response: StoredResponse): string | undefined {
  if (!response.headers['content-type']?.includes('problem')) return undefined;
  try {
    return (JSON.parse(response.body) as { code?: string }).code;
  } catch {
    return undefined;
  }
}
