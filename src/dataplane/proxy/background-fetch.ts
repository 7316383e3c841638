import type { Dispatcher } from 'undici';
import { WeirError } from '../../errors.js';
import type { UpstreamService, UpstreamTarget } from '../../upstream/service.js';
import { attemptResultOf } from '../../upstream/outcome.js';
import type { UpstreamAnswer } from '../pipeline/plugin.js';
import { downstreamResponseHeaders, type ForwardingInfo } from './headers.js';

/**
 * The dispatch handler of `fetchUpstream`: one attempt to one target, no client; the answer is
 * collected (up to `maxBytes`) and the target's health is told the outcome as for any request.
 */
export class BackgroundFetch implements Dispatcher.DispatchHandler {
  private status = 0;
  private headers: string[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly service: UpstreamService,
    private readonly target: UpstreamTarget,
    private readonly info: ForwardingInfo,
    private readonly maxBytes: number,
    private readonly resolve: (answer: UpstreamAnswer) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    const total = this.service.config.totalTimeoutMs;
    if (total > 0) this.timer = setTimeout(() => abort(new WeirError('WEIR_UPSTREAM_TIMEOUT')), total);
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    if (status < 200) return true;
    this.status = status;
    this.headers = downstreamResponseHeaders(rawHeaders, this.info);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.size += chunk.length;
    if (this.size <= this.maxBytes) this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    if (!this.end()) return;
    this.service.record(this.target, this.status >= 500 ? 'failure' : 'success', this.status);
    this.resolve({ status: this.status, headers: this.headers, body: this.size <= this.maxBytes ? Buffer.concat(this.chunks, this.size) : null });
  }

  onError(err: Error): void {
    if (!this.end()) return;
    this.service.record(this.target, err instanceof WeirError ? 'timeout' : attemptResultOf((err as { code?: string }).code ?? ''));
    this.reject(err);
  }

  private end(): boolean {
    if (this.done) return false;
    this.done = true;
    this.target.active--;
    if (this.timer !== null) clearTimeout(this.timer);
    return true;
  }
}
