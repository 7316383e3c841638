import { Agent, request } from 'undici';
import type { ActiveHealthConfig } from '../../config/types.js';

export interface ActiveHealthOptions {
  targets: readonly { id: string; origin: string }[];
  config: ActiveHealthConfig;
  /** Called when a target flips between healthy and unhealthy (not on every probe). */
  onChange: (id: string, healthy: boolean) => void;
}

interface ProbedTarget {
  readonly id: string;
  readonly url: string;
  healthy: boolean;
  /** Consecutive outcomes of the kind that would flip `healthy`. */
  successes: number;
  failures: number;
  /** A probe is in flight: a slow target gets no second one piled on it. */
  probing: boolean;
}

/**
 * Probes `GET origin + path` on every target each `intervalMs`. Targets start healthy; one
 * turns unhealthy after `unhealthyThreshold` consecutive failed probes (connection error,
 * timeout, unexpected status) and healthy again after `healthyThreshold` consecutive good ones.
 * Probes use their own connection pool so they neither queue behind nor hold up proxied traffic.
 * @example
 * const checker = new ActiveHealthChecker({ targets, config, onChange: (id, ok) => markAvailable(id, ok) });
 * checker.start();
 */
export class ActiveHealthChecker {
  readonly #targets: Map<string, ProbedTarget>;
  readonly #config: ActiveHealthConfig;
  readonly #onChange: (id: string, healthy: boolean) => void;
  #timer: NodeJS.Timeout | undefined;
  #agent: Agent | undefined;
  /** Aborted by stop(): cancels in-flight probes and silences their outcome. */
  #running: AbortController | undefined;

  constructor({ targets, config, onChange }: ActiveHealthOptions) {
    this.#config = config;
    this.#onChange = onChange;
    this.#targets = new Map(
      targets.map(({ id, origin }) => [
        id,
        { id, url: origin + config.path, healthy: true, successes: 0, failures: 0, probing: false },
      ]),
    );
  }

  /** False for an unhealthy target, and for an id this checker does not probe. */
  isHealthy(id: string): boolean {
    return this.#targets.get(id)?.healthy ?? false;
  }

  /** Probes every target now and then every `intervalMs`. */
  start(): void {
    if (this.#running !== undefined) return;
    const running = new AbortController();
    const agent = new Agent({ connect: { timeout: this.#config.timeoutMs } });
    this.#running = running;
    this.#agent = agent;
    const probeAll = (): void => {
      for (const target of this.#targets.values()) {
        if (!target.probing) void this.#probe(target, agent, running.signal);
      }
    };
    probeAll();
    // Unref'd: health checks alone must not keep the process alive.
    this.#timer = setInterval(probeAll, this.#config.intervalMs).unref();
  }

  /** Stops probing; resolves once in-flight probes are cancelled and connections closed. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#running?.abort();
    const agent = this.#agent;
    this.#timer = this.#agent = this.#running = undefined;
    await agent?.destroy();
  }

  async #probe(target: ProbedTarget, agent: Agent, running: AbortSignal): Promise<void> {
    target.probing = true;
    let healthy: boolean;
    try {
      const signal = AbortSignal.any([running, AbortSignal.timeout(this.#config.timeoutMs)]);
      const res = await request(target.url, {
        method: 'GET',
        dispatcher: agent,
        signal,
        headers: { 'user-agent': 'weir-health-check' },
      });
      // Read to the end (or drop the connection if it is large) so the socket can be reused.
      await res.body.dump({ limit: 128 * 1024, signal });
      healthy = this.#isExpected(res.statusCode);
    } catch {
      healthy = false;
    } finally {
      target.probing = false;
    }
    if (!running.aborted) this.#record(target, healthy);
  }

  #isExpected(status: number): boolean {
    const expected = this.#config.expectStatus;
    return expected.length === 0 ? status >= 200 && status < 400 : expected.includes(status);
  }

  #record(target: ProbedTarget, healthy: boolean): void {
    if (healthy) {
      target.failures = 0;
      if (target.healthy || ++target.successes < this.#config.healthyThreshold) return;
    } else {
      target.successes = 0;
      if (!target.healthy || ++target.failures < this.#config.unhealthyThreshold) return;
    }
    target.healthy = healthy;
    target.successes = target.failures = 0;
    this.#onChange(target.id, healthy);
  }
}
