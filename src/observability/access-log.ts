import type { Logger } from './logger.js';

/** One access log line: what happened to a request, in one JSON object. */
export interface AccessEntry {
  requestId: string;
  method: string;
  /** Masked by the logger's `path` serializer (global.masking, credentials). */
  path: string;
  status: number;
  durationMs: number;
  /** The matched route's name ('' when none matched). */
  route: string;
  kind: 'proxy' | 'flow' | 'refused';
  consumer: string | null;
  /** The upstream target that answered (the last one tried), null when none was called. */
  target: string | null;
  attempts: number;
  traceId: string | null;
  bytesIn: number;
  bytesOut: number;
  errorCode: string | null;
}

/**
 * The access log of a config version (`global.accessLog: true`): a child of the data-plane
 * logger (the same asynchronous stdout writer, and the same masking serializers), at info
 * whatever the process's log level, so the switch alone decides. Lines carry `"log":"access"`.
 */
export function accessLogger(log: Logger): Logger {
  return log.child({ log: 'access' }, { level: 'info' });
}

export function logAccess(log: Logger, entry: AccessEntry): void {
  entry.durationMs = Math.round(entry.durationMs * 1000) / 1000;
  log.info(entry, 'request');
}
