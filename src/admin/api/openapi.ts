/**
 * The OpenAPI 3.1 document of the admin API, generated from the operations themselves: their
 * paths, the TypeBox schemas the server validates bodies with (JSON Schema 2020-12, which
 * OpenAPI 3.1 uses as is), their answers and the problem codes they may give.
 */
import { ERRORS, type ErrorCode } from '../../errors.js';
import { Problem, type Operation } from './kit.js';

/** A schema as plain JSON Schema: TypeBox's symbols dropped, and no `$id` (inlined everywhere). */
function plain(schema: unknown): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => (key === '$id' ? undefined : value)) as unknown;
}

const problemContent = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };

export function openApiDocument(operations: readonly Operation[], version = '1'): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const parameters: unknown[] = [];
    for (const [, name] of op.path.matchAll(/\{(\w+)\}/g)) parameters.push({ name, in: 'path', required: true, schema: { type: 'string' } });
    for (const [name, q] of Object.entries(op.query ?? {})) parameters.push({ name, in: 'query', required: false, description: q.description, schema: plain(q.schema) });
    for (const [name, h] of Object.entries(op.headers ?? {})) parameters.push({ name, in: 'header', required: h.required, description: h.description, schema: { type: 'string' } });
    const success = op.status ?? 200;
    const responses: Record<string, unknown> = {
      [success]: success === 204 || op.response === undefined ? { description: 'Done.' } : { description: 'Success.', content: Object.fromEntries((op.produces ?? ['application/json']).map((type) => [type, { schema: plain(op.response!) }])) },
    };
    const codes = new Set<ErrorCode>(op.errors ?? []);
    if (op.auth === 'user') codes.add('WEIR_UNAUTHENTICATED');
    if (op.body !== undefined) codes.add('WEIR_VALIDATION_FAILED');
    for (const code of codes) {
      const status = String(ERRORS[code].status);
      const entry = (responses[status] ??= { description: '', content: problemContent }) as { description: string };
      entry.description = [entry.description, `\`${code}\`: ${ERRORS[code].title}.`].filter((d) => d !== '').join(' ');
    }
    responses['default'] = { description: 'Any other failure, as problem+json.', content: problemContent };
    (paths[op.path] ??= {})[op.method.toLowerCase()] = {
      operationId: op.operationId,
      summary: op.summary,
      tags: [op.tag],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(op.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: plain(op.body) } } } }),
      responses,
      ...(op.auth === 'public' ? { security: [] } : {}),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Weir admin API',
      version,
      description:
        'Manage the gateway: teams, members, services, routes and flows, the audit log and the running flows. Sign in with POST /api/v1/auth/login (session cookie + X-CSRF-Token on unsafe requests) or send a personal access token as `Authorization: Bearer`. Writes need If-Match with the ETag read. Errors are RFC 9457 problem+json with stable `code`s.',
    },
    servers: [{ url: '/' }],
    security: [{ session: [] }, { token: [] }],
    components: {
      securitySchemes: {
        session: { type: 'apiKey', in: 'cookie', name: 'weir_session', description: 'From POST /api/v1/auth/login; unsafe methods also need X-CSRF-Token.' },
        token: { type: 'http', scheme: 'bearer', description: 'A personal access token (POST /api/v1/me/tokens).' },
      },
      schemas: { Problem: plain(Problem) },
    },
    paths,
  };
}
