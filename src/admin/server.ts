import { createServer, type Server } from 'node:http';

/** What the admin endpoints report about the node. */
export interface NodeStatus {
  /** Serving traffic with a loaded config. */
  serving: boolean;
  /** Ready for traffic: every data plane runs the current config and the node is not draining. */
  ready: boolean;
  configVersion: string | null;
  configSource: string;
  workers: { id: number; pid: number | undefined; configVersion: string | null; ready: boolean }[];
  startedAt: number;
}

/**
 * The admin port (9080 by default). For now the probes: `GET /healthz` (200 while serving)
 * and `GET /readyz` (200 when ready for traffic, 503 while starting, reloading or draining).
 */
export function createAdminServer(status: () => NodeStatus): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    const s = status();
    if (path === '/healthz') {
      return reply(res, s.serving ? 200 : 503, {
        status: s.serving ? 'ok' : 'unavailable',
        configVersion: s.configVersion,
        configSource: s.configSource,
        uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
        workers: s.workers,
      });
    }
    if (path === '/readyz') return reply(res, s.ready ? 200 : 503, { ready: s.ready, configVersion: s.configVersion });
    reply(res, 404, { type: 'https://weir.dev/errors#WEIR_NO_ROUTE', title: 'Not found', status: 404, code: 'WEIR_NO_ROUTE' }, { 'content-type': 'application/problem+json' });
  });
}

function reply(res: import('node:http').ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
