/**
 * What every admin API operation is made of: its method and path, the TypeBox schemas of its
 * body and answer (the server validates with them, and the OpenAPI document is generated from
 * them: there is no second copy), who may call it, and a handler.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FormatRegistry, Type, type TSchema } from '@sinclair/typebox';
import type { ErrorCode } from '../../errors.js';
import type { Principal } from './access.js';

// The formats the operations' schemas use (TypeBox checks none by itself).
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (value) => /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(value) && !Number.isNaN(Date.parse(value)));

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface ApiRequest {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  query: URLSearchParams;
  /** Set for every operation but the public ones. */
  principal: Principal;
  body: unknown;
  requestId: string;
}

export interface ApiResult {
  /** 0: the operation has written its answer itself (a streamed export). */
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Operation {
  method: Method;
  /** OpenAPI style: `/api/v1/teams/{team}`. */
  path: string;
  operationId: string;
  summary: string;
  tag: string;
  /** public: no credentials (login, the OpenAPI document). */
  auth: 'public' | 'user';
  body?: TSchema;
  /** The success answer's schema (documented; tests check answers against it). */
  response?: TSchema;
  /** Content types of the success answer when it is not JSON (a streamed export); `response` then describes each line or row. */
  produces?: string[];
  /** Success status (default 200). */
  status?: number;
  query?: Record<string, { schema: TSchema; description: string }>;
  /** Request headers the operation reads, for the document. */
  headers?: Record<string, { required: boolean; description: string }>;
  /** Problem codes it may answer, beyond the ones every operation may. */
  errors?: ErrorCode[];
  handle(request: ApiRequest): Promise<ApiResult>;
}

/** A refusal the handler raises; rendered as problem+json. */
export class ApiError extends Error {
  constructor(
    readonly code: ErrorCode,
    detail: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details; `code` is stable (see docs/errors.md).' },
);

export const PageQuery = {
  limit: { schema: Type.Integer({ minimum: 1, maximum: 500, default: 50 }), description: 'Items per page (default 50).' },
  after: { schema: Type.String(), description: 'The `next` cursor of the previous page.' },
};

export function pageOf(query: URLSearchParams): { limit: number; after: string | null } {
  const raw = query.get('limit');
  const limit = raw === null ? 50 : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw new ApiError('WEIR_VALIDATION_FAILED', 'limit is a whole number from 1 to 500');
  return { limit, after: query.get('after') };
}

export const Page = <T extends TSchema>(item: T) => Type.Object({ items: Type.Array(item), next: Type.Union([Type.String(), Type.Null()], { description: 'Cursor of the next page; null on the last.' }) });

/** A strong ETag for a version number, and the version an If-Match names (undefined: absent; NaN: not ours). */
export const etagOf = (version: number): string => `"${version}"`;

export function ifMatchVersion(request: ApiRequest): number | undefined {
  const header = request.req.headers['if-match'];
  if (header === undefined) return undefined;
  const match = /^\s*(?:W\/)?"(\d+)"\s*$/.exec(header);
  return match === null ? Number.NaN : Number(match[1]);
}

/** The version a write must be based on: If-Match is required, so no change is lost. */
export function requiredVersion(request: ApiRequest, what: string): number {
  const version = ifMatchVersion(request);
  if (version === undefined) throw new ApiError('WEIR_PRECONDITION_REQUIRED', `send If-Match with the ETag of ${what} you read`);
  if (Number.isNaN(version)) throw new ApiError('WEIR_PRECONDITION_FAILED', `If-Match does not name a version of ${what} (ETags look like "3")`);
  return version;
}
