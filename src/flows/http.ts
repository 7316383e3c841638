import type { Dispatcher } from 'undici';
import type { UpstreamService } from '../upstream/service.js';
import { attemptResultOf } from '../upstream/outcome.js';
import { CallError, type CallResult, type CallService, type ResolvedCall } from './run.js';

/** Largest upstream body a step buffers (a flow reads bodies as data, unlike the proxy). */
const MAX_STEP_BODY = 8 * 1024 * 1024;
const NO_HASH = { hashKey: () => '' };

/**
 * Step calls through the same services the proxy uses: their balancer, breakers, health checks,
 * pools and timeouts. The host, scheme and base path come from the service's target, never from
 * a template, so a flow cannot be turned against another host.
 */
export function serviceCaller(services: ReadonlyMap<string, UpstreamService>, requestId: string, requestIdHeader: string): CallService {
  return async (call: ResolvedCall, signal: AbortSignal): Promise<CallResult> => {
    const service = services.get(call.service);
    if (service === undefined) throw new CallError('WEIR_UPSTREAM_UNAVAILABLE', `unknown service "${call.service}"`, false);
    const target = service.pick(NO_HASH);
    if (target === null) throw new CallError(service.unavailableCode(), `service "${service.name}" has no target that can take the request`, true);
    const headers: Record<string, string> = { ...call.headers, host: target.hostHeader, [requestIdHeader]: requestId };
    let body: string | undefined;
    if (call.body !== undefined) {
      body = JSON.stringify(call.body);
      headers['content-type'] ??= 'application/json';
    }
    headers.accept ??= 'application/json';
    target.active++;
    try {
      const res = await target.pool.request({
        path: target.basePath === '' ? call.path : target.basePath + call.path,
        method: call.method as Dispatcher.HttpMethod,
        headers,
        body,
        signal,
      });
      const value = await readBody(res, signal);
      service.record(target, res.statusCode >= 500 ? 'failure' : 'success', res.statusCode);
      return { status: res.statusCode, headers: res.headers, body: value };
    } catch (err) {
      if (err instanceof CallError) throw err;
      const code = (err as { code?: string }).code ?? '';
      if (signal.aborted) {
        service.release(target);
        throw err;
      }
      const result = attemptResultOf(code);
      service.record(target, result);
      throw new CallError(result === 'timeout' ? 'WEIR_UPSTREAM_TIMEOUT' : 'WEIR_UPSTREAM_ERROR', `${target.id}: ${code || (err as Error).message}`, true);
    } finally {
      target.active--;
    }
  };
}

/**
 * The body as text, refused past MAX_STEP_BODY. With a Content-Length (the usual case) the size is
 * known up front and undici's own reader does the rest, which costs far less than iterating the
 * stream; without one, chunks are counted as they come.
 */
async function bodyText(res: Dispatcher.ResponseData): Promise<string> {
  const declared = res.headers['content-length'];
  if (typeof declared === 'string') {
    if (Number(declared) > MAX_STEP_BODY) {
      res.body.destroy();
      throw new CallError('WEIR_UPSTREAM_ERROR', `response body larger than ${MAX_STEP_BODY} bytes`, false);
    }
    return res.body.text();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_STEP_BODY) {
      res.body.destroy();
      throw new CallError('WEIR_UPSTREAM_ERROR', `response body larger than ${MAX_STEP_BODY} bytes`, false);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** The body as JSON when it says it is JSON, as text otherwise, null when empty; capped. */
async function readBody(res: Dispatcher.ResponseData, signal: AbortSignal): Promise<unknown> {
  const text = await bodyText(res);
  if (signal.aborted) throw signal.reason;
  if (text === '') return null;
  const type = res.headers['content-type'];
  if (typeof type === 'string' && type.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CallError('WEIR_UPSTREAM_ERROR', 'the response says it is JSON but does not parse', false);
    }
  }
  return text;
}
