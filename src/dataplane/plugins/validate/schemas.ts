/**
 * The JSON Schemas of the `validate` plugin, made ready for ajv: OpenAPI 3.0 forms turned into
 * JSON Schema 2020-12 (the dialect of OpenAPI 3.1) and `#/components/schemas/…` references
 * pointed at one registered components schema. Walks only where JSON Schema puts subschemas, so a
 * property named `nullable` or `$ref` is left alone.
 */
import { createRequire } from 'node:module';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type formatsModule from 'ajv-formats';

// ajv is loaded when the first schema is compiled (synchronously: plugins are built in one go),
// so a process whose config has no validate plugin never pays its ~7 MB.
const load = createRequire(import.meta.url);
let ajvClass: typeof Ajv2020 | undefined;
let addFormats: typeof formatsModule.default | undefined;
function ajvLibrary(): { Ajv: typeof Ajv2020; formats: typeof formatsModule.default } {
  ajvClass ??= (load('ajv/dist/2020.js') as { Ajv2020: typeof Ajv2020 }).Ajv2020;
  addFormats ??= (load('ajv-formats') as { default: typeof formatsModule.default }).default;
  return { Ajv: ajvClass, formats: addFormats };
}

/** Where the plugin's components are registered; `#/components/schemas/X` becomes `${COMPONENTS}#/$defs/X`. */
export const COMPONENTS_ID = 'urn:weir:components';
const COMPONENT_REF = '#/components/schemas/';

type Json = Record<string, unknown>;

export interface SchemaProblem {
  /** JSON Pointer into the plugin config. */
  path: string;
  message: string;
}

/** Keywords whose value is one subschema, a list of them, or a map of them. */
const ONE = ['additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames', 'unevaluatedItems', 'unevaluatedProperties', 'additionalItems', 'items'];
const LIST = ['allOf', 'anyOf', 'oneOf', 'prefixItems'];
const MAP = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];

/**
 * A copy of `schema` ajv's 2020-12 dialect compiles: OpenAPI 3.0's `nullable`, boolean
 * `exclusiveMinimum`/`exclusiveMaximum` and tuple `items: [...]` converted, `$schema` dropped
 * (everything is 2020-12), component references rewritten. `at` is the schema's pointer in the
 * plugin config; problems with references are added to `problems` with their exact pointer.
 */
export function prepareSchema(schema: unknown, at: string, components: ReadonlySet<string>, problems: SchemaProblem[]): unknown {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return schema;
  const s: Json = { ...(schema as Json) };
  delete s['$schema'];
  const ref = s['$ref'];
  if (typeof ref === 'string') s['$ref'] = rewriteRef(ref, `${at}/$ref`, components, problems);
  for (const bound of ['Minimum', 'Maximum'] as const) {
    const exclusive = s[`exclusive${bound}`];
    const limit = s[bound.toLowerCase()];
    if (exclusive === true && typeof limit === 'number') {
      s[`exclusive${bound}`] = limit;
      delete s[bound.toLowerCase()];
    } else if (typeof exclusive === 'boolean') {
      delete s[`exclusive${bound}`];
    }
  }
  if (Array.isArray(s['items'])) {
    s['prefixItems'] = s['items'];
    if (s['additionalItems'] === undefined) delete s['items'];
    else s['items'] = s['additionalItems'];
    delete s['additionalItems'];
  }
  for (const key of ONE) if (key in s) s[key] = prepareSchema(s[key], `${at}/${key}`, components, problems);
  for (const key of LIST) {
    const list = s[key];
    if (Array.isArray(list)) s[key] = list.map((item, i) => prepareSchema(item, `${at}/${key}/${i}`, components, problems));
  }
  for (const key of MAP) {
    const map = s[key];
    if (typeof map !== 'object' || map === null || Array.isArray(map)) continue;
    const out: Json = {};
    for (const [name, sub] of Object.entries(map as Json)) out[name] = prepareSchema(sub, `${at}/${key}/${escape(name)}`, components, problems);
    s[key] = out;
  }
  return nullable(s);
}

/**
 * OpenAPI 3.0 `nullable: true`: null joins the type (or enum); without a type (a `$ref`, an
 * `allOf`) null is let through before the schema (`if null … else schema`), so a wrong value is
 * reported by the schema's own errors only, not also as "must be null".
 */
function nullable(s: Json): Json {
  const flag = s['nullable'];
  if (flag === undefined) return s;
  delete s['nullable'];
  if (flag !== true) return s;
  const type = s['type'];
  if (Array.isArray(s['enum']) && !s['enum'].includes(null)) s['enum'] = [...s['enum'], null];
  if (typeof type === 'string') s['type'] = type === 'null' ? type : [type, 'null'];
  else if (Array.isArray(type)) s['type'] = type.includes('null') ? type : [...type, 'null'];
  else return { if: { type: 'null' }, else: s };
  return s;
}

function rewriteRef(ref: string, at: string, components: ReadonlySet<string>, problems: SchemaProblem[]): string {
  if (ref.startsWith(COMPONENT_REF)) {
    const rest = ref.slice(COMPONENT_REF.length);
    const name = unescape(rest.split('/', 1)[0]!);
    if (!components.has(name)) problems.push({ path: at, message: `"${ref}" names no schema in components.schemas (known: ${[...components].join(', ') || 'none'})` });
    return `${COMPONENTS_ID}#/$defs/${rest}`;
  }
  if (ref.startsWith('#/components/')) problems.push({ path: at, message: `"${ref}": a schema can only refer to #/components/schemas/…` });
  else if (!ref.startsWith('#')) problems.push({ path: at, message: `"${ref}": only references inside the config (#/…) are supported, not other documents` });
  return ref;
}

/** The component schemas ready to register under `COMPONENTS_ID`. */
export function prepareComponents(schemas: Readonly<Record<string, unknown>>, at: string, problems: SchemaProblem[]): Json {
  const names = new Set(Object.keys(schemas));
  const defs: Json = {};
  for (const [name, schema] of Object.entries(schemas)) defs[name] = prepareSchema(schema, `${at}/${escape(name)}`, names, problems);
  return { $id: COMPONENTS_ID, $defs: defs };
}

export function escape(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function unescape(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

/**
 * An ajv for one plugin instance (compiled once per config version, dropped with it). Unknown
 * keywords (`example`, `discriminator`, `x-…`) are annotations, as OpenAPI has many; schemas were
 * checked against the meta-schema at load, so compiling skips that (the costly part).
 */
export function newAjv(coerce: boolean): Ajv2020 {
  const { Ajv, formats } = ajvLibrary();
  const ajv = new Ajv({ allErrors: true, strict: false, logger: false, validateSchema: false, coerceTypes: coerce ? 'array' : false });
  formats(ajv);
  return ajv;
}

/** Only for checking schemas against the 2020-12 meta-schema at load (nothing is compiled into it). */
let metaAjv: Ajv2020 | undefined;

/** Problems of a prepared schema against the 2020-12 meta-schema, with pointers under `at`. */
export function metaSchemaProblems(schema: unknown, at: string): SchemaProblem[] {
  metaAjv ??= new (ajvLibrary().Ajv)({ allErrors: false, strict: false, logger: false });
  if (typeof schema === 'boolean') return [];
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [{ path: at, message: 'a schema is an object (or true/false)' }];
  if (metaAjv.validateSchema(schema) === true) return [];
  return (metaAjv.errors ?? []).slice(0, 1).map((e) => ({ path: `${at}${e.instancePath}`, message: `not a valid JSON Schema: ${e.message ?? 'invalid'}` }));
}

export type { ErrorObject, ValidateFunction };
