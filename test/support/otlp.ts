import { startUpstream, type TestUpstream } from './upstream.js';

/** A span as the OTLP/HTTP JSON encoding carries it, attributes flattened. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number };
  serviceName: string;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly upstream: TestUpstream;
  /** Every span received so far. */
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}

function valueOf(v: AnyValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? '';
}

function flatten(attributes: Array<{ key: string; value: AnyValue }> = []): Record<string, string | number | boolean> {
  return Object.fromEntries(attributes.map((a) => [a.key, valueOf(a.value)]));
}

/** A real OTLP/HTTP (JSON) traces receiver on loopback: POST /v1/traces. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const upstream = await startUpstream((req, res) => {
    const ok = req.method === 'POST' && req.url === '/v1/traces' && (req.headers['content-type'] ?? '').startsWith('application/json');
    res.writeHead(ok ? 200 : 415, { 'content-type': 'application/json' });
    res.end('{}');
  });
  return {
    url: `${upstream.url}/v1/traces`,
    upstream,
    spans() {
      const out: ReceivedSpan[] = [];
      for (const request of upstream.requests) {
        const body = JSON.parse(request.body.toString()) as {
          resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: AnyValue }> }; scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }>;
        };
        for (const rs of body.resourceSpans) {
          const serviceName = String(flatten(rs.resource.attributes)['service.name']);
          for (const ss of rs.scopeSpans) {
            for (const s of ss.spans) {
              out.push({
                traceId: s['traceId'] as string,
                spanId: s['spanId'] as string,
                parentSpanId: (s['parentSpanId'] as string | undefined) || undefined,
                name: s['name'] as string,
                kind: s['kind'] as number,
                attributes: flatten(s['attributes'] as Array<{ key: string; value: AnyValue }>),
                status: (s['status'] as { code?: number }) ?? {},
                serviceName,
              });
            }
          }
        }
      }
      return out;
    },
    close: () => upstream.close(),
  };
}

/** The parts of a traceparent header. */
export function parseTraceparent(value: string | string[] | undefined): { traceId: string; parentId: string; flags: string } {
  const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(String(value));
  if (match === null) throw new Error(`not a traceparent: ${String(value)}`);
  return { traceId: match[1]!, parentId: match[2]!, flags: match[3]! };
}
