import { Type, type Static } from '@sinclair/typebox';
import type { HeaderList } from '../../http/header-list.js';
import type { Plugin, PluginDefinition } from '../../pipeline/plugin.js';

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const HeaderValue = Type.String({ pattern: '^[^\\r\\n\\0]*$' });
const Edits = Type.Object(
  {
    set: Type.Optional(Type.Record(HeaderName, HeaderValue)),
    add: Type.Optional(Type.Record(HeaderName, HeaderValue)),
    remove: Type.Optional(Type.Array(HeaderName)),
  },
  { additionalProperties: false },
);
const Schema = Type.Object({ request: Type.Optional(Edits), response: Type.Optional(Edits) }, { additionalProperties: false });
type Config = Static<typeof Schema>;
type EditsConfig = Static<typeof Edits>;

/**
 * `headers`: sets, adds and removes request headers on the way upstream and response headers
 * on the way back. Edits apply in that order: remove, set, add.
 *
 * @example
 * plugins:
 *   - name: headers
 *     config:
 *       request: { set: { x-tenant: shop }, remove: [cookie] }
 *       response: { set: { cache-control: no-store } }
 */
export const headersPlugin: PluginDefinition<Config> = {
  name: 'headers',
  stage: 'request-transform',
  schema: Schema,
  create(config) {
    const request = compileEdits(config.request);
    const response = compileEdits(config.response);
    const plugin: { -readonly [K in keyof Plugin]: Plugin[K] } = { name: 'headers', stage: 'request-transform' };
    if (request !== null) plugin.onRequest = (ctx) => request(ctx.upstreamHeaders);
    if (response !== null) plugin.onResponse = (_ctx, res) => response(res.headers);
    return plugin;
  },
};

function compileEdits(edits: EditsConfig | undefined): ((headers: HeaderList) => void) | null {
  if (edits === undefined) return null;
  const remove = (edits.remove ?? []).map((n) => n.toLowerCase());
  const set = Object.entries(edits.set ?? {}).map(([n, v]) => [n.toLowerCase(), v] as const);
  const add = Object.entries(edits.add ?? {});
  if (remove.length + set.length + add.length === 0) return null;
  return (headers) => {
    for (const name of remove) headers.remove(name);
    for (const [name, value] of set) headers.set(name, value);
    for (const [name, value] of add) headers.add(name, value);
  };
}
