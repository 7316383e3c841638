import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { AdminApi } from '../../src/admin/api/index.js';
import { adminApiMarkdown } from '../../src/admin/api/markdown.js';
import { createLogger } from '../../src/observability/logger.js';
import { SqliteConfigStore } from '../../src/store/sqlite-config-store.js';

/** The admin API of a node with every optional part (runtime flows, flow state), as the docs show it. */
export function fullAdminApi(): AdminApi {
  const store = new SqliteConfigStore(mkdtempSync(join(tmpdir(), 'weir-ops-')));
  const log = createLogger({ level: 'silent', destination: new PassThrough() });
  return new AdminApi(store, { fileText: () => '', changed: () => {} }, { flows: () => ({ flows: [], stats: {} }), state: {} as never }, log);
}

export function renderAdminApiDoc(): string {
  return adminApiMarkdown(fullAdminApi().openapi() as Parameters<typeof adminApiMarkdown>[0]);
}
