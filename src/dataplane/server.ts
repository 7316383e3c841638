import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { GlobalConfig } from '../config/types.js';
import type { ErrorCode } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { Gateway } from './gateway.js';
import { writeProblemToSocket } from './http/problem.js';

/**
 * The traffic server: node:http (HTTP/1.1, keep-alive) handing every request to the gateway.
 * node's parser (llhttp, strict mode) already refuses request-smuggling shapes — both
 * Content-Length and Transfer-Encoding, repeated or malformed Content-Length, obs-fold, bad
 * chunk framing; here they get a problem+json answer and the connection is closed.
 */
export function createTrafficServer(gateway: Gateway, limits: GlobalConfig['limits'], log: Logger): Server {
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: Math.min(limits.requestTimeoutMs, 60_000),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // How often node looks for requests past requestTimeout (its default is every 30 s).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, limits.requestTimeoutMs / 2)),
      insecureHTTPParser: false,
      // Checked by the gateway instead, so the answer is problem+json like every other one.
      requireHostHeader: false,
    },
    (req: IncomingMessage, res: ServerResponse) => gateway.handleRequest(req, res),
  );
  // Expect: 100-continue is answered only once the route and the size limit accept the request.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => gateway.handleRequest(req, res, true));
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => gateway.handleUpgrade(req, socket, head));
  // A reverse proxy opens no tunnels; without this listener node would drop the socket unanswered.
  server.on('connect', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => socket.destroy());
    writeProblemToSocket(socket, 'WEIR_BAD_REQUEST', 'CONNECT is not supported: Weir is a reverse proxy, not a forward proxy');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const code = clientErrorCode(err);
    if (code === null || !socket.writable) return void socket.destroy();
    log.debug({ err: err.code, remote: socket.remoteAddress }, 'rejected a malformed request');
    writeProblemToSocket(socket, code, parserDetail(err));
  });
  return server;
}

function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | null {
  switch (err.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    case 'HPE_HEADER_OVERFLOW':
      return 'WEIR_HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return 'WEIR_REQUEST_TIMEOUT';
    default:
      return 'WEIR_BAD_REQUEST';
  }
}

function parserDetail(err: NodeJS.ErrnoException): string {
  const reason = (err as { reason?: string }).reason;
  return reason !== undefined ? `${reason} (${err.code})` : `the request could not be parsed (${err.code ?? 'unknown'})`;
}
