import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { RequestTarget } from '../http/request-target.js';
import { writeProblemToSocket } from '../http/problem.js';
import type { ProxySettings, RouteHandler } from './exchange.js';
import { clientIpOf, forwardingInfo, requestIdFor, upstreamRequestHeaders } from './headers.js';
import { upstreamPath } from './upstream-path.js';

/**
 * Proxies an HTTP/1.1 Upgrade (WebSocket) request: the handshake goes to a target chosen by the
 * service's balancer with the usual header hygiene plus the Upgrade/Connection pair, and from
 * then on bytes flow both ways untouched. The upstream's answer, 101 or a refusal, is relayed as
 * it is, so the client sees exactly what the service decided.
 */
export function proxyUpgrade(
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  handler: RouteHandler | null,
  target: RequestTarget | null,
  settings: ProxySettings | null,
): void {
  client.on('error', () => client.destroy());
  // node:http leaves server sockets half-open on FIN; a tunnel whose client is gone is over.
  (client as Socket).allowHalfOpen = false;
  if (target === null) return writeProblemToSocket(client as Socket, 'WEIR_BAD_REQUEST', 'the request target is not a valid path');
  if (handler === null || settings === null) return writeProblemToSocket(client as Socket, 'WEIR_NO_ROUTE', `no route matches ${req.method} ${target.path}`);
  const service = handler.service;
  const upstream = service.pick({ hashKey: () => req.socket.remoteAddress ?? '' });
  if (upstream === null) return writeProblemToSocket(client as Socket, service.unavailableCode());

  const requestId = requestIdFor(req, settings);
  const headers = upstreamRequestHeaders(req.rawHeaders, forwardingInfo(req, settings, requestId, clientIpOf(req)));
  const host = handler.preserveHost && req.headers.host !== undefined ? req.headers.host : upstream.hostHeader;
  headers.push('host', host, 'connection', 'upgrade', 'upgrade', String(req.headers.upgrade ?? 'websocket'));
  let head1 = `${req.method} ${upstreamPath(target.path, target.query, handler.stripPrefix, upstream.basePath)} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head1 += `${headers[i]}: ${headers[i + 1]}\r\n`;
  head1 += '\r\n';

  const url = new URL(upstream.origin);
  const socket = connect({ host: url.hostname, port: Number(url.port || 80) });
  upstream.active++;
  let connected = false;
  const connectTimer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), service.config.connectTimeoutMs);
  socket.once('connect', () => {
    connected = true;
    clearTimeout(connectTimer);
    service.record(upstream, 'success');
    socket.setNoDelay(true);
    socket.write(head1);
    if (head.length > 0) socket.write(head);
    socket.pipe(client);
    client.pipe(socket);
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(connectTimer);
    if (connected) return client.destroy();
    service.record(upstream, err.code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'connect-failure');
    settings.log.warn({ requestId, route: handler.route.name, service: service.name, target: upstream.id, cause: err.code ?? err.message }, 'websocket upstream failure');
    const code = err.code === 'UND_ERR_CONNECT_TIMEOUT' ? 'WEIR_UPSTREAM_TIMEOUT' : 'WEIR_UPSTREAM_ERROR';
    writeProblemToSocket(client as Socket, code, `could not connect to ${upstream.id} (${err.code ?? err.message})`);
  });
  socket.once('close', () => {
    upstream.active--;
    client.destroy();
  });
  client.once('close', () => socket.destroy());
}
