/**
 * The call log over the admin API: list with filters and a cursor, one call with its flow steps,
 * and a streamed export (NDJSON or CSV). A team member sees the calls of their teams' routes,
 * flows and APIs only; the file's own routes belong to no team, so only system admins see those.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { Type } from '@sinclair/typebox';
import type { ConfigStore } from '../../store/config-store.js';
import type { CallLogWriter } from '../../calls/writer.js';
import type { CallFilter, StoredCall } from '../../calls/store.js';
import { ApiError, Page, PageQuery, pageOf, type ApiRequest, type Operation } from './kit.js';
import { teamsToList } from './identity.js';

const Step = Type.Object({
  name: Type.String(),
  startMs: Type.Number({ description: 'ms after the flow started.' }),
  durationMs: Type.Number(),
  status: Type.String(),
  attempts: Type.Integer(),
  httpStatus: Type.Optional(Type.Integer()),
  cache: Type.Optional(Type.String()),
  coalesced: Type.Optional(Type.Integer()),
  compensates: Type.Optional(Type.String()),
  errorCode: Type.Optional(Type.String()),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const CallView = Type.Object(
  {
    id: Type.String({ description: 'The request id (X-Request-Id).' }),
    at: Type.String({ format: 'date-time', description: 'When the request arrived.' }),
    node: Type.String(),
    worker: Type.Integer({ description: '0 in a single-process node.' }),
    team: Nullable(Type.String()),
    api: Nullable(Type.String()),
    apiVersion: Nullable(Type.String()),
    route: Type.String(),
    kind: Type.Union([Type.Literal('proxy'), Type.Literal('flow')]),
    consumer: Nullable(Type.String()),
    clientIp: Type.String(),
    method: Type.String(),
    path: Type.String(),
    status: Type.Integer({ description: '499: the client went away first.' }),
    errorCode: Nullable(Type.String()),
    bytesIn: Type.Integer(),
    bytesOut: Type.Integer(),
    durationMs: Type.Number(),
    gatewayMs: Type.Number({ description: 'durationMs − upstreamMs.' }),
    upstreamMs: Type.Number(),
    targets: Type.Array(Type.String(), { description: 'Upstream targets tried, in order.' }),
    attempts: Type.Integer(),
    retries: Type.Integer(),
    cache: Nullable(Type.String()),
    steps: Nullable(Type.Array(Step, { description: "A flow's steps in plan order: its waterfall." })),
    traceId: Nullable(Type.String({ description: "The request's trace id: its span's with global.tracing on, else the client's traceparent's (null without a valid one)." })),
  },
  { $id: 'Call' },
);

const FILTERS = {
  from: { schema: Type.String(), description: 'Arrived at or after (ISO 8601 date-time, or epoch ms).' },
  to: { schema: Type.String(), description: 'Arrived before (ISO 8601 date-time, or epoch ms).' },
  team: { schema: Type.String(), description: 'Only this team\'s calls (by team name).' },
  api: { schema: Type.String(), description: 'Only this API\'s.' },
  route: { schema: Type.String(), description: 'Only this route\'s (or flow\'s) name.' },
  consumer: { schema: Type.String(), description: 'Only this consumer\'s.' },
  status: { schema: Type.String({ pattern: '^([1-5][0-9][0-9]|[1-5]xx)$' }), description: 'A status (404) or a class (5xx).' },
  minLatency: { schema: Type.Number({ minimum: 0 }), description: 'Took at least this many ms.' },
  maxLatency: { schema: Type.Number({ minimum: 0 }), description: 'Took at most this many ms.' },
  errorCode: { schema: Type.String(), description: 'A WEIR_… error code.' },
  path: { schema: Type.String(), description: 'Text the path contains.' },
  requestId: { schema: Type.String(), description: 'The request id.' },
};

/** The columns of the CSV export, in order. */
const CSV_COLUMNS = ['id', 'at', 'node', 'worker', 'team', 'api', 'apiVersion', 'route', 'kind', 'consumer', 'clientIp', 'method', 'path', 'status', 'errorCode', 'bytesIn', 'bytesOut', 'durationMs', 'gatewayMs', 'upstreamMs', 'targets', 'attempts', 'retries', 'cache', 'traceId'] as const;

/** Rows an export reads per query. */
const EXPORT_PAGE = 500;

