import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What a test upstream saw of one request. */
export interface Observed {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
  /** performance.now() when the request arrived and when the response finished. */
  startedAt: number;
  endedAt: number;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

export interface TestUpstream {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  readonly requests: Observed[];
  /** Replace the handler mid-test. */
  handle(handler: UpstreamHandler): void;
  close(): Promise<void>;
}

/** Echoes what it received as JSON: method, url, headers and body size. */
export const echo: UpstreamHandler = (req, res, body) => {
  const text = JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
};

/**
 * A real HTTP server on 127.0.0.1, port 0 unless given, that records every request it
 * receives (with timestamps) and answers with `handler` after reading the whole body.
 */
export async function startUpstream(handler: UpstreamHandler = echo, port = 0): Promise<TestUpstream> {
  const requests: Observed[] = [];
  const sockets = new Set<Socket>();
  let current = handler;
  const server = createServer((req, res) => {
    const startedAt = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const observed: Observed = {
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks),
        startedAt,
        endedAt: 0,
      };
      requests.push(observed);
      res.on('finish', () => (observed.endedAt = performance.now()));
      Promise.resolve(current(req, res, observed.body)).catch((err: unknown) => {
        res.destroy(err as Error);
      });
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    server,
    requests,
    handle(h) {
      current = h;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Answers `value` as JSON with `status`, for test upstreams. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
