import { util, type Dispatcher } from 'undici';
import type { UpstreamService, UpstreamTarget } from '../upstream/service.js';
import { attemptResultOf } from '../upstream/outcome.js';
import { cancellableService, type CallCancel } from './call.js';
import { CallError, type CallResult, type CallService, type ResolvedCall } from './run.js';

/** Largest upstream body a step buffers (a flow reads bodies as data, unlike the proxy). */
const MAX_STEP_BODY = 8 * 1024 * 1024;
const NO_HASH = { hashKey: () => '' };

/**
 * Step calls through the same services the proxy uses: their balancer, breakers, health checks,
 * pools and timeouts. The host, scheme and base path come from the service's target, never from
 * a template, so a flow cannot be turned against another host.
 *
 * Each call is one `Pool.dispatch` with a `StepRequest` as its handler: the body is collected
 * straight from undici's chunks (no response stream, no abort-signal listeners), and the call is
 * cancelled through its CallCancel.
 */
export function serviceCaller(services: ReadonlyMap<string, UpstreamService>, requestId: string, requestIdHeader: string, propagate?: TraceHeaders): CallService {
  return cancellableService((call, cancel, resolve, reject) => {
    if (cancel.aborted) return reject(cancel.reason);
    const service = services.get(call.service);
    if (service === undefined) return reject(new CallError('WEIR_UPSTREAM_UNAVAILABLE', `unknown service "${call.service}"`, false));
    const target = service.pick(NO_HASH);
    if (target === null) return reject(new CallError(service.unavailableCode(), `service "${service.name}" has no target that can take the request`, true));
    const request = new StepRequest(service, target, cancel, resolve, reject);
    target.active++;
    target.pool.dispatch(
      {
        path: target.basePath === '' ? call.path : target.basePath + call.path,
        method: call.method as Dispatcher.HttpMethod,
        headers: requestHeaders(call, target.hostHeader, requestIdHeader, requestId, propagate),
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
      },
      request,
    );
  });
}

/** A client's `traceparent`/`tracestate`, passed on as they came (tracing off). */
export interface TraceHeaders {
  traceparent: string;
  tracestate: string | undefined;
}

/**
 * The call's headers as undici's flat list, with the target's `host` and the request id (both
 * win over a template's), `accept: application/json` unless set, and the JSON content type for
 * a body unless set.
 */
function requestHeaders(call: ResolvedCall, host: string, requestIdHeader: string, requestId: string, propagate: TraceHeaders | undefined): string[] {
  const raw = ['host', host, requestIdHeader, requestId];
  // The step's span when tracing is on, else the client's trace context unchanged.
  const trace: TraceHeaders | undefined = call.traceparent !== undefined ? { traceparent: call.traceparent, tracestate: call.tracestate } : propagate;
  if (trace !== undefined) {
    raw.push('traceparent', trace.traceparent);
    if (trace.tracestate !== undefined) raw.push('tracestate', trace.tracestate);
  }
  let accept = false;
  let contentType = false;
  for (const name in call.headers) {
    if (name === 'host' || name === requestIdHeader) continue;
    if (trace !== undefined && (name === 'traceparent' || name === 'tracestate')) continue;
    if (name === 'accept') accept = true;
    else if (name === 'content-type') contentType = true;
    raw.push(name, call.headers[name]!);
  }
  if (!accept) raw.push('accept', 'application/json');
  if (call.body !== undefined && !contentType) raw.push('content-type', 'application/json');
  return raw;
}

/**
 * One step call in flight: undici's dispatch handler (the callback API undici runs natively) and
 * the call's end of its CallCancel. The caller is answered once: with the result, with the
 * failure, or — at once — with the cancel's reason; undici's own end of a cancelled request
 * (which may come later, for a request still queued for a connection) only does the bookkeeping.
 */
class StepRequest implements Dispatcher.DispatchHandler {
  #abort: ((err?: Error) => void) | null = null;
  /** The caller has been answered (or told of the cancel). */
  #settled = false;
  #ended = false;
  #status = 0;
  readonly #sentAt = performance.now();
  /** Time to the response headers (for metrics). */
  #headersMs = -1;
  #headers: Record<string, string | string[] | undefined> | null = null;
  #chunks: Buffer[] = [];
  #size = 0;
  /** The body broke the size limit (this request aborted itself with it). */
  #refused: CallError | null = null;
  readonly #onCancel = (reason: unknown): void => {
    if (this.#settled) return;
    this.#settle();
    this.reject(reason);
    this.#abort?.(reason instanceof Error ? reason : new Error(String(reason)));
  };