export function callOperations(store: ConfigStore, calls: CallLogWriter): Operation[] {
  /** Team ids → names, cached per request. */
  const namer = () => {
    const names = new Map<string, string>();
    return async (call: StoredCall) => {
      let team: string | null = null;
      if (call.team !== null) {
        if (!names.has(call.team)) names.set(call.team, (await store.teamById(call.team))?.name ?? call.team);
        team = names.get(call.team)!;
      }
      const { seq: _, ...rest } = call;
      return { ...rest, team, at: new Date(call.at).toISOString() };
    };
  };

  return [
    {
      method: 'GET',
      path: '/api/v1/calls',
      operationId: 'listCalls',
      summary: 'The call log, newest first: one record per request, filtered. Team members see their teams\' calls only.',
      tag: 'calls',
      auth: 'user',
      query: { ...PageQuery, ...FILTERS },
      response: Page(CallView),
      errors: ['WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const filter = await filterOf(store, r);
        const page = await calls.store.list(filter, pageOf(r.query));
        const view = namer();
        return { status: 200, body: { items: await Promise.all(page.items.map(view)), next: page.next } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/calls/export',
      operationId: 'exportCalls',
      summary: 'The call log as a file, streamed: NDJSON (one call per line, steps included) or CSV (without steps), with the same filters as listing.',
      tag: 'calls',
      auth: 'user',
      query: {
        ...FILTERS,
        format: { schema: Type.Union([Type.Literal('ndjson'), Type.Literal('csv')], { default: 'ndjson' }), description: 'ndjson (default) or csv.' },
        max: { schema: Type.Integer({ minimum: 1, maximum: 10_000_000, default: 1_000_000 }), description: 'At most this many calls, newest first (default 1000000).' },
      },
      produces: ['application/x-ndjson', 'text/csv'],
      response: Type.String({ description: 'NDJSON: one Call per line (as getCall answers it). CSV: a header row, then one row per call (steps left out; targets separated by spaces).' }),
      errors: ['WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const format = r.query.get('format') ?? 'ndjson';
        if (format !== 'ndjson' && format !== 'csv') throw new ApiError('WEIR_VALIDATION_FAILED', 'format is ndjson or csv');
        const max = r.query.get('max') === null ? 1_000_000 : Number(r.query.get('max'));
        if (!Number.isInteger(max) || max < 1 || max > 10_000_000) throw new ApiError('WEIR_VALIDATION_FAILED', 'max is a whole number from 1 to 10000000');
        const filter = await filterOf(store, r);
        await streamExport(r.res, format, max, filter, calls, namer(), r.requestId);
        return { status: 0 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/calls/{id}',
      operationId: 'getCall',
      summary: 'One call by its request id (the newest, if a client reused the id), with a flow\'s steps.',
      tag: 'calls',
      auth: 'user',
      response: CallView,
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const id = r.params['id']!;
        const call = await calls.store.get(id, r.principal.readableTeams());
        if (call === undefined) throw new ApiError('WEIR_NOT_FOUND', `no call with request id "${id}" (it may not be written yet, or is past retention)`);
        return { status: 200, body: await namer()(call) };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/runtime/call-log',
      operationId: 'callLogStats',
      summary: 'The call log writer\'s counters since the node started: queued, written, dropped (a queue was full), failed (the store refused), pruned.',
      tag: 'runtime',
      auth: 'user',
      response: Type.Object({ store: Type.String(), queued: Type.Integer(), written: Type.Integer(), dropped: Type.Integer(), failed: Type.Integer(), pruned: Type.Integer() }),
      async handle() {
        return { status: 200, body: calls.stats() };
      },
    },
  ];
}

/** A time query parameter: ISO 8601 date-time or epoch ms. */
export function timeParam(q: URLSearchParams, name: string): number | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (Number.isNaN(ms)) throw new ApiError('WEIR_VALIDATION_FAILED', `${name} is an ISO 8601 date-time or epoch milliseconds (got "${raw}")`);
  return ms;
}

/** The query's filters, with the caller's team isolation. */
async function filterOf(store: ConfigStore, r: ApiRequest): Promise<CallFilter> {
  const q = r.query;
  const filter: CallFilter = { teams: await teamsToList(store, r.principal, q) };
  const time = (name: string) => timeParam(q, name);
  const number = (name: string): number | undefined => {
    const raw = q.get(name);
    if (raw === null) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < 0) throw new ApiError('WEIR_VALIDATION_FAILED', `${name} is a number of milliseconds (got "${raw}")`);
    return n;
  };
  const text = (name: string): string | undefined => q.get(name) ?? undefined;
  filter.from = time('from');
  filter.to = time('to');
  filter.api = text('api');
  filter.route = text('route');
  filter.consumer = text('consumer');
  filter.errorCode = text('errorCode');
  filter.pathContains = text('path');
  filter.requestId = text('requestId');
  filter.minLatencyMs = number('minLatency');
  filter.maxLatencyMs = number('maxLatency');
  const status = q.get('status');
  if (status !== null) {
    const match = /^([1-5])(xx|\d\d)$/i.exec(status);
    if (match === null) throw new ApiError('WEIR_VALIDATION_FAILED', `status is a status (404) or a class (5xx) (got "${status}")`);
    if (match[2]!.toLowerCase() === 'xx') filter.statusClass = Number(match[1]);
    else filter.status = Number(status);
  }
  for (const key of Object.keys(filter) as Array<keyof CallFilter>) if (filter[key] === undefined) delete filter[key];
  return filter;
}

async function streamExport(
  res: ServerResponse,
  format: 'ndjson' | 'csv',
  max: number,
  filter: CallFilter,
  calls: CallLogWriter,
  view: (call: StoredCall) => Promise<Record<string, unknown>>,
  requestId: string,
): Promise<void> {
  res.writeHead(200, {
    'content-type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
    'content-disposition': `attachment; filename="calls.${format}"`,
    'cache-control': 'no-store',
    'x-request-id': requestId,
  });
  if (res.req.method === 'HEAD') return void res.end();
  if (format === 'csv') res.write(`${CSV_COLUMNS.join(',')}\r\n`);
  let after: string | null = null;
  let sent = 0;
  while (sent < max && !res.destroyed) {
    const page: Awaited<ReturnType<typeof calls.store.list>> = await calls.store.list(filter, { limit: Math.min(EXPORT_PAGE, max - sent), after });
    let chunk = '';
    for (const call of page.items) {
      const item = await view(call);
      chunk += format === 'csv' ? `${CSV_COLUMNS.map((c) => csvField(c === 'targets' ? (item[c] as string[]).join(' ') : item[c])).join(',')}\r\n` : `${JSON.stringify(item)}\n`;
    }
    sent += page.items.length;
    if (chunk !== '' && !res.write(chunk)) await once(res, 'drain');
    if (page.next === null) break;
    after = page.next;
  }
  res.end();
}

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; a text starting
 * with = + - @ gets a leading ' so a spreadsheet shows it instead of running it as a formula.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
