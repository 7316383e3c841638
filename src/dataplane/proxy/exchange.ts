import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { IBackoff } from 'cockatiel';
import type { RouteConfig } from '../../config/types.js';
import { ERRORS, WeirError, type ErrorCode } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { LogMasker } from '../../masking/log.js';
import type { AttemptResult, UpstreamService, UpstreamTarget } from '../../upstream/service.js';
import type { BalancedTarget } from '../../upstream/balancers/balancer.js';
import { HeaderList } from '../http/header-list.js';
import { sendProblem } from '../http/problem.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { runRequestHooks, writePluginAnswer } from '../pipeline/pipeline.js';
import type { Outcome, RequestContext, ResponseInfo, UpstreamAnswer } from '../pipeline/plugin.js';
import { clientIpOf, downstreamResponseHeaders, forwardingInfo, requestIdFor, upstreamRequestHeaders, type ForwardingInfo } from './headers.js';
import { hasBody } from '../http/request-body.js';
import { BodyTooLargeError, limitBody } from './body-limit.js';
import { upstreamPath } from './upstream-path.js';
import { attemptResultOf, isIdempotentMethod, neverReachedUpstream } from '../../upstream/outcome.js';
import type { RouteMetrics } from '../../observability/metrics.js';
import { BackgroundFetch } from './background-fetch.js';
import { answerErrorCode, cacheStatusOf, consumerOf, type CallRecorder } from '../../calls/recorder.js';
import { traceIdOf, tracing, type ChildSpan, type RequestSpan } from '../../observability/tracing.js';
import { logAccess } from '../../observability/access-log.js';

/** What a matched route resolves to: compiled once per config version. */
export interface RouteHandler {
  readonly kind: 'proxy';
  readonly route: RouteConfig;
  readonly service: UpstreamService;
  readonly pipeline: Pipeline;
  readonly preserveHost: boolean;
  readonly stripPrefix: string;
  /** The route's body limit (`routes[].limits.maxBodySize`, else the global one). */
  readonly maxBodySize: number;
  readonly metrics: RouteMetrics;
}

/** Gateway-wide settings the exchange needs, from `global` in the config. */
export interface ProxySettings {
  readonly forwarded: ForwardingInfo['mode'];
  readonly via: boolean;
  readonly requestIdHeader: string;
  readonly trustRequestId: boolean;
  readonly maxBodySize: number;
  /** Masks the config's `global.masking` fields on top of credentials. */
  readonly log: Logger;
  /** What records a request (the call log) masks paths, headers and bodies with (src/masking). */
  readonly logMasker: LogMasker;
  /** The call log; absent when it is off (then a request pays nothing for it). */
  readonly calls?: CallRecorder;
  /** The access log (`global.accessLog`); absent when it is off. */
  readonly access?: Logger;
}


const kExchange = Symbol('weir.exchange');

/** Headers `fetchUpstream` leaves out: host is the target's, and the rest would make the answer partial or conditional. */
const UNCONDITIONAL = ['host', 'content-length', 'range', 'if-range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since'];

/**
 * One proxied request, from route match to the last byte: it is the plugins' `RequestContext`
 * and undici's dispatch handler at once, so a request costs one object. Retries, timeouts,
 * breaker and health bookkeeping all happen here, around `Pool.dispatch`.
 *
 * Uses undici's callback handler API (`onConnect/onHeaders/onData/onComplete/onError`): the one
 * undici runs natively; the newer controller API is adapted onto it per request.
 */
export class ProxyExchange implements RequestContext, Dispatcher.DispatchHandler {
  readonly requestId: string;
  readonly method: string;
  readonly headers: IncomingMessage['headers'];
  readonly clientIp: string;
  readonly upstreamHeaders: HeaderList;
  readonly startedAt = performance.now();
  private stateMap: Map<string, unknown> | undefined;
  private readonly info: ForwardingInfo;
  /** A Buffer once a plugin has read (and maybe replaced) it: then retries can resend it. */
  private body: Readable | Buffer | null;
  /** Set by `rewriteTarget`. */
  private rewritten: { path: string; query: string } | null = null;
  /** Set by a response hook's `transformBody`: the response is held until its end. */
  private held: HookResponse | null = null;

