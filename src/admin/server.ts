import { createServer, type Server } from 'node:http';
import { reply } from './http.js';
import { PROBLEM_CONTENT_TYPE, problemFor } from '../errors.js';
import type { AdminApi } from './api/index.js';
import { EXPOSITION_CONTENT_TYPE } from '../observability/metrics.js';
import type { CallLogStats } from '../calls/writer.js';

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
  /** Serving, but the store is unreachable: the node keeps its last config until it returns. */
  degraded?: boolean;
  /** The call log's counters (absent when it is off): queued, written, dropped, failed. */
  callLog?: CallLogStats;
}

/**
 * The admin port (9080 by default, bound to 127.0.0.1 unless configured otherwise):
 * `GET /healthz` (200 while serving) and `GET /readyz` (200 when ready for traffic, 503 while
 * starting, reloading or draining), `GET /metrics` (Prometheus exposition of the whole node) and
 * the admin API under `/api/v1/` (see src/admin/api/).
 */
export function createAdminServer(status: () => NodeStatus, api?: AdminApi, metrics?: () => Promise<string>): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path.startsWith('/api/v1/') && api !== undefined) return api.handle(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' });
    if (path === '/healthz') {
      const s = status();
      return reply(res, s.serving ? 200 : 503, {
        status: !s.serving ? 'unavailable' : s.degraded === true ? 'degraded' : 'ok',
        ...(s.degraded === undefined ? {} : { store: s.degraded ? 'unreachable' : 'ok' }),
        configVersion: s.configVersion,
        configSource: s.configSource,
        uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
        workers: s.workers,
        ...(s.callLog === undefined ? {} : { callLog: s.callLog }),
      });
    }
    if (path === '/metrics' && metrics !== undefined) {
      metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => reply(res, 500, problemFor('WEIR_INTERNAL', `metrics could not be collected: ${(err as Error).message}`, undefined, req.url), { 'content-type': PROBLEM_CONTENT_TYPE }),
      );
      return;
    }
    if (path === '/readyz') {
      const s = status();
      return reply(res, s.ready ? 200 : 503, { ready: s.ready, configVersion: s.configVersion });
    }
    const body = problemFor('WEIR_NOT_FOUND', `no admin endpoint ${path}`, undefined, req.url);
    reply(res, 404, body, { 'content-type': PROBLEM_CONTENT_TYPE });
  });
}