  constructor(
    readonly service: UpstreamService,
    readonly target: UpstreamTarget,
    readonly cancel: CallCancel,
    readonly resolve: (result: CallResult) => void,
    readonly reject: (error: unknown) => void,
  ) {
    cancel.onAbort(this.#onCancel);
  }

  onConnect(abort: (err?: Error) => void): void {
    // Cancelled while it waited for a connection: it goes no further.
    if (this.cancel.aborted) return abort(this.cancel.reason instanceof Error ? this.cancel.reason : new Error('cancelled'));
    this.#abort = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true;
    this.#status = status;
    this.#headersMs = performance.now() - this.#sentAt;
    // undici's own parser (the one its request API uses): known names come lower-cased without copies.
    const headers = (this.#headers = util.parseHeaders(rawHeaders) as Record<string, string | string[] | undefined>);
    const declared = headers['content-length'];
    if (typeof declared === 'string' && Number(declared) > MAX_STEP_BODY) this.#refuse();
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > MAX_STEP_BODY) this.#refuse();
    else this.#chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (!this.#end()) return;
    if (this.#settled) {
      // Finished just as it was cancelled: the caller is gone, and a cancelled call records nothing.
      if (this.cancel.aborted) this.service.release(this.target);
      return;
    }
    this.#settle();
    let body: unknown;
    try {
      body = parseBody(this.#chunks, this.#size, this.#headers?.['content-type']);
    } catch (error) {
      // An answer that cannot be used counts against the target (and frees a half-open breaker's trial).
      this.service.record(this.target, 'failure', this.#status, this.#headersMs);
      return this.reject(error);
    }
    this.service.record(this.target, this.#status >= 500 ? 'failure' : 'success', this.#status, this.#headersMs);
    this.resolve({ status: this.#status, headers: this.#headers ?? {}, body });
  }

  onError(err: Error): void {
    // undici reports an exception thrown by onComplete through onError: counted once.
    if (!this.#end()) return;
    if (this.cancel.aborted) {
      // Cancelled: the caller was told at once; this says nothing about the target.
      this.service.release(this.target);
      if (!this.#settled) (this.#settle(), this.reject(this.cancel.reason));
      return;
    }
    if (this.#settled) return;
    this.#settle();
    if (this.#refused !== null) {
      this.service.record(this.target, 'failure', this.#status, this.#headersMs);
      return this.reject(this.#refused);
    }
    const code = (err as { code?: string }).code ?? '';
    const result = attemptResultOf(code);
    this.service.record(this.target, result);
    this.reject(new CallError(result === 'timeout' ? 'WEIR_UPSTREAM_TIMEOUT' : 'WEIR_UPSTREAM_ERROR', `${this.target.id}: ${code || err.message}`, true));
  }

  /** undici is done with the request: false if it already was. */
  #end(): boolean {
    if (this.#ended) return false;
    this.#ended = true;
    this.target.active--;
    this.#abort = null;
    return true;
  }

  #settle(): void {
    this.#settled = true;
    this.cancel.offAbort(this.#onCancel);
  }

  #refuse(): void {
    this.#refused = new CallError('WEIR_UPSTREAM_ERROR', `response body larger than ${MAX_STEP_BODY} bytes`, false);
    this.#chunks = [];
    this.#abort?.(this.#refused);
  }
}

/** The body as JSON when it says it is JSON, as text otherwise (UTF-8, without a BOM), null when empty. */
function parseBody(chunks: Buffer[], size: number, type: string | string[] | undefined): unknown {
  if (size === 0) return null;
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  const bom = bytes.length > 2 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const text = bom ? bytes.toString('utf8', 3) : bytes.toString();
  if (text === '') return null;
  if (typeof type === 'string' && type.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CallError('WEIR_UPSTREAM_ERROR', 'the response says it is JSON but does not parse', false);
    }
  }
  return text;
}
