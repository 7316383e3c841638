/**
 * Plugin references (`global.plugins`, `routes[].plugins`) checked against the plugin types this
 * build knows and their config schemas, so `weir validate` and a reload catch a misspelt plugin
 * or a bad option with its line, instead of the data plane failing later.
 */
import { builtinPlugins } from '../dataplane/plugins/index.js';
import type { PluginRegistry } from '../dataplane/pipeline/registry.js';
import { pointerOf, type Problem } from './locate.js';
import type { PluginRef, SchemaOf } from './schema.js';
import type { PluginConfig } from './types.js';

/** Plugins that are not `enabled: false`, with `config` defaulting to `{}`. */
export function enabledPlugins(refs: Array<SchemaOf<typeof PluginRef>> | undefined): PluginConfig[] {
  return (refs ?? []).filter((ref) => ref.enabled !== false).map((ref) => ({ name: ref.name, config: { ...(ref.config ?? {}) } }));
}

export function pluginProblems(config: unknown, registry: PluginRegistry = builtinPlugins): Problem[] {
  if (!isRecord(config)) return [];
  const problems: Problem[] = [];
  const check = (refs: unknown, base: string): void => {
    if (!Array.isArray(refs)) return;
    refs.forEach((ref: unknown, i) => {
      if (!isRecord(ref) || typeof ref['name'] !== 'string') return; // the schema reports these
      const config = isRecord(ref['config']) ? ref['config'] : {};
      for (const p of registry.validate({ name: ref['name'], config })) {
        const at = `${base}/${i}${p.path === '/name' || ref['config'] !== undefined ? p.path : ''}`;
        problems.push({ path: at, message: p.message });
      }
    });
  };
  if (isRecord(config['global'])) check(config['global']['plugins'], pointerOf('global', 'plugins'));
  for (const list of ['routes', 'flows'] as const) {
    const items = config[list];
    if (Array.isArray(items)) items.forEach((item, i) => isRecord(item) && check(item['plugins'], pointerOf(list, i, 'plugins')));
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
