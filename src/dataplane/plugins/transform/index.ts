import { Type, type Static } from '@sinclair/typebox';
import { compileTemplate, type Compiled } from '../../../flows/template.js';
import type { FlowContext } from '../../../flows/types.js';
import { respondProblem, type Plugin, type PluginDefinition, type RequestContext, type ResponseInfo } from '../../pipeline/plugin.js';
import { compileHeaderEdits, compileQueryEdits } from './edits.js';

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const HeaderValue = Type.String({ pattern: '^[^\\r\\n\\0]*$' });
const HeaderEdits = Type.Object(
  {
    rename: Type.Optional(Type.Record(HeaderName, HeaderName, { additionalProperties: false })),
    remove: Type.Optional(Type.Array(HeaderName)),
    set: Type.Optional(Type.Record(HeaderName, HeaderValue, { additionalProperties: false })),
    add: Type.Optional(Type.Record(HeaderName, HeaderValue, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
const QueryEdits = Type.Object(
  {
    rename: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }))),
    remove: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    set: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
    add: Type.Optional(Type.Record(Type.String({ minLength: 1 }), Type.String())),
  },
  { additionalProperties: false },
);
const PathRewrite = Type.Object(
  {
    prefix: Type.Optional(Type.Object({ from: Type.String({ pattern: '^/' }), to: Type.String({ pattern: '^/' }) }, { additionalProperties: false })),
    regex: Type.Optional(Type.Object({ match: Type.String({ minLength: 1 }), replace: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
const MAX_BODY = 1024 * 1024;
const Schema = Type.Object(
  {
    request: Type.Optional(
      Type.Object(
        {
          headers: Type.Optional(HeaderEdits),
          query: Type.Optional(QueryEdits),
          path: Type.Optional(PathRewrite),
          body: Type.Optional(Type.Unknown({ description: 'A JSON template with {{ JMESPath }} over { body, headers, query, params, method, path }.' })),
        },
        { additionalProperties: false },
      ),
    ),
    response: Type.Optional(
      Type.Object(
        {
          headers: Type.Optional(HeaderEdits),
          status: Type.Optional(Type.Record(Type.String({ pattern: '^[1-5][0-9][0-9]$' }), Type.Integer({ minimum: 200, maximum: 599 }), { additionalProperties: false })),
          body: Type.Optional(Type.Unknown({ description: 'A JSON template over { body, status, headers, request: { headers, query, params, method, path } }.' })),
        },
        { additionalProperties: false },
      ),
    ),
    maxBodySize: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, description: `Largest body (bytes) reshaped; larger ones pass untouched. Default ${MAX_BODY}.` })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `transform`: one plugin for both directions — request headers, query, path and JSON body on
 * the way up; status, headers and JSON body on the way back. One plugin rather than two so a
 * route states its whole reshaping in one place, and because a route plugin replaces the global
 * one of the same name, the two directions are overridden together.
 *
 * Bodies are templates of the flows' language (`{{ JMESPath }}`, compiled once at load). Only
 * a JSON body (`application/json` or `+json`, no `Content-Encoding`) up to `maxBodySize` is held
 * and reshaped; anything else streams through untouched. A request body that says JSON but does
 * not parse is refused with 400; a response that does not parse is sent unchanged (and logged).
 * On flow routes only header and status edits apply (a flow has no upstream path or body here).
 *
 * @example
 * plugins:
 *   - name: transform
 *     config:
 *       request:
 *         headers: { rename: { x-user: x-customer-id }, remove: [cookie] }
 *         query: { remove: [debug], set: { version: "2" } }
 *         path: { prefix: { from: /api/v1, to: /v2 } }
 *         body: { customer: "{{ body.user.id }}", items: "{{ body.cart[].sku }}" }
 *       response:
 *         status: { "404": 204 }
 *         body: { data: "{{ body }}", requestedBy: "{{ request.headers.\"x-user\" }}" }
 */
export const transformPlugin: PluginDefinition<Config> = {
  name: 'transform',
  stage: 'request-transform',
  schema: Schema,
  check(config) {
    const problems: Array<{ path: string; message: string }> = [];
    const regex = config.request?.path?.regex;
    if (regex !== undefined) {
      try {
        new RegExp(regex.match);
      } catch (err) {
        problems.push({ path: '/request/path/regex/match', message: (err as Error).message });
      }
    }
    for (const side of ['request', 'response'] as const) {
      const body = config[side]?.body;
      if (body === undefined) continue;
      try {
        compileTemplate(body, `/${side}/body`);
      } catch (err) {
        const at = (err as { path?: string }).path ?? `/${side}/body`;
        problems.push({ path: at, message: (err as Error).message });
      }
    }
    return problems;
  },
  create(config) {
    const max = config.maxBodySize ?? MAX_BODY;
    const plugin: { -readonly [K in keyof Plugin]: Plugin[K] } = { name: 'transform', stage: 'request-transform' };
    const request = config.request;
    if (request !== undefined) {
      const headers = compileHeaderEdits(request.headers);
      const query = compileQueryEdits(request.query);
      const path = compilePath(request.path);
      const body = request.body === undefined ? null : compileTemplate(request.body);
      if (headers !== null || query !== null || path !== null || body !== null) {
        plugin.onRequest = (ctx) => {
          if (headers !== null) headers(ctx.upstreamHeaders);
          if ((query !== null || path !== null) && ctx.rewriteTarget !== undefined) {
            ctx.rewriteTarget(path === null ? ctx.path : path(ctx.path), query === null ? ctx.query : query(ctx.query));
          }
          if (body !== null && ctx.replaceBody !== undefined && isJson(ctx.headers['content-type'], ctx.headers['content-encoding'])) return reshapeRequest(ctx, body, max);
        };
      }
    }
    const response = config.response;
    if (response !== undefined) {
      const headers = compileHeaderEdits(response.headers);
      const status = response.status === undefined ? null : new Map(Object.entries(response.status).map(([from, to]) => [Number(from), to]));
      const body = response.body === undefined ? null : compileTemplate(response.body);
      if (headers !== null || status !== null || body !== null) {
        plugin.onResponse = (ctx, res) => {
          const upstreamStatus = res.status;
          if (headers !== null) headers(res.headers);
          if (body !== null && res.transformBody !== undefined && isJson(res.headers.get('content-type'), res.headers.get('content-encoding'))) {
            res.transformBody(max, (bytes) => reshapeResponse(ctx, res, upstreamStatus, body, bytes));
          }
          const mapped = status?.get(upstreamStatus);
          if (mapped !== undefined) res.status = mapped;
        };
      }
    }
    return plugin;
  },
};

function compilePath(rewrite: Static<typeof PathRewrite> | undefined): ((path: string) => string) | null {
  if (rewrite === undefined || (rewrite.prefix === undefined && rewrite.regex === undefined)) return null;
  const prefix = rewrite.prefix;
  const regex = rewrite.regex === undefined ? null : { re: new RegExp(rewrite.regex.match), replace: rewrite.regex.replace };
  return (path) => {
    let out = path;
    if (prefix !== undefined && out.startsWith(prefix.from)) out = prefix.to + out.slice(prefix.from.length);
    if (regex !== null) out = out.replace(regex.re, regex.replace);
    out = out.replace(/\/{2,}/g, '/');
    // A rewrite must stay a path: no query or fragment, no segment climbing out of it.
    if (!out.startsWith('/') || /[?#\s]/.test(out) || /(^|\/)\.{1,2}(\/|$)/.test(out)) throw new Error(`path rewrite produced ${JSON.stringify(out)}, which is not a plain path`);
    return out;
  };
}

function isJson(type: string | string[] | undefined, encoding: string | string[] | undefined): boolean {
  if (typeof type !== 'string') return false;
  if (encoding !== undefined && encoding !== 'identity') return false;
  const mime = type.split(';', 1)[0]!.trim().toLowerCase();
  return mime === 'application/json' || mime.endsWith('+json');
}

async function reshapeRequest(ctx: RequestContext, template: Compiled, max: number): Promise<void> {
  const bytes = await ctx.readBody!(max);
  if (bytes === null || bytes.length === 0) return;
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return respondProblem(ctx, 'WEIR_BAD_REQUEST', 'the request body says it is JSON but does not parse');
  }
  const view = { body, headers: ctx.headers, query: queryObject(ctx.query), params: ctx.params, method: ctx.method, path: ctx.path };
  ctx.replaceBody!(JSON.stringify(template.evaluate(view as unknown as FlowContext) ?? null));
}

function reshapeResponse(ctx: RequestContext, res: ResponseInfo, upstreamStatus: number, template: Compiled, bytes: Buffer): string {
  const body: unknown = bytes.length === 0 ? null : JSON.parse(bytes.toString('utf8'));
  const headers: Record<string, string> = {};
  const raw = res.headers.raw;
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  const request = { headers: ctx.headers, query: queryObject(ctx.query), params: ctx.params, method: ctx.method, path: ctx.path };
  const view = { body, status: upstreamStatus, headers, request };
  return JSON.stringify(template.evaluate(view as unknown as FlowContext) ?? null);
}

function queryObject(query: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}
