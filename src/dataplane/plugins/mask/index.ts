import { Type, type Static } from '@sinclair/typebox';
import { bodyKind, compileMasker, maskingFields, maskingProblems } from '../../../masking/index.js';
import type { Plugin, PluginDefinition } from '../../pipeline/plugin.js';

const HeaderName = Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$" });
const MAX_BODY = 1024 * 1024;
const Schema = Type.Object(
  {
    ...maskingFields,
    body: Type.Optional(Type.Boolean({ default: true, description: 'Mask JSON and text response bodies (false: headers only).' })),
    headers: Type.Optional(Type.Array(HeaderName, { description: 'Response headers whose values go through the detector and regex rules.' })),
    maxBodySize: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 * 1024 * 1024, description: `Largest body (bytes) masked; larger ones stream through unchanged. Default ${MAX_BODY}.` })),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `mask`: masks what upstreams answer before the client sees it — JSON bodies (path rules, then
 * detectors and regexes over every string and integer), text bodies (text/*, XML, form data,
 * NDJSON: detectors and regexes over the text) and the listed headers. The rules are compiled once
 * per config version; a route without this plugin never holds a body for it.
 *
 * Bodies of other types (images, octet streams …), bodies over `maxBodySize`, and bodies an
 * upstream compressed anyway are sent unchanged: the plugin asks upstreams for an uncompressed
 * answer (it drops `Accept-Encoding` on the way up) so that the last case should not arise.
 * Flow routes have no upstream body here: their headers are masked, their bodies are not.
 *
 * @example
 * plugins:
 *   - name: mask
 *     config:
 *       rules:
 *         - { detector: card, style: partial }         # **** **** **** 1111
 *         - { detector: email, style: partial }        # a***@example.com
 *         - { path: "$..password" }                    # ****
 *         - { path: "$.customer.id", style: hash }     # #5e0c1b7a22d4 (HMAC-SHA256, key in WEIR_MASKING_KEY)
 *         - { regex: "ord-([0-9]{6})", style: partial, keep: 2 }
 *       headers: [x-customer-email]
 */
export const maskPlugin: PluginDefinition<Config> = {
  name: 'mask',
  stage: 'response-transform',
  schema: Schema,
  check: (config) => maskingProblems(config),
  create(config) {
    const masker = compileMasker(config);
    const max = config.maxBodySize ?? MAX_BODY;
    const headers = (config.headers ?? []).map((h) => h.toLowerCase());
    const plugin: { -readonly [K in keyof Plugin]: Plugin[K] } = { name: 'mask', stage: 'response-transform' };
    if (!masker.active) return plugin;
    const bodies = config.body !== false;
    if (bodies) {
      plugin.onRequest = (ctx) => {
        ctx.upstreamHeaders.remove('accept-encoding');
      };
    }
    plugin.onResponse = (_ctx, res) => {
      for (const name of headers) {
        const value = res.headers.get(name);
        if (value !== undefined) res.headers.set(name, masker.text(value));
      }
      if (!bodies || res.transformBody === undefined) return;
      const type = res.headers.get('content-type');
      const encoding = res.headers.get('content-encoding');
      if (bodyKind(type) === null || (encoding !== undefined && encoding !== 'identity')) return;
      res.transformBody(max, (bytes) => masker.body(bytes, type) ?? bytes);
    };
    return plugin;
  },
};
