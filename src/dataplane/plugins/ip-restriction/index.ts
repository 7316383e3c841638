import { Type, type Static } from '@sinclair/typebox';
import { respondProblem, type PluginDefinition, type RequestContext } from '../../pipeline/plugin.js';
import { anyContains, parseCidr, parseIp, type Cidr } from './cidr.js';

const cidrList = (description: string) => Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 10_000, description });
const Schema = Type.Object(
  {
    allow: Type.Optional(cidrList('When given, only these blocks may call (IPv4 and IPv6 CIDRs or single addresses).')),
    deny: Type.Optional(cidrList('These blocks may not call; deny wins over allow.')),
    trustedProxies: Type.Optional(
      cidrList('Proxies in front of Weir: when the direct peer is one, the client is the right-most address of X-Forwarded-For that is not.'),
    ),
  },
  { additionalProperties: false },
);
type Config = Static<typeof Schema>;

/**
 * `ip-restriction`: refuses clients by address with 403 `WEIR_IP_FORBIDDEN`, before any
 * credential is looked at (stage `access`). Every block is parsed once, at config load.
 *
 * The client is the connection's peer; only when that peer is a trusted proxy is
 * `X-Forwarded-For` read, right to left, skipping trusted proxies: the first address that is not
 * one is the client (addresses further left were written by whoever that is, so are not
 * believed). An entry that is not an address is refused: it cannot be matched, so failing
 * closed is the only safe answer.
 *
 * @example
 * plugins:
 *   - name: ip-restriction
 *     config: { allow: [10.0.0.0/8, "2001:db8::/32"], deny: [10.6.6.0/24], trustedProxies: [192.168.0.10] }
 */
export const ipRestrictionPlugin: PluginDefinition<Config> = {
  name: 'ip-restriction',
  stage: 'access',
  schema: Schema,
  check(config) {
    const problems: Array<{ path: string; message: string }> = [];
    for (const key of ['allow', 'deny', 'trustedProxies'] as const) {
      (config[key] ?? []).forEach((text, i) => {
        try {
          parseCidr(text);
        } catch (err) {
          problems.push({ path: `/${key}/${i}`, message: (err as Error).message });
        }
      });
    }
    if (config.allow === undefined && config.deny === undefined) problems.push({ path: '', message: 'give allow, deny or both' });
    return problems;
  },
  create(config) {
    const allow = config.allow?.map(parseCidr) ?? null;
    const deny = (config.deny ?? []).map(parseCidr);
    const trusted = (config.trustedProxies ?? []).map(parseCidr);
    return {
      name: 'ip-restriction',
      stage: 'access',
      onRequest(ctx) {
        const client = clientAddress(ctx, trusted);
        const bytes = client === null ? null : parseIp(client);
        let refusal: string | null = null;
        if (bytes === null) refusal = `the client address "${client ?? ''}" is not an IP address`;
        else if (anyContains(deny, bytes)) refusal = `${client} is on the deny list`;
        else if (allow !== null && !anyContains(allow, bytes)) refusal = `${client} is not on the allow list`;
        if (refusal === null) return;
        respondProblem(ctx, 'WEIR_IP_FORBIDDEN', refusal);
      },
    };
  },
};

/** The client's address: the peer, or through trusted proxies the right-most untrusted X-Forwarded-For entry. */
export function clientAddress(ctx: Pick<RequestContext, 'clientIp' | 'headers'>, trusted: readonly Cidr[]): string | null {
  const peer = ctx.clientIp;
  if (trusted.length === 0) return peer;
  const peerBytes = parseIp(peer);
  if (peerBytes === null || !anyContains(trusted, peerBytes)) return peer;
  const header = ctx.headers['x-forwarded-for'];
  if (header === undefined) return peer;
  const entries = (Array.isArray(header) ? header.join(',') : header).split(',');
  let client = peer;
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!.trim();
    if (entry === '') continue;
    const bytes = parseIp(entry);
    if (bytes === null) return entry;
    client = entry;
    if (!anyContains(trusted, bytes)) return entry;
  }
  // Every hop is a trusted proxy: the left-most is as close to the client as we can tell.
  return client;
}
