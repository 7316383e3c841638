import type { AttemptResult } from './service.js';

/**
 * How a failed upstream call is judged, shared by the proxy and by flow steps so both feed the
 * breaker and the passive health check the same way and retry the same calls.
 */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL']);
const TIMEOUT_ERRORS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** The attempt result an error `code` (Node's or undici's) stands for. */
export function attemptResultOf(code: string): AttemptResult {
  if (TIMEOUT_ERRORS.has(code)) return 'timeout';
  return CONNECT_ERRORS.has(code) ? 'connect-failure' : 'failure';
}

/** True when the request never reached the upstream (refused, unreachable, connect timed out): safe to retry for any method. */
export function neverReachedUpstream(code: string): boolean {
  return CONNECT_ERRORS.has(code) || code === 'UND_ERR_CONNECT_TIMEOUT';
}

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}
