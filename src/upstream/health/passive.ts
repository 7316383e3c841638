import type { PassiveHealthConfig } from '../../config/types.js';

/**
 * Ejects a target after `failures` consecutive failed proxied requests, for `ejectForMs`. A
 * target that fails again straight after coming back (no success in between) is ejected for
 * twice as long each time, up to `maxEjectForMs`, so a dead target is not hammered every few
 * seconds. One per target; the owner marks the target unavailable while `onChange(true)` holds.
 * @example
 * const health = new PassiveHealth(config, (ejected) => { target.available = !ejected; });
 * health.recordStatus(res.statusCode);
 */
export class PassiveHealth {
  readonly #failureStatuses: ReadonlySet<number>;
  /** Consecutive failures since the last success or ejection. */
  #failures = 0;
  /** Ejections since the last success; sets the length of the next one. */
  #ejections = 0;
  #ejectedUntil = -Infinity;
  #returnTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: PassiveHealthConfig,
    private readonly onChange: (ejected: boolean) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.#failureStatuses = new Set(config.onStatuses);
  }

  get ejected(): boolean {
    return this.now() < this.#ejectedUntil;
  }

  // While ejected, outcomes are of requests sent before the ejection: they say nothing new.
  recordSuccess(): void {
    if (this.ejected) return;
    this.#failures = 0;
    this.#ejections = 0;
  }

  recordFailure(): void {
    if (this.ejected) return;
    if (++this.#failures >= this.config.failures) this.#eject();
  }

  /** A response status: a failure if listed in `onStatuses`, otherwise a success. */
  recordStatus(status: number): void {
    if (this.#failureStatuses.has(status)) this.recordFailure();
    else this.recordSuccess();
  }

  /** Stops the pending return timer; call when the target is discarded. */
  close(): void {
    clearTimeout(this.#returnTimer);
    this.#returnTimer = undefined;
  }

  #eject(): void {
    const { ejectForMs, maxEjectForMs } = this.config;
    const period = Math.min(maxEjectForMs, ejectForMs * 2 ** Math.min(this.#ejections, 30));
    this.#ejections++;
    this.#failures = 0;
    this.#ejectedUntil = this.now() + period;
    this.close();
    // Unref'd: a pending return must not keep the process alive on shutdown.
    this.#returnTimer = setTimeout(() => this.#readmit(), period).unref();
    this.onChange(true);
  }

  #readmit(): void {
    // Ends the ejection outright: the timer may fire a little before now() reaches
    // #ejectedUntil (libuv times from its cached loop clock), and `ejected` must read false
    // when the owner re-checks it inside onChange.
    this.#ejectedUntil = -Infinity;
    this.onChange(false);
  }
}
