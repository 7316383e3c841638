/**
 * The flow engine's errors. Plan-time errors carry a JSON pointer so the config loader can point
 * at the line; run-time errors carry a stable `WEIR_…` code the handler renders as problem+json.
 */

/** A template or expression that does not compile. `path` points inside the template ('' = root). */
export class TemplateError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.name = 'TemplateError';
    this.path = path;
  }
}

/** One problem with a flow definition. `path` is a JSON pointer relative to the flow. */
export class FlowPlanError extends Error {
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.name = 'FlowPlanError';
    this.path = path;
  }
}

/**
 * A value from the request (or an upstream answer) that cannot be put where the template puts it:
 * a header with CR/LF, a path segment that would climb out of its place. Fails the flow with 400.
 */
export class FlowInputError extends Error {
  readonly code = 'WEIR_FLOW_BAD_INPUT';

  constructor(message: string) {
    super(message);
    this.name = 'FlowInputError';
  }
}

/** What a `CallService` throws when no answer came back. */
export class CallError extends Error {
  /** WEIR_UPSTREAM_TIMEOUT | WEIR_UPSTREAM_ERROR | WEIR_UPSTREAM_UNAVAILABLE | WEIR_CIRCUIT_OPEN … */
  readonly code: string;
  /** Whether another try may succeed (a reset connection yes, an open circuit no). */
  readonly retryable: boolean;

  constructor(code: string, message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CallError';
    this.code = code;
    this.retryable = retryable;
  }
}

/** JSON pointer segment escaping (RFC 6901). */
export function pointerSegment(key: string | number): string {
  return String(key).replaceAll('~', '~0').replaceAll('/', '~1');
}
