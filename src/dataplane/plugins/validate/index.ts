import { Type, type Static } from '@sinclair/typebox';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../../../errors.js';
import type { Plugin, PluginDefinition, RequestContext } from '../../pipeline/plugin.js';
import { escape, metaSchemaProblems, newAjv, prepareComponents, prepareSchema, type ErrorObject, type SchemaProblem, type ValidateFunction } from './schemas.js';

const MAX_BODY = 1024 * 1024;
const MediaType = Type.String({ pattern: '^([A-Za-z0-9!#$&^_.+-]+|\\*)/([A-Za-z0-9!#$&^_.+-]+|\\*)$', description: 'type/subtype, type/* or */*' });
const Parameter = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    in: Type.Union([Type.Literal('query'), Type.Literal('path'), Type.Literal('header')]),
    required: Type.Optional(Type.Boolean({ description: 'Path parameters are always required.' })),
    schema: Type.Optional(Type.Unknown({ description: 'JSON Schema of the value (strings are converted to the numbers, booleans or arrays it asks for).' })),
    description: Type.Optional(Type.String()),
  },
  { additionalProperties: true, description: 'As an OpenAPI parameter object; other OpenAPI fields (style, example …) are ignored.' },
);
const Schema = Type.Object(
  {
    body: Type.Optional(
      Type.Object(
        {
          schema: Type.Optional(Type.Unknown({ description: 'JSON Schema (2020-12; OpenAPI 3.0 forms accepted) of a JSON body.' })),
          required: Type.Optional(Type.Boolean({ description: 'A request without a body is refused (default false).' })),
          mediaTypes: Type.Optional(Type.Array(MediaType, { minItems: 1, description: 'Content-Types accepted for a body (default application/json); others get 415. The schema applies to the JSON ones (application/json, */*+json).' })),
        },
        { additionalProperties: false },
      ),
    ),
    parameters: Type.Optional(Type.Array(Parameter)),
    components: Type.Optional(
      Type.Object({ schemas: Type.Optional(Type.Record(Type.String(), Type.Unknown())) }, { additionalProperties: true, description: 'OpenAPI components; schemas are what #/components/schemas/… refers to.' }),
    ),
    maxBodySize: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, description: `Largest body (bytes) validated; a larger one is refused with 413. Default ${MAX_BODY}.` })),
    maxErrors: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: 'Most problems listed in one answer (default 10).' })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;
type Place = 'query' | 'path' | 'header';
const PLACES: readonly Place[] = ['path', 'query', 'header'];

/** One problem of a request, as the `errors` member of the 400 answer lists it. */
export interface RequestProblem {
  /** Where in the JSON body (RFC 6901 pointer); '' is the whole body. */
  pointer?: string;
  /** Or which parameter, and where it was. */
  in?: Place;
  parameter?: string;
  message: string;
}

interface Compiled {
  body: ValidateFunction | null;
  bodyRequired: boolean;
  /** Accepted media types, lower-case; '*' parts match anything. Null without `body`: a body is not looked at. */
  mediaTypes: string[] | null;
  params: Array<{ place: Place; validate: ValidateFunction; names: string[] }>;
  maxBody: number;
  maxErrors: number;
}

/**
 * `validate`: checks a request against its operation's schemas before it reaches the service —
 * path, query and header parameters, the Content-Type and the JSON body — with ajv (JSON Schema
 * 2020-12, the dialect of OpenAPI 3.1; OpenAPI 3.0's `nullable`, boolean exclusive bounds and
 * tuple `items` are converted). Schemas are compiled once per config version, when the route's
 * pipeline is built; a bad schema is refused at load with its path.
 *
 * Its own stage, `validate`, after `rate-limit` and before `cache` and the transforms: anonymous
 * or over-quota clients are refused before they can probe what the schemas accept (and spend CPU
 * on it), a cached answer is never given to an invalid request, and the client's own body is what
 * is checked, not a transform's output.
 *
 * Refusals: 400 `WEIR_REQUEST_INVALID` with an `errors` list (`pointer` into the body, or `in` +
 * `parameter`; at most `maxErrors`); a body that is not JSON: 400 with its own detail; a
 * Content-Type outside `mediaTypes` (or a compressed body, which cannot be checked): 415
 * `WEIR_UNSUPPORTED_MEDIA_TYPE`; a body over `maxBodySize`: 413. A valid body goes upstream byte
 * for byte as it came. Flows are checked the same way, before any step runs.
 *
 * @example
 * plugins:
 *   - name: validate
 *     config:
 *       parameters:
 *         - { name: id, in: path, schema: { type: integer, minimum: 1 } }
 *         - { name: dryRun, in: query, schema: { type: boolean } }
 *       body:
 *         required: true
 *         schema: { $ref: "#/components/schemas/Order" }
 *       components:
 *         schemas:
 *           Order: { type: object, required: [items], properties: { items: { type: array, minItems: 1 } } }
 */