  private target: UpstreamTarget | null = null;
  private tried: Set<BalancedTarget> | undefined;
  private attempts = 0;
  private backoff: IBackoff<unknown> | undefined;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private hostIndex = -1;
  private totalTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private upstreamStartedAt = 0;
  private upstreamMs = 0;
  /** Every attempt's time, to the end of its response (the call log's upstream time). */
  private upstreamTotalMs = 0;
  /** Response body bytes sent to the client. */
  private bytesOut = 0;
  /** Targets tried, in order, when the call log is on. */
  private targets: string[] | null = null;
  private discarding = false;
  private timedOut = false;
  private headersSent = false;
  private finished = false;
  private status = 0;
  private errorCode: ErrorCode | undefined;
  /** The request's server span, when tracing is on. */
  private span: RequestSpan | null = null;
  /** The span of the upstream attempt in flight, and the status it answered. */
  private attemptSpan: ChildSpan | null = null;
  private attemptStatus = 0;
  /** Where `traceparent` is in the upstream headers once the first attempt set it. */
  private traceIndex = -1;
  responded = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly handler: RouteHandler,
    readonly params: Readonly<Record<string, string | undefined>>,
    readonly path: string,
    readonly query: string,
    private readonly settings: ProxySettings,
  ) {
    this.method = req.method!;
    this.headers = req.headers;
    this.clientIp = clientIpOf(req);
    this.requestId = requestIdFor(req, settings);
    this.info = forwardingInfo(req, settings, this.requestId, this.clientIp);
    this.upstreamHeaders = new HeaderList(upstreamRequestHeaders(req.rawHeaders, this.info));
    this.body = requestBody(req, handler.maxBodySize);
    if (settings.calls !== undefined) this.targets = [];
    const tracer = tracing.tracer;
    if (tracer !== null) this.span = tracer.start(req, settings.logMasker.text(path), handler.route.path, { 'weir.route': handler.route.name, 'weir.request_id': this.requestId });
  }

  get route(): RouteConfig {
    return this.handler.route;
  }

  get state(): Map<string, unknown> {
    return (this.stateMap ??= new Map());
  }

  /** Runs the pipeline, then proxies. */
  start(): void {
    (this.res as ServerResponse & { [kExchange]?: ProxyExchange })[kExchange] = this;
    // `on`, not `once`: the response dies with the request, and `once` allocates a wrapper.
    this.res.on('close', onClientClose);
    const hooks = this.handler.pipeline.request;
    if (hooks.length === 0) return this.forward();
    let pending: void | Promise<void>;
    try {
      pending = runRequestHooks(hooks, this);
    } catch (err) {
      return this.failInternal(err);
    }
    if (pending === undefined) {
      if (!this.responded) this.forward();
    } else {
      pending.then(
        () => { if (!this.responded && !this.finished) this.forward(); },
        (err: unknown) => this.failInternal(err),
      );
    }
  }

  respond(status: number, body: string | Buffer, headers?: Record<string, string>): void {
    if (this.responded || this.headersSent) return;
    this.responded = true;
    this.status = status;
    this.headersSent = true;
    writePluginAnswer(this.res, status, body, headers, this.settings.requestIdHeader, this.requestId);
    this.errorCode = answerErrorCode(body, headers) as ErrorCode | undefined;
    if (this.settings.calls !== undefined || this.settings.access !== undefined) this.bytesOut = Buffer.byteLength(body);
    this.finish();
  }

  rewriteTarget(path: string, query: string): void {
    this.rewritten = { path, query };
  }

  async readBody(maxBytes: number): Promise<Buffer | null> {
    const body = this.body;
    if (body === null) return null;
    if (Buffer.isBuffer(body)) return body.length <= maxBytes ? body : null;
    const declared = Number(this.headers['content-length'] ?? -1);
    if (declared > maxBytes) return null;
    const chunks: Buffer[] = [];
    let size = 0;
    const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      const next = await iterator.next();
      if (next.done === true) break;
      chunks.push(next.value);
      size += next.value.length;
      if (size > maxBytes) {
        // Too large to hold: what was read goes first, then the rest, streamed as before.
        this.body = Readable.from(replay(chunks, iterator), { objectMode: false });
        return null;
      }
    }
    const whole = Buffer.concat(chunks, size);
    this.body = whole;
    return whole;
  }

  replaceBody(body: Buffer | string): void {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    this.body = bytes;
    this.upstreamHeaders.set('content-length', String(bytes.length));
  }

  respondStored(status: number, stored: readonly string[], body: Buffer): void {
    // `finished`: the client went away while the cache waited for another request's answer.
    if (this.responded || this.headersSent || this.finished) return;
    this.responded = true;
    this.status = status;
    this.headersSent = true;
    const headers = new HeaderList(stored.slice());
    headers.set(this.settings.requestIdHeader, this.requestId);
    const hooks = this.handler.pipeline.response;
    let out: Buffer | string = body;
    if (hooks.length > 0) {
      const info = new HookResponse(status, headers, null, stored);
      for (let i = 0; i < hooks.length; i++) hooks[i]!.onResponse!(this, info);
      this.status = info.status;
      if (info.transform !== null && this.method !== 'HEAD' && body.length <= info.maxBytes) out = this.transformed(info, body);
    }
    headers.set('content-length', String(Buffer.byteLength(out)));
    this.res.writeHead(this.status, headers.raw);
    this.res.end(this.method === 'HEAD' ? undefined : out);
    this.finish();
  }

  fetchUpstream(maxBytes: number): Promise<UpstreamAnswer> {
    const service = this.handler.service;
    const target = service.pick(this);
    if (target === null) return Promise.reject(new Error(`service "${service.name}" has no target that can take the request`));
    const headers = new HeaderList(this.upstreamHeaders.raw.slice());
    // A whole, unconditional answer: the client's validators and ranges are its own.
    for (const name of UNCONDITIONAL) headers.remove(name);
    headers.add('host', this.handler.preserveHost && this.info.host !== '' ? this.info.host : target.hostHeader);
    const to = this.rewritten ?? this;
    return new Promise((resolve, reject) => {
      target.active++;
      target.pool.dispatch(
        { path: upstreamPath(to.path, to.query, this.handler.stripPrefix, target.basePath), method: 'GET', headers: headers.raw },
        new BackgroundFetch(service, target, this.info, maxBytes, resolve, reject),
      );
    });
  }

  /** BalanceContext: the value consistent hashing uses. */
  hashKey(): string {
    const on = this.handler.service.config.hashOn;
    if (on === null) return '';
    if ('header' in on) {
      const v = this.headers[on.header];
      return (Array.isArray(v) ? v[0] : v) ?? this.clientIp;
    }
    if ('cookie' in on) return cookieValue(this.headers.cookie, on.cookie) ?? this.clientIp;
    return this.clientIp;
  }

  private forward(): void {
    const total = this.handler.service.config.totalTimeoutMs;
    if (total > 0) this.totalTimer = setTimeout(onTotalTimeout, total, this);
    this.attempt();
  }

  private attempt(): void {
    const service = this.handler.service;
    const target = service.pick(this, this.tried);
    if (target === null) return this.fail(service.unavailableCode(), `service "${service.name}" has no target that can take the request`);
    this.target = target;
    this.attempts++;
    target.active++;
    if (this.span !== null) this.traceAttempt(this.span, target);
    const raw = this.upstreamHeaders.raw;
    const host = this.handler.preserveHost && this.info.host !== '' ? this.info.host : target.hostHeader;
    if (this.hostIndex === -1) {
      this.hostIndex = raw.length;
      raw.push('host', host);
    } else {
      raw[this.hostIndex + 1] = host;
    }
    this.discarding = false;
    this.upstreamStartedAt = performance.now();
    this.targets?.push(target.id);
    target.pool.dispatch(
      {
        path: this.rewritten === null
          ? upstreamPath(this.path, this.query, this.handler.stripPrefix, target.basePath)
          : upstreamPath(this.rewritten.path, this.rewritten.query, this.handler.stripPrefix, target.basePath),
        method: this.method as Dispatcher.HttpMethod,
        headers: raw,
        body: this.body,
      },
      this,
    );
  }

  /**
   * One CLIENT span per attempt (retries show as siblings); the upstream gets its context in
   * `traceparent` (and the trace's `tracestate`), in place of the client's.
   */
  private traceAttempt(span: RequestSpan, target: UpstreamTarget): void {
    const colon = target.hostHeader.lastIndexOf(':');
    const child = (this.attemptSpan = span.client(this.method, {
      'http.request.method': this.method,
      'server.address': colon === -1 ? target.hostHeader : target.hostHeader.slice(0, colon),
      'server.port': colon === -1 ? undefined : Number(target.hostHeader.slice(colon + 1)),
      'http.request.resend_count': this.attempts > 1 ? this.attempts - 1 : undefined,
      'weir.service': this.handler.service.name,
      'weir.target': target.id,
    }));
    this.attemptStatus = 0;
    const raw = this.upstreamHeaders.raw;
    if (this.traceIndex !== -1) {
      raw[this.traceIndex + 1] = child.traceparent;
      return;
    }
    // Before the host is placed (attempt), so removing the client's headers moves nothing indexed.
    this.upstreamHeaders.remove('traceparent').remove('tracestate');
    this.traceIndex = raw.length;
    raw.push('traceparent', child.traceparent);
    if (child.tracestate !== undefined) raw.push('tracestate', child.tracestate);
  }

  /** Ends the attempt's span: with its status, or with what failed. */
  private endAttempt(error?: string): void {
    const child = this.attemptSpan;
    if (child === null) return;
    this.attemptSpan = null;
    const status = this.attemptStatus;
    child.end(status === 0 ? undefined : { 'http.response.status_code': status }, error ?? (status >= 500 ? String(status) : undefined));
  }

  // ---- undici handler --------------------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.finished) return abort(new Error('request already finished'));
    this.abortUpstream = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return true; // 1xx: the gateway has handled Expect itself
    this.attemptStatus = status;
    const service = this.handler.service;
    const target = this.target!;
    const failed = status >= 500;
    const ms = performance.now() - this.upstreamStartedAt;
    if (failed && this.canRetryStatus(status)) {
      service.record(target, 'failure', status, ms);
      this.discarding = true; // drain this response, then retry elsewhere
      return true;
    }
    service.record(target, failed ? 'failure' : 'success', status, ms);
    this.upstreamMs += ms;
    this.status = status;
    const headers = new HeaderList(downstreamResponseHeaders(rawHeaders, this.info));
    const hooks = this.handler.pipeline.response;
    this.resumeUpstream = resume;
    this.headersSent = true;
    if (hooks.length > 0) {
      const info = new HookResponse(status, headers, rawHeaders, null, this.info);
      for (let i = 0; i < hooks.length; i++) hooks[i]!.onResponse!(this, info);
      if (info.status !== status) {
        this.status = info.status;
        statusText = '';
      }
      if (info.transform !== null && this.holdable(info, headers)) {
        this.held = info;
        return true;
      }
    }
    if (statusText !== '') this.res.writeHead(this.status, statusText, headers.raw);
    else this.res.writeHead(this.status, headers.raw);
    return true;
  }

  /** Whether a response whose body a plugin wants to rewrite can be held in memory. */
  private holdable(info: HookResponse, headers: HeaderList): boolean {
    if (this.method === 'HEAD' || info.status === 204 || info.status === 304) return false;
    const length = headers.get('content-length');
    return length === undefined || Number(length) <= info.maxBytes;
  }

  /** Stops holding a response that outgrew its limit: the headers and what arrived go out as they are. */
  private release(held: HookResponse): boolean {
    this.held = null;
    this.res.writeHead(this.status, held.headers.raw);
    let ok = true;
    for (const chunk of held.chunks) ok = this.res.write(chunk);
    held.chunks.length = 0;
    return ok;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    const held = this.held;
    if (held !== null) {
      held.chunks.push(chunk);
      held.size += chunk.length;
      this.bytesOut += chunk.length;
      if (held.size <= held.maxBytes) return true;
      const ok = this.release(held);
      if (!ok) this.res.once('drain', this.resumeUpstream!);
      return ok;
    }
    this.bytesOut += chunk.length;
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.resumeUpstream!);
    return ok;
  }

  onComplete(): void {
    const target = this.target!;
    target.active--;
    this.abortUpstream = null;
    this.upstreamTotalMs += performance.now() - this.upstreamStartedAt;
    if (this.attemptSpan !== null) this.endAttempt();
    if (this.discarding) return this.retryLater();
    if (this.held !== null) return this.endHeld(this.held);
    this.res.end();
    this.finish();
  }

  /** The held response's body through its plugin's transform, then headers and body at once. */
  private endHeld(held: HookResponse): void {
    this.held = null;
    const body = this.transformed(held, Buffer.concat(held.chunks, held.size));
    this.bytesOut = Buffer.byteLength(body);
    held.headers.set('content-length', String(this.bytesOut));
    this.res.writeHead(this.status, held.headers.raw);
    this.res.end(body);
    this.finish();
  }

  /** The body through the hooks' transforms; unchanged when one fails. */
  private transformed(info: HookResponse, body: Buffer): Buffer | string {
    try {
      return info.transform!(body);
    } catch (err) {
      // The original body is still a faithful answer; a failed reshape is logged, not fatal.
      this.settings.log.error({ err, requestId: this.requestId, route: this.route.name }, 'response body transform failed; sending the body unchanged');
      return body;
    }
  }

  onError(err: Error): void {
    if (this.attemptSpan !== null) this.endAttempt((err as { code?: string }).code ?? err.name);
    const target = this.target;
    if (target !== null) {
      target.active--;
      this.upstreamTotalMs += performance.now() - this.upstreamStartedAt;
    }
    this.abortUpstream = null;
    if (this.finished) {
      if (target !== null && !this.headersSent) this.handler.service.release(target);
      return;
    }
    const service = this.handler.service;
    const code = (err as { code?: string }).code ?? '';
    const result: AttemptResult = this.timedOut ? 'timeout' : attemptResultOf(code);
    if (target !== null) {
      // The total timeout is the request's budget, not a verdict on this target; but a breaker
      // slot it holds (a half-open trial) must be given back, or the breaker stays half-open.
      if (!this.timedOut) service.record(target, result);
      else if (!this.headersSent) service.release(target);
    }
    if (this.held !== null) {
      // A held response: nothing reached the client yet, so it can still get a clean 502.
      this.held = null;
      this.headersSent = false;
    }
    if (this.headersSent) {
      // Mid-body: nothing left to tell the client but a broken stream.
      this.logUpstreamFailure('WEIR_UPSTREAM_ERROR', err);
      this.errorCode = 'WEIR_UPSTREAM_ERROR';
      this.res.destroy(err);
      return this.finish();
    }
    if (err instanceof BodyTooLargeError) return this.fail('WEIR_BODY_TOO_LARGE', err.message);
    if (!this.timedOut && this.canRetryError(code)) {
      this.settings.log.debug({ requestId: this.requestId, service: service.name, target: target?.id, cause: code || err.message }, 'upstream attempt failed; retrying');
      return this.retryLater();
    }
    const weirCode: ErrorCode = result === 'timeout' ? 'WEIR_UPSTREAM_TIMEOUT' : 'WEIR_UPSTREAM_ERROR';
    this.logUpstreamFailure(weirCode, err);
    this.fail(weirCode, this.timedOut ? 'the service did not answer within its total timeout' : describeUpstreamError(result, code, target));
  }

  onUpgrade(): void {
    // Upgrades are proxied by ./websocket.ts, never through dispatch.
  }

  // ---- retries -----------------------------------------------------------------------------

  private canRetry(): boolean {
    return this.attempts <= this.handler.service.config.retries.attempts && !this.bodyConsumed();
  }

  private canRetryStatus(status: number): boolean {
    const retries = this.handler.service.config.retries;
    return retries.onStatuses.includes(status) && this.canRetry() && (isIdempotentMethod(this.method) || retries.nonIdempotent);
  }

  /** A connect failure (refused or timed out) never reached the upstream: safe to retry for any method. */
  private canRetryError(code: string): boolean {
    if (!this.canRetry()) return false;
    if (neverReachedUpstream(code)) return true;
    return isIdempotentMethod(this.method) || this.handler.service.config.retries.nonIdempotent;
  }

  private bodyConsumed(): boolean {
    const body = this.body;
    return body !== null && !Buffer.isBuffer(body) && (body.readableDidRead || body.destroyed);
  }

  private retryLater(): void {
    (this.tried ??= new Set()).add(this.target!);
    this.backoff = this.handler.service.nextBackoff(this.backoff);
    this.retryTimer = setTimeout(onRetry, this.backoff.duration, this);
  }

  /** @internal timer callback */
  retryNow(): void {
    this.retryTimer = null;
    if (!this.finished) this.attempt();
  }

  // ---- ending --------------------------------------------------------------------------------

  /** @internal timer callback */
  totalTimeout(): void {
    this.totalTimer = null;
    if (this.finished) return;
    this.timedOut = true;
    if (this.abortUpstream !== null) {
      this.abortUpstream(new WeirError('WEIR_UPSTREAM_TIMEOUT'));
      return; // onError finishes the exchange
    }
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.logUpstreamFailure('WEIR_UPSTREAM_TIMEOUT', new Error('total timeout while waiting to retry'));
    this.fail('WEIR_UPSTREAM_TIMEOUT', 'the service did not answer within its total timeout');
  }

  /** @internal the client went away before the response was complete. */
  clientClosed(): void {
    if (this.finished) return;
    if (!this.res.writableFinished) {
      const abort = this.abortUpstream;
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.status = this.headersSent ? this.status : 499;
      // Finished before aborting: undici reports the abort through onError synchronously, and
      // a client hanging up says nothing about the upstream's health.
      this.finish();
      abort?.(new Error('client closed the connection'));
    }
  }

  private fail(code: ErrorCode, detail: string): void {
    this.errorCode = code;
    if (this.headersSent || this.res.destroyed) {
      this.res.destroy();
      return this.finish();
    }
    this.headersSent = true;
    this.status = sendProblem(this.req, this.res, code, detail, this.requestId, this.settings.requestIdHeader, this.hookHeadersFor(ERRORS[code].status));
    this.finish();
  }

  /**
   * Weir's own answer (502, 503, 504 …) still gets what the response hooks add to headers —
   * RateLimit state, CORS, security headers — so a browser can read it and a client can pace
   * itself; its status and body stay Weir's (status maps and body rewrites are not applied).
   */
  private hookHeadersFor(status: number): Record<string, string> | undefined {
    const hooks = this.handler.pipeline.response;
    if (hooks.length === 0) return undefined;
    const info = new HookResponse(status, new HeaderList(), null, []);
    try {
      for (let i = 0; i < hooks.length; i++) hooks[i]!.onResponse!(this, info);
    } catch (err) {
      this.settings.log.error({ err, requestId: this.requestId, route: this.route.name }, 'response plugin failed on an error answer');
      return undefined;
    }
    return info.headers.toRecord();
  }

  private failInternal(err: unknown): void {
    if (err instanceof BodyTooLargeError) return this.fail('WEIR_BODY_TOO_LARGE', err.message);
    this.settings.log.error({ err, requestId: this.requestId, route: this.route.name }, 'plugin failed');
    this.fail('WEIR_INTERNAL', 'a plugin failed while handling the request');
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.abortUpstream = null;
    if (this.totalTimer !== null) clearTimeout(this.totalTimer);
    const durationMs = performance.now() - this.startedAt;
    if (this.span !== null) this.endSpan(this.span);
    if (this.settings.access !== undefined) this.logAccess(this.settings.access, durationMs);
    const cache = this.stateMap === undefined ? null : cacheStatusOf(this.stateMap);
    this.handler.metrics.done(this.status, durationMs, cache);
    if (this.settings.calls !== undefined) this.recordCall(this.settings.calls, durationMs, cache);
    const hooks = this.handler.pipeline.log;
    if (hooks.length === 0) return;
    const outcome: Outcome = {
      status: this.status,
      errorCode: this.errorCode,
      durationMs,
      upstreamMs: this.upstreamMs,
      attempts: this.attempts,
      target: this.target?.id,
    };
    for (let i = 0; i < hooks.length; i++) {
      try {
        hooks[i]!.onLog!(this, outcome);
      } catch (err) {
        this.settings.log.error({ err, requestId: this.requestId }, 'log plugin failed');
      }
    }
  }

  private endSpan(span: RequestSpan): void {
    // An attempt still open here was cut short (the client left, the total timeout).
    if (this.attemptSpan !== null) this.endAttempt(this.errorCode ?? 'cancelled');
    span.end(this.status, { 'weir.attempts': this.attempts, 'weir.error_code': this.errorCode }, this.errorCode);
  }

  /** Request body bytes: as read, when a plugin read it, else as declared. */
  private bytesIn(): number {
    if (Buffer.isBuffer(this.body)) return this.body.length;
    const length = this.headers['content-length'];
    return length === undefined ? 0 : Number(length) || 0;
  }

  /** The trace this request belongs to: its span's, else the client's. */
  private traceId(): string | null {
    return this.span?.traceId ?? traceIdOf(this.headers.traceparent);
  }

  private logAccess(access: Logger, durationMs: number): void {
    logAccess(access, {
      requestId: this.requestId,
      method: this.method,
      path: this.path,
      status: this.status,
      durationMs,
      route: this.route.name,
      kind: 'proxy',
      consumer: consumerOf(this.stateMap),
      target: this.target?.id ?? null,
      attempts: this.attempts,
      traceId: this.traceId(),
      bytesIn: this.bytesIn(),
      bytesOut: this.bytesOut,
      errorCode: this.errorCode ?? null,
    });
  }

  /** The call log's record of this request. */
  private recordCall(calls: CallRecorder, durationMs: number, cache: string | null): void {
    const upstreamMs = Math.min(this.upstreamTotalMs, durationMs);
    calls.record({
      id: this.requestId,
      at: Math.round(performance.timeOrigin + this.startedAt),
      node: calls.node,
      worker: calls.worker,
      team: null,
      api: null,
      apiVersion: null,
      route: this.route.name,
      kind: 'proxy',
      consumer: consumerOf(this.stateMap),
      clientIp: this.clientIp,
      method: this.method,
      path: this.path,
      status: this.status,
      errorCode: this.errorCode ?? null,
      bytesIn: this.bytesIn(),
      bytesOut: this.bytesOut,
      durationMs,
      gatewayMs: durationMs - upstreamMs,
      upstreamMs,
      targets: this.targets ?? [],
      attempts: this.attempts,
      retries: Math.max(0, this.attempts - 1),
      cache,
      steps: null,
      traceId: this.traceId(),
    });
  }

  private logUpstreamFailure(code: ErrorCode, err: Error): void {
    this.settings.log.warn(
      {
        requestId: this.requestId,
        route: this.route.name,
        service: this.handler.service.name,
        target: this.target?.id,
        attempts: this.attempts,
        code,
        cause: (err as { code?: string }).code ?? err.message,
      },
      'upstream failure',
    );
  }
}

