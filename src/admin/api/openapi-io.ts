/**
 * OpenAPI in and out of APIs (src/control/apis.ts). Import: an OpenAPI 3.0 or 3.1 document
 * becomes a draft API with one route per operation (`{param}` → `:param`), its text, parameters,
 * bodies, answers and components kept in the spec's `openapi` field (schemas in 3.1 form) for the
 * portal and the export; whatever Weir cannot carry over is named in the answer's warnings, never
 * dropped silently, and paths that would become the same route are refused. Export: an API's
 * draft or one of its releases as an OpenAPI 3.1 document, its routes and its flows.
 */
import { Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseDocument } from 'yaml';
import { pathPatternError, patternShape } from '../../config/path-pattern.js';
import { ApiSpec, releaseName, type ApiSpecT, type ReleaseBody } from '../../control/apis.js';
import { fileNames } from '../../control/compose.js';
import type { ConfigStore } from '../../store/config-store.js';
import { visibleTeam } from './identity.js';
import { ApiError, etagOf, type Operation } from './kit.js';
import { resourceKit, type ConfigHost } from './resources.js';

type Json = Record<string, unknown>;
type OpenApiDocs = NonNullable<ApiSpecT['openapi']>;
type OperationDocs = NonNullable<OpenApiDocs['routes']>[string];
type RouteSpec = NonNullable<ApiSpecT['routes']>[number];
type FlowSpec = NonNullable<ApiSpecT['flows']>[number];

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
/** What an import keeps of the document, of a path item and of an operation; the rest is warned about. */
const DOCUMENT_KEYS = new Set(['openapi', 'info', 'paths', 'components', 'tags']);
const PATH_ITEM_KEYS = new Set<string>([...METHODS, 'parameters', 'summary', 'description', '$ref']);
const OPERATION_KEYS = new Set(['operationId', 'summary', 'description', 'tags', 'deprecated', 'parameters', 'requestBody', 'responses']);

const ImportBody = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$', description: 'The new API\'s name.' }),
  team: Type.String({ description: 'The owning team\'s name.' }),
  service: Type.String({ minLength: 1, description: 'The service every imported route proxies to.' }),
  basePath: ApiSpec.properties.basePath,
  version: ApiSpec.properties.version,
  document: Type.Union([Type.String({ minLength: 1 }), Type.Object({})], { description: 'The OpenAPI 3.0.x or 3.1.x document: a JSON object, or its YAML or JSON text.' }),
});

const ImportAnswer = Type.Object({
  api: Type.Object({ name: Type.String(), team: Type.String(), version: Type.Integer(), spec: ApiSpec, createdAt: Type.String({ format: 'date-time' }), updatedAt: Type.String({ format: 'date-time' }), updatedBy: Type.String() }, { description: 'The draft API created, as GET /api/v1/apis/{name} shows it.' }),
  warnings: Type.Array(Type.String(), { description: 'What the document says that the API does not carry over (callbacks, webhooks, servers, security, cookie parameters, external $refs, paths Weir cannot match …).' }),
});

const OpenApiDocument = Type.Object(
  {
    openapi: Type.Literal('3.1.0'),
    info: Type.Object({ title: Type.String(), version: Type.String() }),
    servers: Type.Array(Type.Object({ url: Type.String() })),
    paths: Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown())),
  },
  { description: 'An OpenAPI 3.1 document of the API.' },
);

