import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { formatIssues, parseConfig } from '../config/load.js';
import type { Config, ConfigIssue } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import { loadComposed } from '../control/compose.js';
import type { Resource } from '../store/config-store.js';

/** A config version together with the text it came from (workers re-parse the text). */
export interface LoadedConfig {
  config: Config;
  /** The file with the store's resources added: what the workers parse. */
  text: string;
  /** The file alone. */
  fileText: string;
}

/** Where the resources managed through the admin API come from (none without a store). */
export type ResourceSource = () => Promise<readonly Resource[]>;

export class InvalidConfigError extends Error {
  constructor(readonly issues: ConfigIssue[], source: string) {
    super(`invalid configuration:\n${formatIssues(issues, source)}`);
  }
}

/**
 * Owns the config file: loads it, watches it (the directory, since editors replace files by
 * renaming) and reloads on change or on request (SIGHUP). A valid edit is handed to `onChange`;
 * an invalid one is logged with every problem's line and the running config keeps serving.
 */
export class ConfigWatcher {
  readonly path: string;
  private current: LoadedConfig | null = null;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<void> = Promise.resolve();

  constructor(
    path: string,
    private readonly onChange: (loaded: LoadedConfig) => void,
    private readonly log: Logger,
    private readonly resources?: ResourceSource,
  ) {
    this.path = resolve(path);
  }

  get loaded(): LoadedConfig | null {
    return this.current;
  }

  /** Loads the file or throws InvalidConfigError listing every problem. */
  async load(): Promise<LoadedConfig> {
    const text = await readFile(this.path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new InvalidConfigError([{ path: '', line: 0, column: 0, message: `cannot read the file (${err.code ?? err.message})` }], this.path);
    });
    const result = parseConfig(text, this.path);
    if (!result.ok) throw new InvalidConfigError(result.issues, this.path);
    const resources = (await this.resources?.()) ?? [];
    if (resources.length === 0) return (this.current = { config: result.config, text, fileText: text });
    // The file is valid alone; what fails now is the store's resources against this file.
    const composed = loadComposed(text, resources, `${this.path} + store`);
    if (!composed.result.ok) throw new InvalidConfigError(composed.result.issues.map((i) => ({ ...i, line: 0, column: 0 })), `${this.path} + store`);
    return (this.current = { config: composed.result.config, text: composed.text, fileText: text });
  }

  watch(): void {
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), (_event, file) => {
      // Kubernetes ConfigMaps swap a `..data` symlink instead of touching the file itself.
      if (file !== null && file !== name && !file.startsWith('..')) return;
      if (this.debounce !== null) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => void this.reload('file changed'), 50);
    });
    this.watcher.on('error', (err) => this.log.error({ err }, 'watching the config file failed'));
  }

  /** Re-reads the file; serialised so overlapping triggers apply in order. */
  reload(reason: string): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadNow(reason));
    return this.reloading;
  }

  private async reloadNow(reason: string): Promise<void> {
    let loaded: LoadedConfig;
    try {
      const before = this.current?.config.version;
      loaded = await this.load();
      if (loaded.config.version === before) return;
    } catch (err) {
      const issues = err instanceof InvalidConfigError ? err.issues : [{ path: '', line: 0, column: 0, message: String(err) }];
      this.log.error({ reason, file: this.path, issues, report: formatIssues(issues, this.path) }, 'config reload rejected; the running config keeps serving');
      return;
    }
    this.log.info({ reason, version: loaded.config.version, routes: loaded.config.routes.length }, 'config reloaded');
    this.onChange(loaded);
  }

  stop(): void {
    this.watcher?.close();
    if (this.debounce !== null) clearTimeout(this.debounce);
  }
}
