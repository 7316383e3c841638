import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';
import { hasBody } from './request-body.js';
import { ERRORS, PROBLEM_CONTENT_TYPE, problemFor, type ErrorCode } from '../../errors.js';

/**
 * Answers with RFC 9457 problem+json and returns the status sent. When the request body was not
 * read, the connection is closed after the answer rather than draining an unwanted upload.
 */
export function sendProblem(
  req: IncomingMessage,
  res: ServerResponse,
  code: ErrorCode,
  detail: string | undefined,
  requestId: string | undefined,
  requestIdHeader = 'x-request-id',
  extraHeaders?: Record<string, string>,
): number {
  const status = ERRORS[code].status;
  const body = JSON.stringify(problemFor(code, detail, requestId, req.url));
  // Extra headers (a challenge, Allow, what plugins add) never replace the problem's own.
  const headers: Record<string, string | number> = {
    ...extraHeaders,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (requestId !== undefined) headers[requestIdHeader] = requestId;
  if (hasUnreadBody(req)) {
    headers.connection = 'close';
    res.shouldKeepAlive = false;
  }
  res.writeHead(status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
  return status;
}

function hasUnreadBody(req: IncomingMessage): boolean {
  return !req.complete && hasBody(req);
}

/**
 * The same answer written straight to a socket, for errors the HTTP parser raises before there
 * is a request object (malformed requests, oversized headers, request timeouts).
 */
export function writeProblemToSocket(socket: Socket, code: ErrorCode, detail?: string): void {
  const { status } = ERRORS[code];
  const body = JSON.stringify(problemFor(code, detail));
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `content-type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n` +
      'cache-control: no-store\r\n' +
      'connection: close\r\n\r\n' +
      body,
  );
}
