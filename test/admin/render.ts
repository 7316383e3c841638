import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import assert from 'node:assert/strict';
import { Value } from '@sinclair/typebox/value';
import { AdminApi } from '../../src/admin/api/index.js';
import type { Operation } from '../../src/admin/api/kit.js';
import type { AdminCall } from '../support/weir.js';
import { adminApiMarkdown } from '../../src/admin/api/markdown.js';
import { createLogger } from '../../src/observability/logger.js';
import { SqliteConfigStore } from '../../src/store/sqlite-config-store.js';

/** The admin API of a node with every optional part (runtime flows, flow state), as the docs show it. */
export function fullAdminApi(): AdminApi {
  const store = new SqliteConfigStore(mkdtempSync(join(tmpdir(), 'weir-ops-')));
  const log = createLogger({ level: 'silent', destination: new PassThrough() });
  return new AdminApi(store, { fileText: () => '', changed: () => {}, resolve: (resources) => ({ resources: [...resources], problems: [] }) }, { flows: () => ({ flows: [], stats: {} }), state: {} as never, purgeCache: async () => ({ processes: 0, memory: 0, redis: 0 }), calls: {} as never, checks: {} as never }, log);
}

export function renderAdminApiDoc(): string {
  return adminApiMarkdown(fullAdminApi().openapi() as Parameters<typeof adminApiMarkdown>[0]);
}

/**
 * Records which operations a test file calls and checks every 2xx answer against the operation's
 * documented schema, so the OpenAPI document is proved to match the server's behaviour.
 */
export function operationCoverage() {
  const ops: Operation[] = fullAdminApi().operations;
  const exercised = new Set<string>();
  return {
    ops,
    exercised,
    wrap(caller: AdminCall): AdminCall {
      return async (method, path, body, headers) => {
        const res = await caller(method, path, body, headers);
        const bare = path.split('?')[0]!;
        const op = ops.find((o) => o.method === method && new RegExp(`^${o.path.replace(/\{\w+\}/g, '[^/]+')}$`).test(bare));
        if (op !== undefined) {
          exercised.add(op.operationId);
          if (res.status < 300 && res.status !== 204 && op.response !== undefined && op.produces === undefined) {
            assert.ok(Value.Check(op.response, res.json()), `${op.operationId} answered outside its documented schema: ${res.body}`);
          }
        }
        return res;
      };
    },
    /** Operations (of the given tags, or all but those) that no call reached. */
    missing(tags: { only?: string[]; except?: string[] }): string[] {
      return ops
        .filter((o) => (tags.only === undefined || tags.only.includes(o.tag)) && !(tags.except ?? []).includes(o.tag))
        .map((o) => o.operationId)
        .filter((id) => !exercised.has(id));
    },
  };
}

/** Checks what makes an OpenAPI 3.1 document usable: every operation answers, ids are unique, path parameters are declared, refs resolve. */
export function assertValidOpenApi31(doc: any): void {
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(typeof doc.info.title, 'string');
  assert.equal(typeof doc.info.version, 'string');
  const ids = new Set<string>();
  for (const [path, item] of Object.entries<any>(doc.paths)) {
    assert.match(path, /^\/[^:*]*$/, `${path} is an OpenAPI path`);
    for (const [method, op] of Object.entries<any>(item)) {
      assert.ok(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'].includes(method), `${method} of ${path}`);
      assert.ok(!ids.has(op.operationId), `operationId ${op.operationId} is unique`);
      ids.add(op.operationId);
      assert.ok(Object.keys(op.responses).length > 0, `${method} ${path} has responses`);
      const declared = (op.parameters ?? []).map((p: any) => (p.$ref === undefined ? p : resolve(doc, p.$ref))).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
      const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      assert.deepEqual(declared, templated, `${method} ${path} declares its path parameters`);
    }
  }
  const refs = (value: unknown): void => {
    if (Array.isArray(value)) return value.forEach(refs);
    if (value === null || typeof value !== 'object') return;
    const ref = (value as { $ref?: unknown }).$ref;
    if (typeof ref === 'string') assert.notEqual(resolve(doc, ref), undefined, `${ref} resolves`);
    Object.values(value).forEach(refs);
  };
  refs(doc);
}

function resolve(doc: any, ref: string): unknown {
  return ref.slice(2).split('/').reduce((at: any, key) => at?.[key.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}
