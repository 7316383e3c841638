/**
 * Async flows: a request answered 202 with `Location: {jobs.path}/{id}` while the flow runs in the
 * background. Jobs live in the store, so any process of any node can answer `GET {path}/{id}`.
 *
 * A running job is leased to the process running it, which renews the lease while it runs. When a
 * process dies (a crash, a restart), its leases run out and another process — or the same one,
 * restarted — takes the job over: it runs it again if every call of the flow is safe to repeat
 * (GET, HEAD, or a step marked idempotent), and otherwise marks it failed, saying why. A job is
 * never left "running" forever and never silently lost.
 *
 * A job may name a callback URL (`Weir-Callback-Url`, to an allowed host): the job document is
 * POSTed there when the job ends, signed with HMAC-SHA256 (`Weir-Signature: t=…,v1=…` over
 * "t.body"), and retried with exponential back-off until a 2xx or the attempts run out. Deliveries
 * are in the store too, so they survive restarts.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'undici';
import type { Logger } from '../observability/logger.js';
import type { FlowStateStore, JobRecord, StoredResponse } from '../store/flow-state.js';
import { runFlowRequest, type FlowRequest, type FlowRoute, type FlowSettings } from './handler.js';
import type { FlowPlan } from './plan.js';
import { jsonResponse, problemResponse } from './response.js';

export interface JobOptions {
  /** Where clients read jobs: GET {path}/{id}. */
  path: string;
  /** How long a finished job is kept. */
  retentionMs: number;
  /** How long a running job stays with a process that stopped renewing. */
  leaseMs: number;
  callbacks: {
    allowHosts: string[];
    /** Name of the environment variable with the signing key. */
    secretEnv: string;
    attempts: number;
    initialBackoffMs: number;
    maxBackoffMs: number;
    timeoutMs: number;
  };
}

/** The flows of the current config, by name, with what running one needs. */
export type FlowLookup = (name: string) => { target: FlowRoute; settings: FlowSettings } | undefined;

/** Runs that a job taken over after crashes may get before it is failed. */
const MAX_RUNS = 3;

export class JobRunner {
  private readonly running = new Map<string, Promise<void>>();
  private timers: NodeJS.Timeout[] = [];
  private delivering = false;
  private stopped = false;

  constructor(
    private readonly store: FlowStateStore,
    private readonly log: Logger,
    private readonly owner: string,
    private options: JobOptions,
    private readonly flows: FlowLookup,
  ) {}

  get path(): string {
    return this.options.path;
  }

  /** A reload may change the options; jobs in flight keep running. */
  configure(options: JobOptions): void {
    this.options = options;
  }

