/**
 * Analytics over the call log's rollups: time series at a resolution (minute, hour, day) and
 * top-N lists, grouped by API, route, consumer, team or status class. Each query reads the rollup
 * table of its resolution (minute, hourly or daily: see `src/calls/store.ts`), never raw records,
 * so a month by day sums a few tens of thousands of rows. Team isolation is the call log's: a
 * team member sees their teams' APIs and routes only, system admins everything.
 */
import { Type } from '@sinclair/typebox';
import type { ConfigStore } from '../../store/config-store.js';
import type { CallLogWriter } from '../../calls/writer.js';
import { LATENCY_BUCKETS_MS, quantileMs } from '../../calls/record.js';
import { PERIOD_MS, addSums, emptySums, type AggregateQuery, type GroupBy, type Resolution, type RollupSums } from '../../calls/store.js';
import { ApiError, type ApiRequest, type Operation } from './kit.js';
import { teamsToList } from './identity.js';
import { timeParam } from './calls.js';

const DAY = PERIOD_MS.day;

/** The longest range each resolution answers (so a series has at most ~10,000 points per group). */
const MAX_RANGE_MS: Record<Resolution, number> = { minute: 7 * DAY, hour: 400 * DAY, day: 5 * 366 * DAY };
/** The range when `from` is not given: the last hour, day or 30 days. */
const DEFAULT_RANGE_MS: Record<Resolution, number> = { minute: 3_600_000, hour: DAY, day: 30 * DAY };

const GROUPS: readonly GroupBy[] = ['api', 'route', 'consumer', 'team', 'status'];
const METRICS = ['requests', 'errors', 'errorRate', 'p95'] as const;
type Metric = (typeof METRICS)[number];

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const StatsFields = {
  requests: Type.Integer(),
  errors: Type.Integer({ description: 'Requests answered 5xx, or refused with a WEIR_… error code (as the call log counts them).' }),
  errorRate: Type.Number({ description: 'errors / requests (0 without requests).' }),
  p50Ms: Nullable(Type.Number({ description: 'From the latency histogram: the upper bound of the bucket holding the rank (60000 means 60 s or more).' })),
  p95Ms: Nullable(Type.Number()),
  p99Ms: Nullable(Type.Number()),
  meanMs: Nullable(Type.Number()),
  bytesIn: Type.Integer(),
  bytesOut: Type.Integer(),
};
const Stats = Type.Object(StatsFields);
const Point = Type.Object({ at: Type.String({ format: 'date-time', description: 'Start of the minute, hour or day (UTC).' }), ...StatsFields });

const Group = Nullable(Type.String({ description: 'The API, route, consumer or team name, or the status class (2xx…5xx); null: the calls had none (the file\'s routes have no API nor team; unidentified callers no consumer). Without groupBy: null.' }));

const Range = {
  resolution: Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')]),
  from: Type.String({ format: 'date-time', description: 'The range answered, aligned to the resolution: from rounded down.' }),
  to: Type.String({ format: 'date-time', description: 'To rounded up (exclusive).' }),
};

const SeriesView = Type.Object(
  {
    ...Range,
    groupBy: Nullable(Type.String()),
    series: Type.Array(
      Type.Object({
        group: Group,
        total: Stats,
        points: Type.Array(Point, { description: 'Oldest first; periods without calls are left out.' }),
      }),
    ),
  },
  { $id: 'AnalyticsSeries' },
);

const TopView = Type.Object(
  {
    ...Range,
    by: Type.String(),
    metric: Type.String(),
    items: Type.Array(Type.Object({ group: Group, ...StatsFields }), { description: 'Highest first.' }),
  },
  { $id: 'AnalyticsTop' },
);

const FILTERS = {
  from: { schema: Type.String(), description: 'Start (ISO 8601 date-time or epoch ms), rounded down to the resolution. Default: to − 1 h (minute), 24 h (hour), 30 days (day).' },
  to: { schema: Type.String(), description: 'End, exclusive, rounded up to the resolution (default: now).' },
  team: { schema: Type.String(), description: "Only this team's APIs and routes (by team name)." },
  api: { schema: Type.String(), description: "Only this API's calls." },
  route: { schema: Type.String(), description: "Only this route's (or flow's)." },
  consumer: { schema: Type.String(), description: "Only this consumer's." },
};

