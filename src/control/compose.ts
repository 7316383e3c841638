/**
 * The gateway's config is the file plus what teams manage through the admin API: services,
 * routes and flows from the store are added to the file's, and the result is checked by the very
 * same loader as the file (schema, references, flows) before anything is applied. A resource may
 * not take a name the file already uses: the file stays the source of truth for what it says.
 */
import { CORE_SCHEMA, load } from 'js-yaml';
import { stringify } from 'yaml';
import { parseConfig, type ConfigResult } from '../config/load.js';
import type { Resource, ResourceKind } from '../store/config-store.js';
import { servedByApis } from './apis.js';

/** The file's text with the store's resources added, as YAML the loader reads like any file. */
export function composeText(fileText: string, resources: readonly Resource[]): string {
  if (resources.length === 0) return fileText;
  const base = (load(fileText, { schema: CORE_SCHEMA }) ?? {}) as Record<string, unknown>;
  const services = { ...((base['services'] as Record<string, unknown> | undefined) ?? {}) };
  const routes = [...((base['routes'] as unknown[] | undefined) ?? [])];
  const flows = [...((base['flows'] as unknown[] | undefined) ?? [])];
  let global = (base['global'] as Record<string, unknown> | undefined) ?? {};
  for (const resource of resources) {
    if (resource.kind === 'settings') global = overlay(global, resource.body);
    else if (resource.kind === 'service') services[resource.name] = resource.body;
    else if (resource.kind === 'route') routes.push({ name: resource.name, ...resource.body });
    else if (resource.kind === 'flow') flows.push({ name: resource.name, ...resource.body });
  }
  const apis = servedByApis(resources, Object.keys(services)[0]);
  const composed: Record<string, unknown> = { ...base, services, routes: [...routes, ...apis.routes], flows: [...flows, ...apis.flows] };
  if (Object.keys(global).length > 0) composed['global'] = global;
  return stringify(composed, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The file's `global` with the stored settings laid over it: section by section, a stored key wins. */
function overlay(file: Record<string, unknown>, stored: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...file };
  for (const [key, value] of Object.entries(stored)) {
    const under = out[key];
    const bothObjects = [under, value].every((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
    out[key] = bothObjects ? { ...(under as object), ...(value as object) } : value;
  }
  return out;
}

/** Names the file already uses for each kind, which resources may not take. */
export function fileNames(fileText: string): Partial<Record<ResourceKind, Set<string>>> {
  const base = (load(fileText, { schema: CORE_SCHEMA }) ?? {}) as Record<string, unknown>;
  const named = (items: unknown): Set<string> =>
    new Set(((items as Array<{ name?: unknown }> | undefined) ?? []).flatMap((item) => (typeof item?.name === 'string' ? [item.name] : [])));
  return { service: new Set(Object.keys((base['services'] as object | undefined) ?? {})), route: named(base['routes']), flow: named(base['flows']) };
}

/** Loads the composed config; problems point into it (e.g. `/services/orders/targets/0/url`). */
export function loadComposed(fileText: string, resources: readonly Resource[], source: string): { result: ConfigResult; text: string } {
  const text = composeText(fileText, resources);
  return { result: parseConfig(text, source), text };
}