export const validatePlugin: PluginDefinition<Config> = {
  name: 'validate',
  stage: 'validate',
  schema: Schema,
  check(config) {
    const problems: SchemaProblem[] = [];
    compile(config, problems);
    return problems;
  },
  create(config) {
    const problems: SchemaProblem[] = [];
    const compiled = compile(config, problems);
    // `check` ran at load; this only happens if a config skipped it.
    if (problems.length > 0) throw new Error(`validate: ${problems[0]!.path}: ${problems[0]!.message}`);
    const plugin: Plugin = { name: 'validate', stage: 'validate', onRequest: (ctx) => checkRequest(ctx, compiled) };
    return plugin;
  },
};

/** Prepares, meta-checks and compiles every schema of `config`; problems get pointers into it. */
function compile(config: Config, problems: SchemaProblem[]): Compiled {
  const componentSchemas = config.components?.schemas ?? {};
  const names = new Set(Object.keys(componentSchemas));
  const components = prepareComponents(componentSchemas, '/components/schemas', problems);
  for (const [name, schema] of Object.entries(components['$defs'] as Record<string, unknown>)) problems.push(...metaSchemaProblems(schema, `/components/schemas/${escape(name)}`));
  let ajvBody: ReturnType<typeof newAjv> | undefined;
  let ajvParams: ReturnType<typeof newAjv> | undefined;
  const withComponents = (coerce: boolean) => {
    const ajv = newAjv(coerce);
    if (names.size > 0) ajv.addSchema(components);
    return ajv;
  };
  const compileAt = (ajv: ReturnType<typeof newAjv>, schema: unknown, at: string): ValidateFunction | null => {
    problems.push(...metaSchemaProblems(schema, at));
    // A bad reference or schema already reported would only fail compiling again, less precisely.
    if (problems.length > 0) return null;
    try {
      return ajv.compile(schema as object);
    } catch (err) {
      problems.push({ path: at, message: `the schema cannot be compiled: ${(err as Error).message}` });
      return null;
    }
  };

  let body: ValidateFunction | null = null;
  if (config.body?.schema !== undefined) {
    const prepared = prepareSchema(config.body.schema, '/body/schema', names, problems);
    ajvBody = withComponents(false);
    body = compileAt(ajvBody, prepared, '/body/schema');
  }

  const params: Compiled['params'] = [];
  const parameters = config.parameters ?? [];
  const seen = new Map<string, number>();
  parameters.forEach((p, i) => {
    const key = `${p.in} ${p.in === 'header' ? p.name.toLowerCase() : p.name}`;
    const first = seen.get(key);
    if (first !== undefined) problems.push({ path: `/parameters/${i}`, message: `${p.in} parameter "${p.name}" is listed twice (also /parameters/${first})` });
    seen.set(key, i);
  });
  for (const place of PLACES) {
    const list = parameters.map((p, i) => ({ p, i })).filter(({ p }) => p.in === place);
    if (list.length === 0) continue;
    const properties: Record<string, unknown> = {};
    const required: string[] = [];
    for (const { p, i } of list) {
      const name = place === 'header' ? p.name.toLowerCase() : p.name;
      const at = `/parameters/${i}/schema`;
      const prepared = p.schema === undefined ? true : prepareSchema(p.schema, at, names, problems);
      if (p.schema !== undefined) problems.push(...metaSchemaProblems(prepared, at));
      properties[name] = prepared;
      if (p.required === true || place === 'path') required.push(name);
    }
    if (problems.length > 0) continue;
    ajvParams ??= withComponents(true);
    try {
      params.push({ place, validate: ajvParams.compile({ type: 'object', properties, required }), names: Object.keys(properties) });
    } catch (err) {
      problems.push({ path: '/parameters', message: `the ${place} parameter schemas cannot be compiled: ${(err as Error).message}` });
    }
  }

  return {
    body,
    bodyRequired: config.body?.required === true,
    mediaTypes: config.body === undefined ? null : (config.body.mediaTypes ?? ['application/json']).map((m) => m.toLowerCase()),
    params,
    maxBody: config.maxBodySize ?? MAX_BODY,
    maxErrors: config.maxErrors ?? 10,
  };
}

function checkRequest(ctx: RequestContext, c: Compiled): void | Promise<void> {
  if (c.params.length > 0) {
    const problems: RequestProblem[] = [];
    for (const { place, validate, names } of c.params) {
      const values = place === 'path' ? pathValues(ctx, names) : place === 'query' ? queryValues(ctx.query, names) : headerValues(ctx, names);
      if (!validate(values)) problems.push(...parameterProblems(place, validate.errors ?? []));
    }
    if (problems.length > 0) return refuse(ctx, c, problems);
  }
  if (c.mediaTypes === null) return;
  const headers = ctx.headers;
  const length = headers['content-length'];
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) {
    if (c.bodyRequired) return refuse(ctx, c, [{ pointer: '', message: 'a request body is required' }], 'this operation needs a request body');
    return;
  }
  const type = headers['content-type'];
  const mime = type === undefined ? '' : type.split(';', 1)[0]!.trim().toLowerCase();
  if (!accepts(c.mediaTypes, mime)) {
    const said = mime === '' ? 'no Content-Type' : `Content-Type ${mime}`;
    return problem(ctx, 'WEIR_UNSUPPORTED_MEDIA_TYPE', `the body has ${said}; this operation takes ${c.mediaTypes.join(', ')}`, undefined, { accept: c.mediaTypes.join(', ') });
  }
  if (c.body === null || !isJson(mime) || ctx.readBody === undefined) return;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    return problem(ctx, 'WEIR_UNSUPPORTED_MEDIA_TYPE', `a body with Content-Encoding ${encoding} cannot be validated; send it uncompressed`, undefined, { 'accept-encoding': 'identity' });
  }
  if (length !== undefined && Number(length) > c.maxBody) return tooLarge(ctx, c);
  return checkBody(ctx, c);
}

