/**
 * Every error a user of Weir can see, in one table. Each entry has a stable `WEIR_…` code, an
 * HTTP status and a title; responses render it as RFC 9457 problem+json. `docs/errors.md` lists
 * the same table (a test keeps the two in step).
 */
export const ERRORS = {
  WEIR_NO_ROUTE: { status: 404, title: 'No route matches this request' },
  WEIR_METHOD_NOT_ALLOWED: { status: 405, title: 'The path exists but its routes do not accept this method' },
  WEIR_BAD_REQUEST: { status: 400, title: 'Malformed HTTP request' },
  WEIR_HEADERS_TOO_LARGE: { status: 431, title: 'Request header fields too large' },
  WEIR_BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  WEIR_URI_TOO_LONG: { status: 414, title: 'The request target is longer than the route allows' },
  WEIR_REQUEST_INVALID: { status: 400, title: 'The request does not match the schema of this operation' },
  WEIR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'This operation takes a JSON body; the Content-Type says otherwise' },
  WEIR_REQUEST_TIMEOUT: { status: 408, title: 'The client did not send the request in time' },
  WEIR_UPSTREAM_TIMEOUT: { status: 504, title: 'The upstream service did not answer in time' },
  WEIR_UPSTREAM_UNAVAILABLE: { status: 503, title: 'No healthy target is available for the service' },
  WEIR_UPSTREAM_ERROR: { status: 502, title: 'The upstream service failed to answer' },
  WEIR_CIRCUIT_OPEN: { status: 503, title: 'The circuit breaker of every target of the service is open' },
  WEIR_STEP_FAILED: { status: 502, title: 'A required step of the flow failed' },
  WEIR_FLOW_TIMEOUT: { status: 504, title: 'The flow did not finish within its timeout' },
  WEIR_FLOW_BAD_INPUT: { status: 400, title: 'The request cannot be used as input to this flow' },
  WEIR_FLOW_RESPONSE_FAILED: { status: 502, title: 'The flow\'s response could not be built from its steps\' results' },
  WEIR_FLOW_CANCELLED: { status: 499, title: 'The client went away before the flow finished' },
  WEIR_COMPENSATION_FAILED: { status: 502, title: 'The flow failed and undoing its finished steps failed too' },
  WEIR_IDEMPOTENCY_KEY_MISSING: { status: 400, title: 'This flow needs an Idempotency-Key header' },
  WEIR_IDEMPOTENCY_KEY_INVALID: { status: 400, title: 'The Idempotency-Key header is not a valid key' },
  WEIR_IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'The Idempotency-Key was already used with a different request' },
  WEIR_IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still running' },
  WEIR_JOB_NOT_FOUND: { status: 404, title: 'No job has this id' },
  WEIR_CALLBACK_REFUSED: { status: 400, title: 'The callback URL is not allowed' },
  WEIR_UNAUTHENTICATED: { status: 401, title: 'Sign in (session cookie) or send an access token' },
  WEIR_FORBIDDEN: { status: 403, title: 'Your roles do not allow this' },
  WEIR_CSRF_FAILED: { status: 403, title: 'The CSRF token is missing or wrong' },
  WEIR_LOGIN_THROTTLED: { status: 429, title: 'Too many failed sign-ins; wait before trying again' },
  WEIR_NOT_FOUND: { status: 404, title: 'No such resource' },
  WEIR_ALREADY_EXISTS: { status: 409, title: 'A resource with this name exists' },
  WEIR_VALIDATION_FAILED: { status: 422, title: 'The request body is not valid for this resource' },
  WEIR_CONFIG_INVALID: { status: 422, title: 'The change would make the gateway configuration invalid' },
  WEIR_PRECONDITION_REQUIRED: { status: 428, title: 'Send If-Match with the ETag you read, so changes are not lost' },
  WEIR_PRECONDITION_FAILED: { status: 412, title: 'The resource changed since you read it (stale If-Match)' },
  WEIR_IN_USE: { status: 409, title: 'The resource is still used by others' },
  WEIR_API_RETIRED: { status: 410, title: 'This API version is retired' },
  WEIR_NOT_APPROVED: { status: 409, title: 'The release is not approved for publishing' },
  WEIR_INVALID_STATE: { status: 409, title: 'The API\'s lifecycle state does not allow this' },
  WEIR_SECRETS_UNAVAILABLE: { status: 503, title: 'This node has no key to seal or open secrets' },
  WEIR_CREDENTIAL_MISSING: { status: 401, title: 'This API needs a credential (an API key, Basic, a JWT or a signature, as it accepts)' },
  WEIR_CREDENTIAL_INVALID: { status: 401, title: 'The credential is unknown, revoked, expired or wrong' },
  WEIR_SIGNATURE_INVALID: { status: 401, title: 'The HTTP message signature is malformed, does not verify, or does not cover what it must' },
  WEIR_SIGNATURE_EXPIRED: { status: 401, title: 'The HTTP message signature was created outside the allowed clock skew, or has expired' },
  WEIR_SIGNATURE_REPLAYED: { status: 401, title: 'The HTTP message signature\'s nonce was already used' },
  WEIR_CONTENT_DIGEST_MISMATCH: { status: 401, title: 'The request body does not match its signed Content-Digest' },
  WEIR_NOT_SUBSCRIBED: { status: 403, title: 'The application has no subscription to this API' },
  WEIR_SUBSCRIPTION_PENDING: { status: 403, title: 'The subscription waits for approval' },
  WEIR_SUBSCRIPTION_REJECTED: { status: 403, title: 'The subscription was rejected' },
  WEIR_SUBSCRIPTION_REVOKED: { status: 403, title: 'The subscription was revoked' },
  WEIR_CORS_REJECTED: { status: 403, title: 'The CORS preflight asks for an origin, method or header this route does not allow' },
  WEIR_IP_FORBIDDEN: { status: 403, title: 'Requests from this client address are not allowed' },
  WEIR_RATE_LIMITED: { status: 429, title: 'A rate limit or quota of this route allows no more requests now' },
  WEIR_RATE_LIMIT_UNAVAILABLE: { status: 503, title: 'The rate-limit store cannot be reached and the route is set to fail closed' },
  WEIR_CACHE_PURGE_FAILED: { status: 503, title: 'The response cache could not be purged everywhere' },
  WEIR_SHUTTING_DOWN: { status: 503, title: 'The gateway is shutting down' },
  WEIR_INTERNAL: { status: 500, title: 'Internal gateway error' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error that knows how it is shown to the client. */
export class WeirError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly detail: string | undefined;
  /** Extra headers for the response, e.g. `retry-after`. */
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(detail ?? ERRORS[code].title, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeirError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.detail = detail;
    this.headers = options?.headers;
  }
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  code: ErrorCode;
  detail?: string;
  instance?: string;
  requestId?: string;
}

/** The problem+json body for an error code (RFC 9457). `type` points at the error docs. */
export function problemFor(code: ErrorCode, detail?: string, requestId?: string, instance?: string): Problem {
  const { status, title } = ERRORS[code];
  const problem: Problem = { type: `https://weir.dev/errors#${code}`, title, status, code };
  if (detail !== undefined) problem.detail = detail;
  if (instance !== undefined) problem.instance = instance;
  if (requestId !== undefined) problem.requestId = requestId;
  return problem;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
