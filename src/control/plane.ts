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
import { resolveSecrets, SecretBox } from './secrets.js';
import { routeOwners } from './apis.js';
import { hasRevisionSource, openConfigStore, type StoreLocation } from '../store/index.js';

const POLL_MS = 500;

export class ControlPlane {
  private timer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  /** The resources last read: what the node keeps serving while the store is unreachable. */
  private lastResources: readonly Resource[] = [];
  /** Set while the store cannot be reached; the node serves its last config meanwhile. */
  degraded = false;

  private constructor(
    readonly store: ConfigStore,
    private readonly log: Logger,
    /** Opens and seals secrets; absent when no key could be found (secrets are then refused). */
    readonly secrets: SecretBox | undefined,
  ) {}

  /** Opens the store (the data folder's SQLite file, or PostgreSQL) and makes sure someone can sign in. */
  static async open(location: StoreLocation, log: Logger): Promise<ControlPlane> {
    const store = await openConfigStore(location);
    // Nodes sharing PostgreSQL must share the key, so a key is generated only for a node of its own.
    let secrets: SecretBox | undefined;
    try {
      secrets = SecretBox.load(location.storeUrl === undefined ? location.dataDir : undefined);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'no secret key: secrets cannot be stored or used (set WEIR_SECRET_KEY or WEIR_SECRET_KEY_FILE)');
    }
    return new ControlPlane(store, log, secrets);
  }

  /**
   * Creates the first admin of an empty store (its password logged once). Called once the node's
   * config has loaded: a node that refuses to start has made no admin whose one-time password
   * would scroll by with the config's problems.
   */
  ensureFirstAdmin(adminPassword?: string): Promise<void> {
    return ensureFirstAdmin(this.store, this.log, adminPassword);
  }

  /**
   * What the config watcher adds to the file. While the store is unreachable, the resources last
   * read: a file edit still applies, on top of what the node was serving.
   */
  readonly resources = async (): Promise<readonly Resource[]> => {
    try {
      this.lastResources = await this.store.allResources();
      this.reachable();
    } catch (err) {
      if (!this.degraded) this.log.error({ err }, 'the store is unreachable; serving the last config');
      this.degraded = true;
    }
    const { resources, problems } = this.resolve(this.lastResources);
    if (problems.length > 0) throw new Error(`stored resources cannot be used: ${problems.join('; ')}`);
    return resources;
  };

  /** Who owns each served route (team, API, version), from the resources last read: the call log stamps records with it. */
  routeOwners(): ReturnType<typeof routeOwners> {
    if (this.ownersOf !== this.lastResources) {
      this.owners = routeOwners(this.lastResources);
      this.ownersOf = this.lastResources;
    }
    return this.owners;
  }

  private owners: ReturnType<typeof routeOwners> = new Map();
  private ownersOf: readonly Resource[] | undefined;

  /** Resources with their secrets filled in (see src/control/secrets.ts). */
  readonly resolve = (resources: readonly Resource[]) => resolveSecrets(resources, this.secrets);

  /** The admin API over this store, reloading `watcher` on changes; starts watching the store's revision. */
  async attach(watcher: ConfigWatcher, runtime: RuntimeSources): Promise<AdminApi> {
    const host = { fileText: () => watcher.loaded?.fileText ?? '', changed: () => void watcher.reload('admin API change'), resolve: this.resolve };
    const api = new AdminApi(this.store, host, runtime, this.log, this.secrets);
    let seen = await this.store.revision();
    // PostgreSQL tells of other nodes' writes as they commit; the poll is the safety net (and
    // all there is with SQLite, where the node's own processes are the only writers).
    if (hasRevisionSource(this.store)) {
      this.stopListening = await this.store.onRevision(() => void watcher.reload('another node changed the store'));
    }
    this.timer = setInterval(() => {
      this.store.revision().then(
        (revision) => {
          const recovered = this.reachable();
          if (revision === seen && !recovered) return;
          seen = revision;
          void watcher.reload(recovered ? 'the store is back' : 'the store changed');
        },
        (err: unknown) => {
          if (!this.degraded) this.log.error({ err }, 'the store is unreachable; serving the last config');
          this.degraded = true;
        },
      );
    }, POLL_MS);
    this.timer.unref();
    return api;
  }

  /** Notes that the store answered; true when it had been unreachable (the node must catch up). */
  private reachable(): boolean {
    if (!this.degraded) return false;
    this.degraded = false;
    this.log.info('the store is reachable again; catching up');
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.stopListening?.();
    await this.store.close();
  }
}
