import { Type, type Static } from '@sinclair/typebox';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { respondProblem, type PluginDefinition, type RequestContext } from '../../pipeline/plugin.js';

const Token = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const Schema = Type.Object(
  {
    origins: Type.Array(Type.String({ minLength: 1, maxLength: 300 }), {
      minItems: 1,
      description: 'Allowed origins: exact (`https://app.example.com`), a wildcard (`https://*.example.com`, or `*.example.com` for http and https), or `*` for any.',
    }),
    methods: Type.Optional(Type.Array(Token, { description: 'Methods a cross-origin request may use (default GET, HEAD, POST, PUT, PATCH, DELETE).' })),
    headers: Type.Optional(Type.Array(Token, { description: 'Request headers it may send beyond the CORS-safelisted ones; `*` allows whatever a preflight asks for.' })),
    exposedHeaders: Type.Optional(Type.Array(Token, { description: 'Response headers scripts may read beyond the safelisted ones.' })),
    credentials: Type.Optional(Type.Boolean({ description: 'Allow cookies and HTTP authentication (then the origin is always echoed, never `*`). Default false.' })),
    maxAge: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400, description: 'Seconds a browser may cache a preflight answer (default 600).' })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];
const ORIGIN = /^(?:(https?):\/\/)?(\*\.)?([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?$/;

type OriginTest = (origin: string) => boolean;

/**
 * `cors`: Cross-Origin Resource Sharing answered by the gateway (stage `access`, so before any
 * authentication: browsers send preflights without credentials).
 *
 * - A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here,
 *   never sent upstream: 204 with the allow headers, or 403 `WEIR_CORS_REJECTED` when the origin,
 *   method or a requested header is not allowed. The gateway routes a preflight by the method it
 *   announces, so a route listing only `GET` still gets its preflights.
 * - Other requests with an allowed `Origin` go upstream as usual and get
 *   `Access-Control-Allow-Origin` (+ `-Credentials`, `-Expose-Headers`) on the response, replacing
 *   any the upstream set; `Vary: Origin` whenever the origin is echoed. A disallowed origin's
 *   request is passed through without CORS headers: the browser then withholds the response.
 *
 * @example
 * plugins:
 *   - name: cors
 *     config: { origins: ["https://app.example.com", "https://*.example.dev"], headers: [authorization, content-type], credentials: true }
 */
export const corsPlugin: PluginDefinition<Config> = {
  name: 'cors',
  stage: 'access',
  schema: Schema,
  check(config) {
    const problems: Array<{ path: string; message: string }> = [];
    config.origins.forEach((origin, i) => {
      if (origin !== '*' && !ORIGIN.test(origin.toLowerCase())) problems.push({ path: `/origins/${i}`, message: `"${origin}" is not an origin (scheme://host[:port]), a *.domain wildcard or *` });
    });
    return problems;
  },
  create(config) {
    const test = originTest(config.origins);
    const anyOrigin = config.origins.includes('*');
    const credentials = config.credentials === true;
    const methods = (config.methods ?? DEFAULT_METHODS).map((m) => m.toUpperCase());
    const methodSet = new Set(methods);
    const anyHeader = config.headers?.includes('*') === true;
    const headerSet = new Set((config.headers ?? []).map((h) => h.toLowerCase()));
    const allowMethods = methods.join(', ');
    const exposed = config.exposedHeaders?.join(', ') ?? '';
    const maxAge = String(config.maxAge ?? 600);
    // Echo the origin unless any origin is allowed without credentials: then `*` is the answer.
    const echo = !anyOrigin || credentials;
    return {
      name: 'cors',
      stage: 'access',
      onRequest(ctx) {
        const origin = ctx.headers.origin;
        if (origin === undefined) return;
        const allowed = test(origin);
        if (ctx.method !== 'OPTIONS' || ctx.headers['access-control-request-method'] === undefined) {
          if (allowed) ctx.state.set('cors', origin);
          return;
        }
        const method = ctx.headers['access-control-request-method'].trim().toUpperCase();
        const requested = ctx.headers['access-control-request-headers'];
        let refusal: string | null = null;
        if (!allowed) refusal = `the origin ${origin} is not allowed`;
        else if (!methodSet.has(method)) refusal = `the method ${method} is not allowed (allowed: ${allowMethods})`;
        else if (requested !== undefined && !anyHeader) {
          const bad = requested.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '' && !headerSet.has(h));
          if (bad.length > 0) refusal = `the request header${bad.length > 1 ? 's' : ''} ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} not allowed`;
        }
        if (refusal !== null) return refuse(ctx, refusal);
        const headers: Record<string, string> = {
          'access-control-allow-origin': echo ? origin : '*',
          'access-control-allow-methods': allowMethods,
          'access-control-max-age': maxAge,
          vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
        };
        if (requested !== undefined && requested.trim() !== '') headers['access-control-allow-headers'] = anyHeader ? requested : [...headerSet].join(', ');
        if (credentials) headers['access-control-allow-credentials'] = 'true';
        ctx.respond(204, '', headers);
      },
      onResponse(ctx, response) {
        const origin = ctx.state.get('cors') as string | undefined;
        if (origin === undefined) return;
        const headers = response.headers;
        headers.set('access-control-allow-origin', echo ? origin : '*');
        if (credentials) headers.set('access-control-allow-credentials', 'true');
        else headers.remove('access-control-allow-credentials');
        if (exposed !== '') headers.set('access-control-expose-headers', exposed);
        if (echo) headers.add('vary', 'Origin');
      },
    };
  },
};

/** Whether `pipeline` answers CORS preflights, so the gateway may route one by its announced method. */
export function answersPreflight(pipeline: Pipeline): boolean {
  for (const plugin of pipeline.request) if (plugin.name === 'cors') return true;
  return false;
}

function refuse(ctx: RequestContext, detail: string): void {
  respondProblem(ctx, 'WEIR_CORS_REJECTED', detail, { vary: 'Origin' });
}

function originTest(origins: readonly string[]): OriginTest {
  if (origins.includes('*')) return () => true;
  const exact = new Set<string>();
  const wildcards: Array<{ schemes: readonly string[]; suffix: string; port: string }> = [];
  for (const entry of origins) {
    const m = ORIGIN.exec(entry.toLowerCase())!;
    const [, scheme, star, host, port] = m;
    if (star === undefined && scheme !== undefined) exact.add(`${scheme}://${host}${port === undefined ? '' : `:${port}`}`);
    else wildcards.push({ schemes: scheme === undefined ? ['http', 'https'] : [scheme], suffix: `${star === undefined ? '' : '.'}${host}`, port: port ?? '' });
  }
  return (origin) => {
    const lower = origin.toLowerCase();
    if (exact.has(lower)) return true;
    if (wildcards.length === 0) return false;
    const m = /^(https?):\/\/([a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(lower);
    if (m === null) return false;
    const [, scheme, host, port = ''] = m;
    for (const w of wildcards) {
      if (!w.schemes.includes(scheme!) || w.port !== port) continue;
      if (w.suffix.startsWith('.') ? host!.endsWith(w.suffix) && host!.length > w.suffix.length : host === w.suffix) return true;
    }
    return false;
  };
}
