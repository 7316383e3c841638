/**
 * Request validation of APIs: with `validation: { requests: true }` an API's routes get the
 * `validate` plugin, built from what its OpenAPI documentation says of each operation (the
 * parameters, the request body and the component schemas they refer to). Only the components an
 * operation reaches are copied into its route, so a large document does not repeat itself per route.
 */
import { validatePlugin } from '../dataplane/plugins/validate/index.js';
import { escape } from '../dataplane/plugins/validate/schemas.js';
import type { ApiSpecT } from './apis.js';

type Json = Record<string, unknown>;
type OpenApi = NonNullable<ApiSpecT['openapi']>;

/** A plugin config and, for its problems, where each part of it came from in the API spec. */
interface Built {
  config: Json;
  /** [pointer prefix in the plugin config, pointer in the spec], longest first. */
  origins: Array<[string, string]>;
}

const PLACES = new Set(['query', 'path', 'header']);

/** The `validate` plugin entry for one route, or null when its operation declares nothing to check. */
export function validationPluginFor(spec: ApiSpecT, route: string): Json | null {
  const built = build(spec.openapi, route, spec.validation?.maxErrors);
  return built === null ? null : { name: 'validate', config: built.config };
}

/**
 * What is wrong with the schemas an API with request validation would compile, as pointers into
 * the spec (`/openapi/routes/create/requestBody/content/application~1json/schema/properties/qty/type`).
 * Nothing is checked while validation is off: the documentation alone never blocks a write.
 */
export function apiValidationProblems(spec: ApiSpecT): Array<{ path: string; message: string }> {
  if (spec.validation?.requests !== true) return [];
  const problems: Array<{ path: string; message: string }> = [];
  for (const route of spec.routes ?? []) {
    const built = build(spec.openapi, route.name, spec.validation.maxErrors, problems);
    if (built === null) continue;
    for (const p of validatePlugin.check!(built.config as never)) {
      const origin = built.origins.find(([from]) => p.path === from || p.path.startsWith(`${from}/`));
      const path = origin === undefined ? `/openapi/routes/${escape(route.name)}` : origin[1] + p.path.slice(origin[0].length);
      if (!problems.some((q) => q.path === path && q.message === p.message)) problems.push({ path, message: p.message });
    }
  }
  return problems;
}

function build(openapi: OpenApi | undefined, route: string, maxErrors: number | undefined, problems: Array<{ path: string; message: string }> = []): Built | null {
  const op = openapi?.routes?.[route];
  if (op === undefined) return null;
  const components = (openapi!.components ?? {}) as Json;
  const at = `/openapi/routes/${escape(route)}`;
  const config: Json = {};
  const origins: Array<[string, string]> = [];

  const parameters: Json[] = [];
  (op.parameters ?? []).forEach((raw, j) => {
    const { value: param, at: from } = deref(raw, `${at}/parameters/${j}`, components, 'parameters', problems);
    if (param === undefined || !PLACES.has(String(param['in']))) return;
    origins.push([`/parameters/${parameters.length}`, from]);
    parameters.push({ name: param['name'], in: param['in'], ...(param['required'] === true ? { required: true } : {}), ...(param['schema'] === undefined ? {} : { schema: param['schema'] }) });
  });
  if (parameters.length > 0) config['parameters'] = parameters;

  if (op.requestBody !== undefined) {
    const { value: body, at: from } = deref(op.requestBody, `${at}/requestBody`, components, 'requestBodies', problems);
    const content = body?.['content'];
    if (body !== undefined && isObject(content) && Object.keys(content).length > 0) {
      const types = Object.keys(content);
      const json = types.find((t) => t.split(';', 1)[0]!.trim().toLowerCase() === 'application/json') ?? types.find((t) => /\+json\s*(;|$)/i.test(t));
      const media = json === undefined ? undefined : content[json];
      const schema = isObject(media) ? media['schema'] : undefined;
      config['body'] = {
        ...(body['required'] === true ? { required: true } : {}),
        mediaTypes: types.map((t) => t.split(';', 1)[0]!.trim()),
        ...(schema === undefined ? {} : { schema }),
      };
      origins.push(['/body/mediaTypes', `${from}/content`]);
      if (json !== undefined) origins.push(['/body/schema', `${from}/content/${escape(json)}/schema`]);
    }
  }
  if (config['parameters'] === undefined && config['body'] === undefined) return null;

  const schemas = isObject(components['schemas']) ? components['schemas'] : {};
  const reached = reachable(config, schemas);
  if (reached.size > 0) config['components'] = { schemas: Object.fromEntries([...reached].map((name) => [name, schemas[name]])) };
  origins.push(['/components/schemas', '/openapi/components/schemas']);
  if (maxErrors !== undefined) config['maxErrors'] = maxErrors;
  origins.sort((a, b) => b[0].length - a[0].length);
  return { config, origins };
}

/** A parameter or request body, following one `#/components/<kind>/<name>` reference. */
function deref(raw: unknown, at: string, components: Json, kind: string, problems: Array<{ path: string; message: string }>): { value: Json | undefined; at: string } {
  if (!isObject(raw)) return { value: undefined, at };
  const ref = raw['$ref'];
  if (typeof ref !== 'string') return { value: raw, at };
  const prefix = `#/components/${kind}/`;
  const name = ref.startsWith(prefix) ? ref.slice(prefix.length).replace(/~1/g, '/').replace(/~0/g, '~') : undefined;
  const table = components[kind];
  const value = name !== undefined && isObject(table) ? table[name] : undefined;
  if (!isObject(value)) {
    problems.push({ path: `${at}/$ref`, message: `"${ref}" names no entry of components.${kind}` });
    return { value: undefined, at };
  }
  return { value, at: `/openapi/components/${kind}/${escape(name!)}` };
}

/** Names of the component schemas `value` refers to, directly or through each other. */
function reachable(value: unknown, schemas: Json): Set<string> {
  const found = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!isObject(v)) return;
    for (const [key, inner] of Object.entries(v)) {
      if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')) {
        const name = inner.slice('#/components/schemas/'.length).split('/', 1)[0]!.replace(/~1/g, '/').replace(/~0/g, '~');
        if (!found.has(name) && name in schemas) {
          found.add(name);
          visit(schemas[name]);
        }
      } else {
        visit(inner);
      }
    }
  };
  visit(value);
  return found;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
