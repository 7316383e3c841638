/** How often a node retries Redis after a failed command while the connection looks ready. */
const RETRY_AFTER_FAILURE_MS = 1_000;

/**
 * Whether a Redis store is usable right now, and the log lines of its outages: `failed` starts an
 * outage (reported once through `onDown`) and holds further attempts off for a second; the first
 * success after it ends the outage (`onBack`). Shared by the rate-limit counters and the
 * response cache.
 */
export class RedisOutage {
  private down = false;
  private downSince = 0;
  private retryAt = 0;

  constructor(
    private readonly onDown: (err: Error) => void,
    private readonly onBack: (downForMs: number) => void,
  ) {}

  get isDown(): boolean {
    return this.down;
  }

  /** False for a second after a failure. */
  mayTry(now = Date.now()): boolean {
    return now >= this.retryAt;
  }

  failed(err: Error): void {
    this.retryAt = Date.now() + RETRY_AFTER_FAILURE_MS;
    if (this.down) return;
    this.down = true;
    this.downSince = Date.now();
    this.onDown(err);
  }

  /** The connection is ready again: the next command tries Redis; its success ends the outage. */
  connected(): void {
    this.retryAt = 0;
  }

  succeeded(): void {
    if (!this.down) return;
    this.down = false;
    this.onBack(Date.now() - this.downSince);
  }

  /** A new connection: no outage known yet. */
  reset(): void {
    this.down = false;
    this.retryAt = 0;
  }
}
