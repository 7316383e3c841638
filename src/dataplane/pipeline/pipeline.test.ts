import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { compilePipeline, EMPTY_PIPELINE, runRequestHooks } from './pipeline.js';
import type { Plugin, PluginDefinition, RequestContext, Stage } from './plugin.js';
import { PluginRegistry } from './registry.js';

function recorder(name: string, stage: Stage, calls: string[], behaviour: 'sync' | 'async' | 'respond' = 'sync'): PluginDefinition<{ tag?: string }> {
  return {
    name,
    stage,
    schema: Type.Object({ tag: Type.Optional(Type.String()) }, { additionalProperties: false }),
    create(config): Plugin {
      const label = config.tag === undefined ? name : `${name}:${config.tag}`;
      return {
        name,
        stage,
        onRequest(ctx) {
          calls.push(label);
          if (behaviour === 'respond') return ctx.respond(401, 'no');
          if (behaviour === 'async') return new Promise<void>((r) => setTimeout(r, 5));
        },
      };
    },
  };
}

function fakeContext(): RequestContext & { answered: number | null } {
  const ctx = {
    answered: null as number | null,
    responded: false,
    respond(status: number) {
      ctx.answered = status;
      ctx.responded = true;
    },
  };
  return ctx as unknown as RequestContext & { answered: number | null };
}

describe('plugin pipeline', () => {
  it('costs nothing on a route without plugins', () => {
    const registry = new PluginRegistry([]);
    assert.equal(compilePipeline(registry, [], []), EMPTY_PIPELINE);
  });

  it('orders plugins by stage, whatever order they are listed in', async () => {
    const calls: string[] = [];
    const registry = new PluginRegistry([recorder('limit', 'rate-limit', calls), recorder('auth', 'authenticate', calls), recorder('shape', 'request-transform', calls)]);
    const pipeline = compilePipeline(registry, [{ name: 'shape', config: {} }], [{ name: 'limit', config: {} }, { name: 'auth', config: {} }]);
    await runRequestHooks(pipeline.request, fakeContext());
    assert.deepEqual(calls, ['auth', 'limit', 'shape']);
  });

  it('lets a route plugin override the global plugin of the same name', async () => {
    const calls: string[] = [];
    const registry = new PluginRegistry([recorder('auth', 'authenticate', calls)]);
    const pipeline = compilePipeline(registry, [{ name: 'auth', config: { tag: 'global' } }], [{ name: 'auth', config: { tag: 'route' } }]);
    await runRequestHooks(pipeline.request, fakeContext());
    assert.deepEqual(calls, ['auth:route']);
  });

  it('stays synchronous while hooks are, and awaits the ones that are not', async () => {
    const calls: string[] = [];
    const registry = new PluginRegistry([recorder('a', 'authenticate', calls), recorder('b', 'authorize', calls, 'async'), recorder('c', 'cache', calls)]);
    const syncOnly = compilePipeline(registry, [], [{ name: 'a', config: {} }, { name: 'c', config: {} }]);
    assert.equal(runRequestHooks(syncOnly.request, fakeContext()), undefined);
    calls.length = 0;
    const mixed = compilePipeline(registry, [], [{ name: 'a', config: {} }, { name: 'b', config: {} }, { name: 'c', config: {} }]);
    const pending = runRequestHooks(mixed.request, fakeContext());
    assert.ok(pending instanceof Promise);
    assert.deepEqual(calls, ['a', 'b'], 'c waits for b');
    await pending;
    assert.deepEqual(calls, ['a', 'b', 'c']);
  });

  it('stops at the first plugin that responds', async () => {
    const calls: string[] = [];
    const registry = new PluginRegistry([recorder('auth', 'authenticate', calls, 'respond'), recorder('later', 'cache', calls)]);
    const pipeline = compilePipeline(registry, [], [{ name: 'auth', config: {} }, { name: 'later', config: {} }]);
    const ctx = fakeContext();
    await runRequestHooks(pipeline.request, ctx);
    assert.equal(ctx.answered, 401);
    assert.deepEqual(calls, ['auth']);
  });

  it('validates plugin references against their schemas', () => {
    const registry = new PluginRegistry([recorder('auth', 'authenticate', [])]);
    assert.deepEqual(registry.validate({ name: 'auth', config: { tag: 'x' } }), []);
    assert.match(registry.validate({ name: 'nope', config: {} })[0]!.message, /unknown plugin "nope" \(known: auth\)/);
    const problems = registry.validate({ name: 'auth', config: { tag: 5 } });
    assert.equal(problems[0]!.path, '/config/tag');
  });
});