export function analyticsOperations(store: ConfigStore, calls: CallLogWriter): Operation[] {
  return [
    {
      method: 'GET',
      path: '/api/v1/analytics/series',
      operationId: 'analyticsSeries',
      summary: 'Time series from the call log\'s rollups: requests, errors, error rate, p50/p95/p99 latency and bytes per minute, hour or day, optionally one series per API, route, consumer, team or status class.',
      tag: 'analytics',
      auth: 'user',
      query: {
        resolution: { schema: Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')], { default: 'hour' }), description: 'minute (ranges up to 7 days), hour (default; up to 400 days) or day.' },
        groupBy: { schema: Type.Union(GROUPS.map((g) => Type.Literal(g))), description: 'One series per api, route, consumer, team or status (class). Default: one series of everything.' },
        ...FILTERS,
      },
      response: SeriesView,
      errors: ['WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const resolution = choice(r.query, 'resolution', ['minute', 'hour', 'day'] as const, 'hour');
        const groupBy = choice(r.query, 'groupBy', GROUPS, null);
        const query = await queryOf(store, r, resolution, groupBy);
        const rows = await calls.store.aggregate(query);
        const names = await groupNamer(store, groupBy);
        const byGroup = new Map<string, { group: string | null; total: RollupSums; points: Array<Record<string, unknown>> }>();
        for (const row of rows) {
          let series = byGroup.get(row.group);
          if (series === undefined) byGroup.set(row.group, (series = { group: await names(row.group), total: emptySums(), points: [] }));
          addSums(series.total, row);
          series.points.push({ at: new Date(row.period).toISOString(), ...statsOf(row) });
        }
        const series = [...byGroup.values()].map((s) => ({ group: s.group, total: statsOf(s.total), points: s.points }));
        return { status: 200, body: { ...rangeView(query), groupBy, series } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/analytics/top',
      operationId: 'analyticsTop',
      summary: 'The top APIs, routes, consumers or teams over a range by requests, errors, error rate or p95 latency.',
      tag: 'analytics',
      auth: 'user',
      query: {
        by: { schema: Type.Union(GROUPS.filter((g) => g !== 'status').map((g) => Type.Literal(g)), { default: 'route' }), description: 'What is ranked: api, route (default), consumer or team.' },
        metric: { schema: Type.Union(METRICS.map((m) => Type.Literal(m)), { default: 'requests' }), description: 'requests (default), errors, errorRate or p95.' },
        limit: { schema: Type.Integer({ minimum: 1, maximum: 100, default: 10 }), description: 'How many (default 10).' },
        minRequests: { schema: Type.Integer({ minimum: 1, default: 1 }), description: 'Leave out groups with fewer requests (so errorRate and p95 are not topped by a single call; default 1).' },
        ...FILTERS,
      },
      response: TopView,
      errors: ['WEIR_VALIDATION_FAILED'],
      async handle(r) {
        const by = choice(r.query, 'by', GROUPS.filter((g) => g !== 'status'), 'route');
        const metric = choice(r.query, 'metric', METRICS, 'requests');
        const limit = integer(r.query, 'limit', 1, 100, 10);
        const minRequests = integer(r.query, 'minRequests', 1, Number.MAX_SAFE_INTEGER, 1);
        const to = timeParam(r.query, 'to') ?? Date.now();
        const from = timeParam(r.query, 'from') ?? to - 30 * DAY;
        // The coarsest table whose periods the range spans several of; the range is widened to it.
        const span = to - from;
        const resolution: Resolution = span >= 3 * DAY ? 'day' : span >= 3 * PERIOD_MS.hour ? 'hour' : 'minute';
        const query = await queryOf(store, r, resolution, by, { from, to });
        const rows = await calls.store.aggregate({ ...query, overall: true });
        const ranked = rows
          .filter((row) => row.count >= minRequests)
          .map((row) => ({ row, stats: statsOf(row) }))
          .sort((a, b) => rank(b.stats, metric) - rank(a.stats, metric) || b.row.count - a.row.count || (a.row.group < b.row.group ? -1 : 1))
          .slice(0, limit);
        const names = await groupNamer(store, by);
        const items = await Promise.all(ranked.map(async ({ row, stats }) => ({ group: await names(row.group), ...stats })));
        return { status: 200, body: { ...rangeView(query), by, metric, items } };
      },
    },
  ];
}

/** The store query of a request: its range aligned to the resolution, its filters, the caller's teams. */
async function queryOf(store: ConfigStore, r: ApiRequest, resolution: Resolution, groupBy: GroupBy | null, range?: { from: number; to: number }): Promise<AggregateQuery> {
  const period = PERIOD_MS[resolution];
  const rawTo = range?.to ?? timeParam(r.query, 'to') ?? Date.now();
  const rawFrom = range?.from ?? timeParam(r.query, 'from') ?? rawTo - DEFAULT_RANGE_MS[resolution];
  if (rawFrom >= rawTo) throw new ApiError('WEIR_VALIDATION_FAILED', 'from must be before to');
  const from = rawFrom - (rawFrom % period);
  const to = Math.ceil(rawTo / period) * period;
  if (to - from > MAX_RANGE_MS[resolution]) {
    throw new ApiError('WEIR_VALIDATION_FAILED', `a range by ${resolution} is at most ${MAX_RANGE_MS[resolution] / DAY} days (ask for a coarser resolution)`);
  }
  const teams = await teamsToList(store, r.principal, r.query);
  const query: AggregateQuery = { resolution, from, to, teams, groupBy };
  for (const name of ['api', 'route', 'consumer'] as const) {
    const value = r.query.get(name);
    if (value !== null) query[name] = value;
  }
  return query;
}

function rangeView(query: AggregateQuery) {
  return { resolution: query.resolution, from: new Date(query.from).toISOString(), to: new Date(query.to).toISOString() };
}

function choice<T extends string, D extends T | null>(q: URLSearchParams, name: string, allowed: readonly T[], fallback: D): T | D {
  const raw = q.get(name);
  if (raw === null) return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw new ApiError('WEIR_VALIDATION_FAILED', `${name} is one of ${allowed.join(', ')} (got "${raw}")`);
  return raw as T;
}

function integer(q: URLSearchParams, name: string, min: number, max: number, fallback: number): number {
  const raw = q.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new ApiError('WEIR_VALIDATION_FAILED', `${name} is a whole number from ${min} to ${max} (got "${raw}")`);
  return n;
}

/** A group's stored value as shown: team ids become names, status classes 2xx…, '' null. */
async function groupNamer(store: ConfigStore, groupBy: GroupBy | null): Promise<(value: string) => Promise<string | null>> {
  const teams = new Map<string, string>();
  return async (value) => {
    if (groupBy === null || value === '') return null;
    if (groupBy === 'status') return `${value}xx`;
    if (groupBy !== 'team') return value;
    if (!teams.has(value)) teams.set(value, (await store.teamById(value))?.name ?? value);
    return teams.get(value)!;
  };
}

/** The numbers a period or group shows. */
export function statsOf(sums: RollupSums) {
  const quantile = (q: number) => {
    const ms = quantileMs(sums.buckets, q);
    return ms === null ? null : Number.isFinite(ms) ? ms : LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
  };
  return {
    requests: sums.count,
    errors: sums.errors,
    errorRate: sums.count === 0 ? 0 : sums.errors / sums.count,
    p50Ms: quantile(0.5),
    p95Ms: quantile(0.95),
    p99Ms: quantile(0.99),
    meanMs: sums.count === 0 ? null : Math.round((sums.latencySumMs / sums.count) * 1000) / 1000,
    bytesIn: sums.bytesIn,
    bytesOut: sums.bytesOut,
  };
}

function rank(stats: ReturnType<typeof statsOf>, metric: Metric): number {
  if (metric === 'requests') return stats.requests;
  if (metric === 'errors') return stats.errors;
  if (metric === 'errorRate') return stats.errorRate;
  return stats.p95Ms ?? -1;
}
