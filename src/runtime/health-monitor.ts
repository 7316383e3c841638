import type { Config, ServiceConfig } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { ActiveHealthChecker } from '../upstream/health/active.js';

/** A change in a target's health as the active checker sees it. */
export interface HealthChange {
  service: string;
  target: string;
  healthy: boolean;
}

/**
 * Runs the active health checks of every service that has one, in one place per node (the
 * cluster primary, or the single process), so N workers do not probe N times. Changes go to
 * `onChange`, which broadcasts them to the data planes. Checkers of services whose config is
 * unchanged survive a reload with their state.
 */
export class HealthMonitor {
  private checkers = new Map<string, { key: string; checker: ActiveHealthChecker }>();
  private readonly down = new Map<string, Set<string>>();

  constructor(
    private readonly onChange: (change: HealthChange) => void,
    private readonly log: Logger,
  ) {}

  apply(config: Config): void {
    const next = new Map<string, { key: string; checker: ActiveHealthChecker }>();
    for (const [name, service] of config.services) {
      if (service.activeHealth === null) continue;
      const key = JSON.stringify([service.targets, service.activeHealth]);
      const existing = this.checkers.get(name);
      if (existing !== undefined && existing.key === key) {
        next.set(name, existing);
        continue;
      }
      existing?.checker.stop();
      this.down.delete(name);
      next.set(name, { key, checker: this.startChecker(service) });
    }
    for (const [name, { checker }] of this.checkers) {
      if (next.get(name)?.checker !== checker) {
        checker.stop();
        if (!next.has(name)) this.down.delete(name);
      }
    }
    this.checkers = next;
  }

  /** Targets currently down, for a data plane that joins late (a restarted worker). */
  snapshot(): HealthChange[] {
    const out: HealthChange[] = [];
    for (const [service, targets] of this.down) for (const target of targets) out.push({ service, target, healthy: false });
    return out;
  }

  stop(): void {
    for (const { checker } of this.checkers.values()) checker.stop();
    this.checkers.clear();
  }

  private startChecker(service: ServiceConfig): ActiveHealthChecker {
    const checker = new ActiveHealthChecker({
      targets: service.targets.map((t) => ({ id: t.origin, origin: t.origin })),
      config: service.activeHealth!,
      onChange: (target, healthy) => {
        const down = this.down.get(service.name) ?? new Set<string>();
        if (healthy) down.delete(target);
        else down.add(target);
        this.down.set(service.name, down);
        this.log.warn({ service: service.name, target, healthy }, healthy ? 'target is healthy again' : 'target failed its health checks');
        this.onChange({ service: service.name, target, healthy });
      },
    });
    checker.start();
    return checker;
  }
}