export function openApiIoOperations(store: ConfigStore, host: ConfigHost): Operation[] {
  const kit = resourceKit(store, host);
  const knownServices = async () => new Set([...(fileNames(host.fileText()).service ?? []), ...(await store.allResources()).filter((r) => r.kind === 'service').map((r) => r.name)]);

  return [
    {
      method: 'POST',
      path: '/api/v1/apis/import',
      operationId: 'importOpenApi',
      summary: 'Creates a draft API from an OpenAPI 3.0 or 3.1 document (JSON object, or YAML/JSON text): one route to `service` per operation, the documentation kept for the portal; what cannot be imported is listed in `warnings`.',
      tag: 'openapi',
      auth: 'user',
      status: 201,
      body: ImportBody,
      response: ImportAnswer,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS', 'WEIR_CONFIG_INVALID'],
      async handle(r) {
        const { name, team: teamLabel, service, basePath, version, document } = r.body as { name: string; team: string; service: string; basePath: string; version: string; document: unknown };
        const team = await visibleTeam(store, r.principal, teamLabel);
        kit.mayWrite(r.principal, team.id, team.name, 'api');
        if ((await store.getResource('api', name)) !== undefined) throw new ApiError('WEIR_ALREADY_EXISTS', `an API "${name}" exists`);
        const { spec, warnings } = importDocument(readDocument(document), { basePath, version, service });
        if (!(await knownServices()).has(service)) warnings.push(`service "${service}" does not exist (yet): releases of this API are refused until it does`);
        if (!Value.Check(ApiSpec, spec)) {
          const first = [...Value.Errors(ApiSpec, spec)][0]!;
          throw invalid(`the imported API would not be valid: ${first.path}: ${first.message}`);
        }
        const body = spec as unknown as Record<string, unknown>;
        await kit.check('api', name, body, [], team.id);
        const created = (await kit.written(store.writeResource({ kind: 'api', name, teamId: team.id, body, expectedVersion: null }, r.principal.user.username)))!;
        return { status: 201, body: { api: await kit.view(created), warnings }, headers: { etag: etagOf(created.version), location: `/api/v1/apis/${encodeURIComponent(name)}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/apis/{name}/openapi.json',
      operationId: 'exportOpenApi',
      summary: 'The API (its draft, or `release`) as an OpenAPI 3.1 document: its routes and flows as operations under `basePath/version`, with the documentation it was imported with.',
      tag: 'openapi',
      auth: 'user',
      query: { release: { schema: Type.Integer({ minimum: 1 }), description: 'Export this release instead of the draft.' } },
      response: OpenApiDocument,
      errors: ['WEIR_NOT_FOUND', 'WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const found = await kit.visible('api', r.params['name']!, r.principal, 'API');
        const wanted = r.query.get('release');
        if (wanted === null) return { status: 200, body: exportDocument(found.name, found.body as unknown as ApiSpecT, null) };
        if (!/^[1-9]\d{0,8}$/.test(wanted)) throw invalid('release is a release number (1, 2, …)');
        const release = await store.getResource('release', releaseName(found.name, Number(wanted)));
        if (release === undefined) throw new ApiError('WEIR_NOT_FOUND', `API "${found.name}" has no release ${wanted}`);
        return { status: 200, body: exportDocument(found.name, (release.body as unknown as ReleaseBody).spec, Number(wanted)) };
      },
    },
  ];
}

const invalid = (detail: string) => new ApiError('WEIR_VALIDATION_FAILED', detail);
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const mapValues = (o: Json, f: (v: unknown) => unknown): Json => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));

/** The document as an object, refused unless it is OpenAPI 3.0 or 3.1. */
function readDocument(document: unknown): Json {
  let doc = document;
  if (typeof document === 'string') {
    const parsed = parseDocument(document);
    const error = parsed.errors[0]?.message;
    try {
      if (error === undefined) doc = parsed.toJS({ maxAliasCount: 100 }) as unknown;
    } catch (err) {
      throw invalid(`document: ${(err as Error).message}`);
    }
    if (error !== undefined) throw invalid(`document is neither JSON nor YAML: ${error.split('\n')[0]}`);
  }
  if (!isObject(doc)) throw invalid('document is not an OpenAPI document: it is not an object');
  if (doc['swagger'] !== undefined) throw invalid(`document is Swagger ${String(doc['swagger'])}; only OpenAPI 3.0 and 3.1 are imported (convert it to OpenAPI 3 first)`);
  const version = doc['openapi'];
  if (typeof version !== 'string' && typeof version !== 'number') throw invalid('document is not an OpenAPI document: it has no "openapi" version field');
  if (!/^3\.[01](\.\d+)?$/.test(String(version))) throw invalid(`document is OpenAPI ${String(version)}; only OpenAPI 3.0.x and 3.1.x are imported`);
  if (doc['paths'] !== undefined && !isObject(doc['paths'])) throw invalid('document.paths is not an object');
  return doc;
}

/** `/pets/{petId}` as a Weir pattern (`/pets/:petId`), the parameters it had to rename, or why it cannot be one. */
function weirPath(path: string): { path: string; renamed: Map<string, string> } | { error: string } {
  if (!path.startsWith('/')) return { error: 'it does not start with "/"' };
  const renamed = new Map<string, string>();
  const trimmed = path.replace(/\/+$/, '');
  const segments = trimmed === '' ? [] : trimmed.slice(1).split('/');
  const out: string[] = [];
  for (const segment of segments) {
    const param = /^\{([^{}]+)\}$/.exec(segment);
    if (param !== null) {
      const safe = param[1]!.replace(/[^A-Za-z0-9_]/g, '_');
      if (safe !== param[1]) renamed.set(param[1]!, safe);
      out.push(`:${safe}`);
    } else if (/[{}]/.test(segment)) {
      return { error: `segment "${segment}" mixes a parameter with text; Weir matches a parameter as a whole segment` };
    } else if (segment.startsWith(':')) {
      return { error: `segment "${segment}" would be read as a parameter` };
    } else if (segment.includes('*')) {
      return { error: `segment "${segment}": Weir reads "*" as a wildcard` };
    } else {
      out.push(segment);
    }
  }
  const pattern = `/${out.join('/')}`;
  const error = pathPatternError(pattern);
  return error === null ? { path: pattern, renamed } : { error };
}

/** A JSON pointer inside the document (`#/components/schemas/Pet`), or undefined. */
function pointed(doc: Json, ref: string): unknown {
  let at: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(at) && !Array.isArray(at)) return undefined;
    at = (at as Json)[key];
  }
  return ref === '#' ? doc : at;
}

/** Follows `$ref`s inside the document to an object; undefined (warned) for external or broken ones. */
function deref(doc: Json, value: unknown, where: string, warn: (w: string) => void): Json | undefined {
  for (let hops = 0; hops < 20; hops++) {
    if (!isObject(value)) return void warn(`${where} is not an object; it is not imported`);
    const ref = value['$ref'];
    if (typeof ref !== 'string') return value;
    if (!ref.startsWith('#')) return void warn(`${where}: $ref "${ref}" points outside the document; external files are not imported`);
    const next = pointed(doc, ref);
    if (next === undefined) return void warn(`${where}: $ref "${ref}" does not resolve in the document`);
    value = next;
  }
  return void warn(`${where}: $ref chain too long`);
}

/** The route name for an operation: its operationId where it can be one, else method and path. */
function routeNameFor(operationId: unknown, method: string, path: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64).replace(/-+$/, '');
  const byId = typeof operationId === 'string' ? clean(operationId) : '';
  return byId !== '' ? byId : clean(`${method}${path}`) || method;
}

function importDocument(doc: Json, target: { basePath: string; version: string; service: string }): { spec: ApiSpecT; warnings: string[] } {
  const warnings: string[] = [];
  const warn = (w: string) => void (warnings.includes(w) ? undefined : warnings.push(w));
  const servedAt = `the API is served at ${target.basePath}/${target.version} and proxied to service "${target.service}" with the paths as written`;
  const serversWarning = (servers: unknown, where: string) => {
    for (const server of Array.isArray(servers) ? servers : []) {
      const url = isObject(server) ? String(server['url']) : String(server);
      const variables = isObject(server) && isObject(server['variables']) ? Object.keys(server['variables']) : [];
      warn(`${where}server "${url}"${variables.length > 0 ? ` (with variables ${variables.join(', ')})` : ''} is not imported: ${servedAt}`);
    }
  };
  const notKept = (key: string, value: unknown, where: string) => {
    if (key === 'servers') return serversWarning(value, `${where}: `);
    if (key === 'callbacks') return warn(`${where}: callbacks (${isObject(value) ? Object.keys(value).join(', ') : '?'}) are not imported; Weir routes only receive requests`);
    if (key === 'security') return warn(`${where}: security requirements are not imported; Weir does not enforce them (add an authentication plugin to the routes)`);
    warn(`${where}: "${key}" is not imported`);
  };

  for (const [key, value] of Object.entries(doc)) {
    if (DOCUMENT_KEYS.has(key)) continue;
    if (key === 'servers') serversWarning(value, '');
    else if (key === 'webhooks') warn(`webhooks (${isObject(value) ? Object.keys(value).join(', ') : '?'}) are not imported; Weir routes only receive requests`);
    else notKept(key, value, 'the document');
  }

  const routes: RouteSpec[] = [];
  const docs: Record<string, OperationDocs> = {};
  const claimed = new Map<string, string>();
  for (const [rawPath, rawItem] of Object.entries((doc['paths'] as Json | undefined) ?? {})) {
    if (rawPath.startsWith('x-')) {
      warn(`paths: extension "${rawPath}" is not imported`);
      continue;
    }
    const item = deref(doc, rawItem, `path "${rawPath}"`, warn);
    if (item === undefined) continue;
    const converted = weirPath(rawPath);
    if ('error' in converted) {
      const methods = METHODS.filter((m) => isObject(item[m])).map((m) => m.toUpperCase());
      warn(`path "${rawPath}" (${methods.join(', ')}) is not imported: ${converted.error}`);
      continue;
    }
    if (converted.path !== rawPath.replace(/\{([^{}]+)\}/g, ':$1')) warn(`path "${rawPath}" is served as ${converted.path}${converted.renamed.size > 0 ? ' (Weir parameter names are letters, digits and "_")' : ''}`);
    for (const [key, value] of Object.entries(item)) if (!PATH_ITEM_KEYS.has(key)) notKept(key, value, `path "${rawPath}"`);

    for (const method of METHODS) {
      const op = item[method];
      const where = `${method.toUpperCase()} ${rawPath}`;
      if (op === undefined) continue;
      if (!isObject(op)) {
        warn(`${where} is not an object; it is not imported`);
        continue;
      }
      const shape = `${method.toUpperCase()} ${patternShape(converted.path)}`;
      const earlier = claimed.get(shape);
      if (earlier !== undefined) throw invalid(`${earlier} and ${where} would be the same route (${method.toUpperCase()} ${converted.path}): Weir tells paths apart by their fixed segments, not by parameter names; remove or merge one`);
      claimed.set(shape, where);
      for (const [key, value] of Object.entries(op)) if (!OPERATION_KEYS.has(key)) notKept(key, value, where);

      let name = routeNameFor(op['operationId'], method, rawPath);
      if (docs[name] !== undefined) {
        const base = name.slice(0, 60);
        let n = 2;
        while (docs[`${base}-${n}`] !== undefined) n++;
        warn(`${where}: route name "${name}" is taken; named "${base}-${n}"`);
        name = `${base}-${n}`;
      }
      routes.push({ name, path: converted.path, methods: [method.toUpperCase() as 'GET'], service: target.service });
      docs[name] = operationDocs(doc, item, op, where, converted.renamed, warn);
    }
  }
  if (routes.length === 0) warn('the document has no operations Weir can serve: the API has no routes');

  const info = isObject(doc['info']) ? doc['info'] : undefined;
  const is30 = String(doc['openapi']).startsWith('3.0');
  const components = isObject(doc['components']) ? (is30 ? components31(doc['components']) : doc['components']) : undefined;
  const openapi: OpenApiDocs = {
    ...(info === undefined ? {} : { info }),
    ...(Array.isArray(doc['tags']) ? { tags: doc['tags'] } : {}),
    ...(components === undefined ? {} : { components }),
    routes: is30 ? mapValues(docs, (d) => operation31(d as OperationDocs)) as Record<string, OperationDocs> : docs,
  };
  const kept = externalRefsStubbed(openapi, warn) as OpenApiDocs;
  danglingRefs(kept, warn);
  const title = typeof info?.['title'] === 'string' ? info['title'].slice(0, 4000) : undefined;
  return { spec: { basePath: target.basePath, version: target.version, ...(title === undefined ? {} : { description: title }), routes, openapi: kept }, warnings };
}

/** What the API keeps of one operation: its text, parameters (the path item's too), body and answers. */
function operationDocs(doc: Json, item: Json, op: Json, where: string, renamed: Map<string, string>, warn: (w: string) => void): OperationDocs {
  const params = new Map<string, unknown>();
  for (const list of [item['parameters'], op['parameters']]) {
    for (const [i, raw] of (Array.isArray(list) ? list : []).entries()) {
      const param = deref(doc, raw, `${where} parameter ${i + 1}`, warn);
      if (param === undefined) continue;
      const { name, in: place } = param as { name?: unknown; in?: unknown };
      if (place === 'cookie') {
        warn(`${where}: cookie parameter "${String(name)}" is not imported`);
        continue;
      }
      const newName = place === 'path' ? renamed.get(String(name)) : undefined;
      params.set(`${String(place)} ${String(name)}`, newName === undefined ? raw : { ...param, name: newName });
    }
  }
  let requestBody = op['requestBody'];
  if (isObject(requestBody) && typeof requestBody['$ref'] === 'string' && !requestBody['$ref'].startsWith('#')) {
    warn(`${where}: request body $ref "${requestBody['$ref']}" points outside the document; external files are not imported`);
    requestBody = undefined;
  }
  const summary = op['summary'] ?? item['summary'];
  const description = op['description'] ?? item['description'];
  return {
    ...(typeof op['operationId'] === 'string' ? { operationId: op['operationId'] } : {}),
    ...(typeof summary === 'string' ? { summary } : {}),
    ...(typeof description === 'string' ? { description } : {}),
    ...(Array.isArray(op['tags']) ? { tags: op['tags'].map(String) } : {}),
    ...(op['deprecated'] === true ? { deprecated: true } : {}),
    ...(params.size > 0 ? { parameters: [...params.values()] } : {}),
    ...(requestBody === undefined ? {} : { requestBody }),
    ...(isObject(op['responses']) ? { responses: op['responses'] } : {}),
  };
}

/** An OpenAPI 3.0 schema in 3.1 (JSON Schema 2020-12) form: nullable, boolean exclusive bounds, example. */
function schema31(value: unknown): unknown {
  if (!isObject(value) || typeof value['$ref'] === 'string') return value;
  const s: Json = { ...value };
  if (s['nullable'] === true) {
    if (typeof s['type'] === 'string') s['type'] = [s['type'], 'null'];
    if (Array.isArray(s['enum']) && !s['enum'].includes(null)) s['enum'] = [...s['enum'], null];
  }
  delete s['nullable'];
  for (const bound of ['minimum', 'maximum']) {
    const exclusive = `exclusive${bound[0]!.toUpperCase()}${bound.slice(1)}`;
    if (s[exclusive] === true && typeof s[bound] === 'number') {
      s[exclusive] = s[bound];
      delete s[bound];
    } else if (typeof s[exclusive] === 'boolean') {
      delete s[exclusive];
    }
  }
  if ('example' in s && !('examples' in s)) {
    s['examples'] = [s['example']];
    delete s['example'];
  }
  for (const key of ['items', 'not', 'additionalProperties']) if (isObject(s[key])) s[key] = schema31(s[key]);
  for (const key of ['allOf', 'anyOf', 'oneOf']) if (Array.isArray(s[key])) s[key] = (s[key] as unknown[]).map(schema31);
  for (const key of ['properties', 'patternProperties']) if (isObject(s[key])) s[key] = mapValues(s[key], schema31);
  return s;
}

/** A parameter, header, request body or response with its schemas in 3.1 form. */
function withSchemas31(value: unknown): unknown {
  if (!isObject(value) || typeof value['$ref'] === 'string') return value;
  const o: Json = { ...value };
  if ('schema' in o) o['schema'] = schema31(o['schema']);
  if (isObject(o['content'])) o['content'] = mapValues(o['content'], (media) => (isObject(media) && 'schema' in media ? { ...media, schema: schema31(media['schema']) } : media));
  if (isObject(o['headers'])) o['headers'] = mapValues(o['headers'], withSchemas31);
  return o;
}

function components31(components: Json): Json {
  const out: Json = { ...components };
  if (isObject(out['schemas'])) out['schemas'] = mapValues(out['schemas'], schema31);
  for (const key of ['parameters', 'headers', 'requestBodies', 'responses']) if (isObject(out[key])) out[key] = mapValues(out[key], withSchemas31);
  return out;
}

function operation31(d: OperationDocs): OperationDocs {
  return {
    ...d,
    ...(d.parameters === undefined ? {} : { parameters: d.parameters.map(withSchemas31) }),
    ...(d.requestBody === undefined ? {} : { requestBody: withSchemas31(d.requestBody) }),
    ...(d.responses === undefined ? {} : { responses: mapValues(d.responses, withSchemas31) }),
  };
}

/** A copy with every `$ref` to another file replaced by a note (each warned about once). */
function externalRefsStubbed(value: unknown, warn: (w: string) => void): unknown {
  if (Array.isArray(value)) return value.map((v) => externalRefsStubbed(v, warn));
  if (!isObject(value)) return value;
  const ref = value['$ref'];
  if (typeof ref === 'string' && !ref.startsWith('#')) {
    warn(`$ref "${ref}" points outside the document; external files are not imported (left as an empty schema)`);
    return { description: `Not imported: $ref "${ref}".` };
  }
  return mapValues(value, (v) => externalRefsStubbed(v, warn));
}

/** Warns of `$ref`s that name nothing in what the API keeps (components are all a ref can reach). */
function danglingRefs(kept: OpenApiDocs, warn: (w: string) => void): void {
  const root: Json = { components: kept.components ?? {} };
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(visit);
    if (!isObject(value)) return;
    const ref = value['$ref'];
    if (typeof ref === 'string' && ref.startsWith('#') && pointed(root, ref) === undefined) warn(`$ref "${ref}" does not resolve to a component of the document`);
    Object.values(value).forEach(visit);
  };
  visit(kept);
}

/** `/files/:id/*` as an OpenAPI path (`/files/{id}/{rest}`) and its path parameters. */
function openApiPath(pattern: string, what: 'route' | 'flow'): { path: string; parameters: Json[] } {
  const parameters: Json[] = [];
  const path = pattern
    .split('/')
    .map((segment) => {
      if (segment.startsWith(':')) {
        parameters.push({ name: segment.slice(1), in: 'path', required: true, schema: { type: 'string' } });
        return `{${segment.slice(1)}}`;
      }
      if (segment !== '*') return segment;
      let name = 'rest';
      while (parameters.some((p) => p['name'] === name)) name = `${name}_`;
      parameters.push({ name, in: 'path', required: true, description: `The rest of the path: one or more segments, slashes included (the ${what} matches ${pattern}, a wildcard OpenAPI cannot express).`, schema: { type: 'string' } });
      return `{${name}}`;
    })
    .join('/');
  return { path, parameters };
}

/** The API (a draft or a release's snapshot) as an OpenAPI 3.1 document. */
export function exportDocument(name: string, spec: ApiSpecT, release: number | null): Json {
  const docs = spec.openapi ?? {};
  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  const notes: string[] = [];
  const uniqueId = (id: string) => {
    let unique = id;
    for (let n = 2; operationIds.has(unique); n++) unique = `${id}-${n}`;
    operationIds.add(unique);
    return unique;
  };
  const place = (path: string, method: string, operation: Json, what: string) => {
    const item = (paths[path] ??= {});
    if (item[method] !== undefined) return void notes.push(`${what} is left out: ${method.toUpperCase()} ${path} is already ${String((item[method] as Json)['operationId'])}`);
    item[method] = operation;
  };

  for (const route of spec.routes ?? []) {
    // Imported documentation as it was; a route written by hand gets a summary and a description.
    const imported = docs.routes?.[route.name];
    const meta: OperationDocs = imported ?? { summary: `Route ${route.name}`, description: `Proxied to service ${route.service}.` };
    const { path, parameters } = openApiPath(route.path, 'route');
    const components = { components: docs.components ?? {} };
    const declared = (meta.parameters ?? []).map((p) => (isObject(p) && typeof p['$ref'] === 'string' ? pointed(components, p['$ref']) : p)).filter(isObject);
    const all = [...(meta.parameters ?? []), ...parameters.filter((p) => !declared.some((d) => d['in'] === 'path' && d['name'] === p['name']))];
    const methods = route.methods ?? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
    const anyMethod = route.methods === undefined ? 'The route accepts any method.' : undefined;
    const description = [meta.description, anyMethod].filter((d) => d !== undefined).join(' ');
    for (const method of methods) {
      place(path, method.toLowerCase(), {
        operationId: uniqueId(meta.operationId ?? (methods.length === 1 ? route.name : `${route.name}-${method.toLowerCase()}`)),
        ...(meta.summary === undefined ? {} : { summary: meta.summary }),
        ...(description === '' ? {} : { description }),
        ...(meta.tags === undefined ? {} : { tags: meta.tags }),
        ...(meta.deprecated === true ? { deprecated: true } : {}),
        ...(all.length > 0 ? { parameters: all } : {}),
        ...(meta.requestBody === undefined ? {} : { requestBody: meta.requestBody }),
        responses: meta.responses ?? { default: { description: `The answer of service ${route.service}.` } },
        'x-weir-route': { name: route.name, service: route.service, path: route.path, ...(route.hosts === undefined ? {} : { hosts: route.hosts }), ...(route.headers === undefined ? {} : { headers: route.headers }) },
      }, `route ${route.name}`);
    }
  }

  for (const flow of spec.flows ?? []) {
    const { path, parameters } = openApiPath(flow.path, 'flow');
    const steps = Object.entries(flow.steps).map(([step, s]) => ({ name: step, ...stepCalls(s) }));
    const told = steps.map((s) => `${s.name} (${s.service === undefined ? s.kind : `calls ${s.service}${s.kind === 'forEach' ? ' for each element' : ''}`})`);
    place(path, (flow.method ?? 'GET').toLowerCase(), {
      operationId: uniqueId(flow.name),
      summary: `Flow ${flow.name}`,
      description: `Composed by Weir from ${steps.length} step${steps.length === 1 ? '' : 's'}: ${told.join(', ')}.`,
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: {
        [String(flow.status ?? 200)]: { description: 'The flow\'s response.' },
        '202': { description: 'Accepted: the flow runs as a job to poll (mode async, or Prefer: respond-async).' },
      },
      'x-weir-flow': { name: flow.name, steps },
    }, `flow ${flow.name}`);
  }

  const info = { ...(docs.info ?? {}) };
  return {
    openapi: '3.1.0',
    info: {
      ...info,
      title: typeof info['title'] === 'string' ? info['title'] : name,
      version: typeof info['version'] === 'string' || typeof info['version'] === 'number' ? String(info['version']) : spec.version,
      ...(info['description'] === undefined && spec.description !== undefined ? { description: spec.description } : {}),
    },
    servers: [{ url: `${spec.basePath}/${spec.version}` }],
    ...(docs.tags === undefined ? {} : { tags: docs.tags }),
    paths,
    ...(docs.components === undefined ? {} : { components: docs.components }),
    'x-weir': { api: name, release, ...(notes.length > 0 ? { notes } : {}) },
  };
}

/** What a flow step does, for the export: its kind and the service it calls. */
function stepCalls(step: FlowSpec['steps'][string]): { kind: 'http' | 'forEach' | 'transform'; service?: string } {
  if (step.transform !== undefined) return { kind: 'transform' };
  return { kind: step.forEach === undefined ? 'http' : 'forEach', ...(step.service === undefined ? {} : { service: step.service }) };
}