async function checkBody(ctx: RequestContext, c: Compiled): Promise<void> {
  const bytes = await ctx.readBody!(c.maxBody);
  if (bytes === null) return tooLarge(ctx, c);
  if (bytes.length === 0) {
    if (c.bodyRequired) refuse(ctx, c, [{ pointer: '', message: 'a request body is required' }], 'this operation needs a request body');
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    return problem(ctx, 'WEIR_REQUEST_INVALID', `the request body is not valid JSON (${(err as Error).message})`);
  }
  const validate = c.body!;
  if (!validate(body)) refuse(ctx, c, bodyProblems(validate.errors ?? []));
}

function tooLarge(ctx: RequestContext, c: Compiled): void {
  problem(ctx, 'WEIR_BODY_TOO_LARGE', `the body is larger than the ${c.maxBody} bytes this operation validates`);
}

function refuse(ctx: RequestContext, c: Compiled, problems: RequestProblem[], detail?: string): void {
  const shown = problems.slice(0, c.maxErrors);
  const first = shown[0]!;
  const where = first.parameter !== undefined ? `${first.in} parameter "${first.parameter}"` : first.pointer === '' ? 'the body' : `body ${first.pointer}`;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  problem(ctx, 'WEIR_REQUEST_INVALID', detail ?? `${where}: ${first.message}${more}`, shown);
}

/** Answers with problem+json for `code`, with the `errors` extension member when given. */
function problem(ctx: RequestContext, code: ErrorCode, detail: string, errors?: RequestProblem[], headers: Record<string, string> = {}): void {
  const body = { ...problemFor(code, detail, ctx.requestId, ctx.path), ...(errors === undefined ? {} : { errors }) };
  ctx.respond(ERRORS[code].status, JSON.stringify(body), { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', ...headers });
}

/** ajv's errors as body problems: a missing or unexpected member is pointed at itself. */
function bodyProblems(errors: readonly ErrorObject[]): RequestProblem[] {
  return errors.filter(specific).map((e) => {
    if (e.keyword === 'required') return { pointer: `${e.instancePath}/${escape(String(e.params['missingProperty']))}`, message: 'is required' };
    if (e.keyword === 'additionalProperties' || e.keyword === 'unevaluatedProperties') {
      const name = String(e.params['additionalProperty'] ?? e.params['unevaluatedProperty']);
      return { pointer: `${e.instancePath}/${escape(name)}`, message: 'is not allowed here' };
    }
    return { pointer: e.instancePath, message: e.message ?? 'is invalid' };
  });
}

function parameterProblems(place: Place, errors: readonly ErrorObject[]): RequestProblem[] {
  return errors.filter(specific).map((e) => {
    if (e.keyword === 'required') return { in: place, parameter: String(e.params['missingProperty']), message: 'is required' };
    const [, name = '', ...rest] = e.instancePath.split('/');
    const within = rest.length === 0 ? '' : ` (item /${rest.join('/')})`;
    return { in: place, parameter: name.replace(/~1/g, '/').replace(/~0/g, '~'), message: `${e.message ?? 'is invalid'}${within}` };
  });
}

/** `must match "else" schema` only repeats the errors of that schema, which are listed themselves. */
function specific(e: ErrorObject): boolean {
  return e.keyword !== 'if';
}

function pathValues(ctx: RequestContext, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (ctx.params[name] !== undefined) out[name] = ctx.params[name];
  return out;
}

/** Only the declared parameters: repeated ones as arrays (ajv turns a lone value into an array when the schema wants one). */
function queryValues(query: string, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    if (!names.includes(name)) continue;
    const seen = out[name];
    out[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

function headerValues(ctx: RequestContext, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (ctx.headers[name] !== undefined) out[name] = ctx.headers[name];
  return out;
}

function accepts(mediaTypes: readonly string[], mime: string): boolean {
  if (mime === '') return false;
  const slash = mime.indexOf('/');
  for (const m of mediaTypes) {
    if (m === mime || m === '*/*') return true;
    if (m.endsWith('/*') && mime.slice(0, slash) === m.slice(0, -2)) return true;
  }
  return false;
}

function isJson(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}
