/**
 * The control plane of a node: the config store, the first admin, the admin API, and keeping the
 * running config in step with the store — reloaded at once after a write through this node, and
 * within POLL_MS after a write through any other node sharing the store (its revision changed).
 */
import { AdminApi } from '../admin/api/index.js';
import type { RuntimeSources } from '../admin/api/activity.js';
import { ensureFirstAdmin } from '../admin/api/auth.js';
import type { Logger } from '../observability/logger.js';
import type { ConfigWatcher } from '../runtime/config-watcher.js';
import type { ConfigStore, Resource } from '../store/config-store.js';
import { SqliteConfigStore } from '../store/sqlite-config-store.js';

const POLL_MS = 500;

export class ControlPlane {
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    readonly store: ConfigStore,
    private readonly log: Logger,
  ) {}

  /** Opens the store in `dataDir` and makes sure someone can sign in. */
  static async open(dataDir: string, log: Logger, adminPassword?: string): Promise<ControlPlane> {
    const store = new SqliteConfigStore(dataDir);
    await ensureFirstAdmin(store, log, adminPassword);
    return new ControlPlane(store, log);
  }

  /** What the config watcher adds to the file. */
  readonly resources = (): Promise<readonly Resource[]> => this.store.allResources();

  /** The admin API over this store, reloading `watcher` on changes; starts watching the store's revision. */
  async attach(watcher: ConfigWatcher, runtime: RuntimeSources): Promise<AdminApi> {
    const api = new AdminApi(this.store, { fileText: () => watcher.loaded?.fileText ?? '', changed: () => void watcher.reload('admin API change') }, runtime, this.log);
    let seen = await this.store.revision();
    this.timer = setInterval(() => {
      this.store.revision().then(
        (revision) => {
          if (revision === seen) return;
          seen = revision;
          void watcher.reload('the store changed');
        },
        (err: unknown) => this.log.error({ err }, 'reading the store revision failed'),
      );
    }, POLL_MS);
    this.timer.unref();
    return api;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.store.close();
  }
}