function onClientClose(this: ServerResponse & { [kExchange]?: ProxyExchange }): void {
  this[kExchange]?.clientClosed();
}

function onTotalTimeout(exchange: ProxyExchange): void {
  exchange.totalTimeout();
}

function onRetry(exchange: ProxyExchange): void {
  exchange.retryNow();
}

/** What `ResponseInfo` is for response hooks, with what `transformBody` asked for. */
class HookResponse implements ResponseInfo {
  transform: ((body: Buffer) => Buffer | string) | null = null;
  maxBytes = 0;
  size = 0;
  readonly chunks: Buffer[] = [];

  constructor(
    public status: number,
    readonly headers: HeaderList,
    /** Where `upstreamHeaders` comes from: undici's raw list, or a stored response's headers. */
    private readonly raw: Buffer[] | null,
    private readonly stored: readonly string[] | null,
    private readonly info?: ForwardingInfo,
  ) {}

  /**
   * Several hooks may ask (transform, then mask): the body is held up to the largest limit, and
   * each transform runs in hook order on the previous one's output when it is within its own.
   */
  transformBody(maxBytes: number, transform: (body: Buffer) => Buffer | string): void {
    const first = this.transform;
    if (first === null) {
      this.maxBytes = maxBytes;
      this.transform = transform;
      return;
    }
    const firstMax = this.maxBytes;
    this.maxBytes = Math.max(firstMax, maxBytes);
    this.transform = (body) => {
      const once = asBuffer(body.length <= firstMax ? first(body) : body);
      return once.length <= maxBytes ? transform(once) : once;
    };
  }

  upstreamHeaders(): string[] {
    return this.raw !== null ? downstreamResponseHeaders(this.raw, this.info!) : this.stored!.slice();
  }
}

function asBuffer(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : body;
}

async function* replay(chunks: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  yield* chunks;
  for (;;) {
    const next = await rest.next();
    if (next.done === true) return;
    yield next.value;
  }
}

/** The body to stream upstream: none for bodiless requests, the request itself, or a size-capped copy. */
function requestBody(req: IncomingMessage, maxBodySize: number): Readable | null {
  if (!hasBody(req)) return null;
  const chunked = req.headers['transfer-encoding'] !== undefined;
  // A declared length was already checked against the limit before the exchange began.
  if (!chunked || maxBodySize <= 0) return req;
  return limitBody(req, maxBodySize);
}

function describeUpstreamError(result: AttemptResult, code: string, target: UpstreamTarget | null): string {
  const where = target === null ? 'the service' : target.id;
  if (result === 'connect-failure') return `could not connect to ${where} (${code})`;
  if (result === 'timeout') return `${where} did not answer in time (${code})`;
  return `${where} failed (${code || 'connection closed'})`;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
