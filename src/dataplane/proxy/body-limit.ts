import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';

/** Raised into the upstream body stream when a chunked request grows past the limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'WEIR_BODY_TOO_LARGE';
  constructor(limit: number) {
    super(`the request body is larger than the limit of ${limit} bytes`);
  }
}

/**
 * A chunked request body, passed through while it stays under `limit` bytes. Requests with a
 * Content-Length are checked before proxying starts and never pay for this stream.
 */
export function limitBody(req: IncomingMessage, limit: number): Transform {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) return done(new BodyTooLargeError(limit));
      done(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}
