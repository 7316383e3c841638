/*
 * Hand-written rather than cockatiel's CircuitBreakerPolicy: cockatiel wraps each call in a
 * promise (`execute(fn)`) and only moves from open to half-open lazily inside `execute`, and in
 * half-open it queues callers behind a single trial. A balancer must know synchronously, before
 * any call, whether a target is pickable, must be told when an open circuit becomes pickable
 * again with no traffic arriving (so the target is marked available), and the proxy reports
 * outcomes itself after streaming a response. A small state machine with explicit
 * tryAcquire/onSuccess/onFailure fits that; the promise wrapper does not.
 */
import type { BreakerConfig } from '../config/types.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker for one target. Every `tryAcquire()` that returns true must be followed by
 * exactly one of `onSuccess()`, `onFailure()` or `release()`.
 * @example
 * const breaker = new CircuitBreaker(config, (state) => { target.available = state !== 'open'; });
 * if (breaker.tryAcquire()) { try { await send(); breaker.onSuccess(); } catch { breaker.onFailure(); } }
 */
export class CircuitBreaker {
  #state: BreakerState = 'closed';
  /** Consecutive failures while closed. */
  #failures = 0;
  #openedAt = 0;
  /** Half-open trials handed out and not yet reported, and trials that succeeded. */
  #trialsInFlight = 0;
  #trialsSucceeded = 0;
  #halfOpenTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: BreakerConfig,
    private readonly onChange?: (state: BreakerState) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): BreakerState {
    return this.#state;
  }

  /** True while requests must not go to this target. No clock read: the timer keeps it current. */
  isOpen(): boolean {
    return this.#state === 'open';
  }

  /** Whether a request may be sent now; in half-open, claims one of the trial slots. */
  tryAcquire(): boolean {
    if (this.#state === 'open') {
      if (this.now() - this.#openedAt < this.config.openForMs) return false;
      this.#enterHalfOpen();
    }
    if (this.#state === 'closed') return true;
    if (this.#trialsInFlight >= this.config.halfOpenRequests) return false;
    this.#trialsInFlight++;
    return true;
  }

  onSuccess(): void {
    if (this.#state === 'closed') {
      this.#failures = 0;
    } else if (this.#state === 'half-open') {
      this.#endTrial();
      if (++this.#trialsSucceeded >= this.config.halfOpenRequests) this.#transition('closed');
    }
    // Open: a late answer to a request sent before the circuit opened proves nothing new.
  }

  onFailure(): void {
    if (this.#state === 'closed') {
      if (++this.#failures >= this.config.failureThreshold) this.#open();
    } else if (this.#state === 'half-open') {
      this.#endTrial();
      this.#open();
    }
  }

  /** Gives back a trial slot for a request abandoned without an outcome (e.g. client went away). */
  release(): void {
    if (this.#state === 'half-open') this.#endTrial();
  }

  /** Stops the pending open → half-open timer; call when the target is discarded. */
  close(): void {
    clearTimeout(this.#halfOpenTimer);
    this.#halfOpenTimer = undefined;
  }

  #open(): void {
    this.#openedAt = this.now();
    this.#transition('open');
    // Unref'd: a pending breaker must not keep the process alive on shutdown.
    this.#halfOpenTimer = setTimeout(() => this.#enterHalfOpen(), this.config.openForMs).unref();
  }

  #enterHalfOpen(): void {
    if (this.#state !== 'open') return;
    this.#trialsInFlight = 0;
    this.#trialsSucceeded = 0;
    this.#transition('half-open');
  }

  #endTrial(): void {
    if (this.#trialsInFlight > 0) this.#trialsInFlight--;
  }

  #transition(state: BreakerState): void {
    this.close();
    this.#state = state;
    this.#failures = 0;
    this.onChange?.(state);
  }
}
