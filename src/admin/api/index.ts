/**
 * The admin API (`/api/v1/` on the admin port): matches an operation, authenticates the caller,
 * reads and validates the JSON body against the operation's schema, runs it, and renders
 * refusals as problem+json with `WEIR_…` codes. The operations themselves are in identity.ts,
 * resources.ts and activity.ts; the OpenAPI document is generated from the same list.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { TSchema } from '@sinclair/typebox';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemFor } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { ConfigStore } from '../../store/config-store.js';
import { activityOperations, type RuntimeSources } from './activity.js';
import { Authenticator } from './auth.js';
import { identityOperations } from './identity.js';
import { lifecycleOperations } from './lifecycle.js';
import { secretOperations } from './secrets.js';
import { settingsOperations } from './settings.js';
import { consumerOperations } from './consumers.js';
import { cacheOperations } from './cache.js';
import { callOperations } from './calls.js';
import { checkOperations } from './checks.js';
import { analyticsOperations } from './analytics.js';
import type { SecretBox } from '../../control/secrets.js';
import { ApiError, type Operation } from './kit.js';
import { openApiDocument } from './openapi.js';
import { reply } from '../http.js';
import { openApiIoOperations } from './openapi-io.js';
import { referencePage } from './reference.js';
import { resourceOperations, type ConfigHost } from './resources.js';

/** Largest request body the admin API reads (a big flow fits many times over). */
const MAX_BODY = 1024 * 1024;

interface Compiled {
  op: Operation;
  pattern: RegExp;
  names: string[];
  check: TypeCheck<TSchema> | undefined;
}

export class AdminApi {
  readonly operations: Operation[];
  private readonly compiled: Compiled[];
  private readonly auth: Authenticator;
  private document: unknown;

  constructor(
    store: ConfigStore,
    host: ConfigHost,
    runtime: RuntimeSources,
    private readonly log: Logger,
    secrets?: SecretBox,
  ) {
    this.auth = new Authenticator(store);
    this.operations = [...identityOperations(store, this.auth), ...resourceOperations(store, host), ...lifecycleOperations(store, host), ...openApiIoOperations(store, host), ...secretOperations(store, host, secrets),
      ...settingsOperations(store, host),
      ...consumerOperations(store, host, secrets), ...activityOperations(store, runtime), ...cacheOperations(store, runtime.purgeCache),
      ...(runtime.calls === undefined ? [] : callOperations(store, runtime.calls)),
      ...(runtime.checks === undefined ? [] : checkOperations(store, host, runtime.checks)),
      ...(runtime.calls === undefined ? [] : analyticsOperations(store, runtime.calls))];
    this.compiled = this.operations.map((op) => {
      const names: string[] = [];
      const source = op.path.replace(/[.*+?^${}()|[\]\\]/g, (c) => (c === '{' || c === '}' ? c : `\\${c}`)).replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'));
      return { op, pattern: new RegExp(`^${source}$`), names, check: op.body === undefined ? undefined : TypeCompiler.Compile(op.body) };
    });
  }

  /** The OpenAPI 3.1 document, generated once. */
  openapi(): unknown {
    return (this.document ??= openApiDocument(this.operations));
  }

  /** Answers a request under /api/v1/. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    const requestId = randomUUID();
    this.answer(req, res, requestId).catch((err: unknown) => {
      if (err instanceof ApiError) return sendProblem(res, err, requestId, req.url);
      this.log.error({ err, requestId, method: req.method, url: req.url }, 'admin API request failed');
      sendProblem(res, new ApiError('WEIR_INTERNAL', 'the request failed unexpectedly; see the log'), requestId, req.url);
    });
  }

  private async answer(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const [path = '/', search = ''] = (req.url ?? '/').split('?', 2);
    if (req.method === 'GET' && path === '/api/v1/openapi.json') return reply(res, 200, this.openapi());
    if (req.method === 'GET' && path === '/api/v1/docs') return html(res, referencePage());
    const route = this.match(req.method ?? 'GET', path);
    const principal = route.op.auth === 'user' ? await this.auth.principal(req) : undefined;
    let body: unknown;
    if (route.check !== undefined) {
      body = await readJson(req);
      if (!route.check.Check(body)) {
        const problems = [...route.check.Errors(body)].slice(0, 20).map((e) => ({ pointer: e.path, message: e.message }));
        throw new ApiError('WEIR_VALIDATION_FAILED', `${problems[0]!.pointer || 'the body'}: ${problems[0]!.message}`, { problems });
      }
    } else {
      req.resume();
    }
    const result = await route.op.handle({ req, res, params: route.params, query: new URLSearchParams(search), principal: principal!, body, requestId });
    if (result.status === 0) return; // the operation streamed its own answer (an export)
    if (result.status === 204) {
      res.writeHead(204, { ...result.headers, 'cache-control': 'no-store', 'x-request-id': requestId });
      return void res.end();
    }
    reply(res, result.status, result.body, { ...result.headers, 'x-request-id': requestId });
  }

  private match(method: string, path: string): { op: Operation; params: Record<string, string>; check: TypeCheck<TSchema> | undefined } {
    let allowed: string[] = [];
    for (const c of this.compiled) {
      const m = c.pattern.exec(path);
      if (m === null) continue;
      if (c.op.method !== method && !(method === 'HEAD' && c.op.method === 'GET')) {
        allowed.push(c.op.method);
        continue;
      }
      const params: Record<string, string> = {};
      c.names.forEach((name, i) => (params[name] = decodeURIComponent(m[i + 1]!)));
      return { op: c.op, params, check: c.check };
    }
    allowed = [...new Set(allowed)];
    if (allowed.length > 0) throw new ApiError('WEIR_NOT_FOUND', `${path} answers ${allowed.join(', ')}, not ${method}`, {}, { allow: allowed.join(', ') });
    throw new ApiError('WEIR_NOT_FOUND', `no admin API operation at ${path} (see /api/v1/openapi.json)`);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    req.resume();
    throw new ApiError('WEIR_VALIDATION_FAILED', 'send the body as JSON (Content-Type: application/json)');
  }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) {
    req.resume();
    throw new ApiError('WEIR_BODY_TOO_LARGE', `the body is larger than ${MAX_BODY} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new ApiError('WEIR_BODY_TOO_LARGE', `the body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new ApiError('WEIR_VALIDATION_FAILED', 'the body is not valid JSON');
  }
}

function sendProblem(res: ServerResponse, err: ApiError, requestId: string, instance: string | undefined): void {
  if (res.headersSent) return void res.destroy();
  const body = { ...problemFor(err.code, err.message, requestId, instance), ...err.extra };
  reply(res, ERRORS[err.code].status, body, { ...err.headers, 'content-type': PROBLEM_CONTENT_TYPE, 'x-request-id': requestId });
}


function html(res: ServerResponse, page: string): void {
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(page),
    'cache-control': 'no-store',
    // Everything the page needs is inline; it may only call this API.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
  });
  res.end(res.req.method === 'HEAD' ? undefined : page);
}