  /** Starts taking over abandoned jobs, delivering callbacks and purging expired records. */
  start(): void {
    const every = (ms: number, task: () => Promise<unknown>) => {
      const timer = setInterval(() => void task().catch((err: unknown) => this.log.error({ err }, 'job maintenance failed')), ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(Math.max(100, this.options.leaseMs / 2), () => this.recover());
    every(250, () => this.deliverDue());
    every(60_000, () => this.store.purgeExpired(Date.now()));
    void this.recover().catch((err: unknown) => this.log.error({ err }, 'taking over abandoned jobs failed'));
  }

  /** Stops the loops and waits up to `graceMs` for jobs running here; the rest are taken over later. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    await Promise.race([Promise.allSettled([...this.running.values()]), grace]);
    clearTimeout(timer);
  }

  /** Whether `text` may receive callbacks; callbacks need a signing key and an allowed host. */
  checkCallbackUrl(text: string): { ok: true; url: string } | { ok: false; detail: string } {
    const { allowHosts, secretEnv } = this.options.callbacks;
    if (!process.env[secretEnv]) return { ok: false, detail: `callbacks are off on this gateway (no signing key in ${secretEnv})` };
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      return { ok: false, detail: 'Weir-Callback-Url is not an absolute URL' };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, detail: 'a callback URL is http or https' };
    if (url.username !== '' || url.password !== '') return { ok: false, detail: 'a callback URL carries no credentials' };
    if (!hostAllowed(url, allowHosts)) return { ok: false, detail: `callbacks may go to: ${allowHosts.join(', ') || 'no host (jobs.callbacks.allowHosts is empty)'}` };
    return { ok: true, url: url.href };
  }

  /** Stores a job for the flow, starts it here, and answers 202 with where to find it. */
  async submit(target: FlowRoute, request: FlowRequest, requestId: string, callbackUrl: string | null): Promise<StoredResponse> {
    const id = randomBytes(16).toString('base64url');
    const now = Date.now();
    await this.store.createJob({ id, flow: target.flow.name, request, requestId, callbackUrl }, this.owner, now + this.options.leaseMs, now);
    this.track(id, target, request, requestId);
    const location = `${this.options.path}/${id}`;
    return jsonResponse(202, { id, status: 'running', location }, { location });
  }

  /** The answer to GET {path}/{id}. */
  async status(id: string, requestId: string, instance: string | undefined): Promise<StoredResponse> {
    const job = await this.store.getJob(id);
    if (job === undefined) return problemResponse('WEIR_JOB_NOT_FOUND', `no job "${id}" (finished jobs are kept for ${Math.round(this.options.retentionMs / 1000)} s)`, requestId, instance);
    return jsonResponse(200, jobDocument(job, this.options.path), job.state === 'running' ? { 'retry-after': '1' } : {});
  }

  private track(id: string, target: FlowRoute, request: FlowRequest, requestId: string): void {
    const run = this.execute(id, target, request, requestId)
      .catch((err: unknown) => this.log.error({ err, jobId: id }, 'job crashed'))
      .finally(() => this.running.delete(id));
    this.running.set(id, run);
  }

  private async execute(id: string, target: FlowRoute, request: FlowRequest, requestId: string): Promise<void> {
    const renew = setInterval(() => {
      this.store
        .renewJob(id, this.owner, Date.now() + this.options.leaseMs)
        .then((mine) => mine || this.log.warn({ jobId: id }, 'job lease lost to another process while running'))
        .catch((err: unknown) => this.log.error({ err, jobId: id }, 'renewing a job lease failed'));
    }, Math.max(50, this.options.leaseMs / 3));
    renew.unref();
    let response: StoredResponse;
    try {
      const settings = this.flows(target.flow.name)?.settings;
      if (settings === undefined) throw new Error(`flow "${target.flow.name}" is no longer configured`);
      response = await runFlowRequest(target, request, requestId, undefined, settings);
    } finally {
      clearInterval(renew);
    }
    const now = Date.now();
    await this.store.finishJob(id, this.owner, { state: response.status < 400 ? 'succeeded' : 'failed', response, error: null }, now, now + this.options.retentionMs);
    this.log.info({ jobId: id, flow: target.flow.name, status: response.status, requestId }, 'job finished');
    void this.deliverDue();
  }

  /** Takes over jobs whose process stopped renewing them: runs them again when that is safe. */
  private async recover(): Promise<void> {
    while (!this.stopped) {
      const now = Date.now();
      const job = await this.store.claimAbandonedJob(this.owner, now + this.options.leaseMs, now);
      if (job === undefined) return;
      const found = this.flows(job.flow);
      const refuse = found === undefined ? `flow "${job.flow}" is no longer configured` : job.runs > MAX_RUNS ? `gave up after ${MAX_RUNS} runs were interrupted` : unsafeToRepeat(found.target.plan);
      if (refuse !== null) {
        const error = `the process running this job stopped before it finished, and it was not run again: ${refuse}`;
        await this.store.finishJob(job.id, this.owner, { state: 'failed', response: null, error }, now, now + this.options.retentionMs);
        this.log.error({ jobId: job.id, flow: job.flow, requestId: job.requestId }, `job failed: ${error}`);
        continue;
      }
      this.log.warn({ jobId: job.id, flow: job.flow, run: job.runs, requestId: job.requestId }, 'job taken over from a process that stopped; running it again');
      this.track(job.id, found!.target, job.request as FlowRequest, job.requestId);
    }
  }

  /** Delivers every due callback, one at a time (a second call while one runs does nothing). */
  private async deliverDue(): Promise<void> {
    if (this.delivering || this.stopped) return;
    this.delivering = true;
    try {
      for (;;) {
        const now = Date.now();
        const job = await this.store.claimDueCallback(this.owner, now + this.options.callbacks.timeoutMs + 5_000, now);
        if (job === undefined) return;
        await this.deliver(job);
      }
    } finally {
      this.delivering = false;
    }
  }

  private async deliver(job: JobRecord): Promise<void> {
    const { callbacks } = this.options;
    const secret = process.env[callbacks.secretEnv];
    const body = JSON.stringify(jobDocument(job, this.options.path));
    let error: string;
    if (!secret) {
      error = `no signing key in ${callbacks.secretEnv}`;
    } else {
      const t = Math.floor(Date.now() / 1000);
      const signature = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
      try {
        const res = await request(job.callbackUrl!, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', 'user-agent': 'weir', 'weir-job-id': job.id, 'weir-signature': `t=${t},v1=${signature}` },
          headersTimeout: callbacks.timeoutMs,
          bodyTimeout: callbacks.timeoutMs,
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          await this.store.recordCallback(job.id, { state: 'delivered', nextAt: 0, error: null });
          this.log.info({ jobId: job.id, attempts: job.callback.attempts }, 'job callback delivered');
          return;
        }
        error = `answered ${res.statusCode}`;
      } catch (err) {
        error = (err as { code?: string }).code ?? (err as Error).message;
      }
    }
    const attempts = job.callback.attempts;
    if (attempts >= callbacks.attempts) {
      await this.store.recordCallback(job.id, { state: 'failed', nextAt: 0, error });
      this.log.error({ jobId: job.id, url: job.callbackUrl, attempts, error }, 'job callback given up');
      return;
    }
    // Exponential back-off with equal jitter: at least half the step, so retries really wait.
    const step = Math.min(callbacks.maxBackoffMs, callbacks.initialBackoffMs * 2 ** (attempts - 1));
    const wait = step / 2 + Math.random() * (step / 2);
    await this.store.recordCallback(job.id, { state: 'pending', nextAt: Date.now() + wait, error });
    this.log.warn({ jobId: job.id, url: job.callbackUrl, attempts, error, retryInMs: Math.round(wait) }, 'job callback failed; will retry');
  }
}

/** What GET {path}/{id} and callbacks carry. */
function jobDocument(job: JobRecord, path: string): Record<string, unknown> {
  const response = job.response === null ? null : { status: job.response.status, headers: job.response.headers, body: parseBody(job.response.body) };
  return {
    id: job.id,
    flow: job.flow,
    status: job.state,
    location: `${path}/${job.id}`,
    requestId: job.requestId,
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt === null ? null : new Date(job.finishedAt).toISOString(),
    runs: job.runs,
    response,
    error: job.error,
    callback: job.callbackUrl === null ? null : { url: job.callbackUrl, ...job.callback },
  };
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Why the flow may not run again after an interruption, or null when every call is safe to repeat. */
export function unsafeToRepeat(plan: FlowPlan): string | null {
  for (const step of plan.steps) {
    if (step.kind === 'transform') continue;
    const method = step.call.method;
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || step.config.idempotent) continue;
    return `step "${step.name}" (${method}) is not safe to repeat (mark it idempotent: true if its upstream tolerates duplicates)`;
  }
  return null;
}

/** `host` (any port), `host:port`, or `*.domain` (its subdomains). */
function hostAllowed(url: URL, allowHosts: readonly string[]): boolean {
  const host = url.hostname.toLowerCase();
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return allowHosts.some((entry) => {
    const pattern = entry.toLowerCase();
    const [name, onlyPort] = pattern.startsWith('[') ? [pattern.slice(0, pattern.indexOf(']') + 1), pattern.split(']:')[1]] : pattern.split(':');
    if (onlyPort !== undefined && onlyPort !== port) return false;
    if (name!.startsWith('*.')) return host.endsWith(name!.slice(1));
    return host === name;
  });
}
