import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { Type } from '@sinclair/typebox';
import { parseConfig } from '../../src/config/load.js';
import { Gateway } from '../../src/dataplane/gateway.js';
import type { Outcome, PluginDefinition } from '../../src/dataplane/pipeline/plugin.js';
import { PluginRegistry } from '../../src/dataplane/pipeline/registry.js';
import { headersPlugin } from '../../src/dataplane/plugins/headers/index.js';
import { createTrafficServer } from '../../src/dataplane/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { listen, portOf } from '../../src/runtime/single.js';
import { startUpstream } from '../support/upstream.js';
import { call, configProblems, startWeir, withFlows } from '../support/weir.js';

describe('flows through the plugin pipeline', () => {
  it('lets request plugins shape the headers a flow sees, and response plugins its answer', async () => {
    const upstream = await startUpstream();
    const weir = await startWeir(`
global:
  plugins:
    - name: headers
      config: { response: { set: { x-served-by: weir } } }
services:
  echo: { targets: [{ url: ${upstream.url} }] }
routes: []
flows:
  - name: tenant
    path: /tenant
    plugins:
      - name: headers
        config:
          request: { set: { x-tenant: shop }, remove: [cookie] }
          response: { set: { x-flow: tenant, x-served-by: weir-flow } }
    steps:
      echo:
        service: echo
        path: /echo
        headers: { x-tenant: "{{ request.headers.\\"x-tenant\\" }}", x-cookie: "{{ request.headers.cookie }}" }
    response: { tenant: "{{ steps.echo.body.headers.\\"x-tenant\\" }}", cookie: "{{ steps.echo.body.headers.\\"x-cookie\\" }}" }
  - name: plain
    path: /plain
    steps:
      echo: { service: echo, path: /plain }
    response: ok
`);
    try {
      const res = await call(`${weir.url}/tenant`, { headers: { cookie: 'session=secret', 'x-tenant': 'forged' } });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json(), { tenant: 'shop', cookie: null });
      assert.equal(res.headers['x-flow'], 'tenant');
      assert.equal(res.headers['x-served-by'], 'weir-flow', 'the flow\'s plugin overrides the global one of the same name');
      assert.equal(res.headers['x-request-id'] !== undefined, true);
      const plain = await call(`${weir.url}/plain`);
      assert.equal(plain.headers['x-served-by'], 'weir', 'global plugins apply to every flow');
    } finally {
      await weir.close();
      await upstream.close();
    }
  });

  it('does not run the flow when a request plugin answers, and gives log plugins the outcome', async () => {
    const upstream = await startUpstream();
    const outcomes: Outcome[] = [];
    const gate: PluginDefinition<Record<string, never>> = {
      name: 'gate',
      stage: 'authenticate',
      schema: Type.Object({}),
      create: () => ({
        name: 'gate',
        stage: 'authenticate',
        // Asynchronous, like a credential lookup.
        onRequest: async (ctx) => {
          await new Promise((r) => setTimeout(r, 5));
          if (ctx.headers.authorization !== 'Bearer ok') ctx.respond(401, '{"error":"who are you?"}', { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        },
        onLog: (_ctx, outcome) => void outcomes.push(outcome),
      }),
    };
    // Weir embedded with a plugin of its own: the gateway takes the registry; the file loader knows
    // only the built-in plugins, so the flow gets its plugin list after loading.
    const registry = new PluginRegistry([headersPlugin, gate]);
    const parsed = parseConfig(
      `
services:
  echo: { targets: [{ url: ${upstream.url} }] }
routes: []
flows:
  - path: /guarded
    steps:
      echo: { service: echo, path: /guarded }
    response: "{{ steps.echo.body.url }}"
`,
      'weir.yaml',
    );
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.issues.map((i) => i.message).join('; '));
    parsed.config.flows[0]!.plugins = [{ name: 'gate', config: {} }];
    const log = createLogger({ level: 'silent', destination: new PassThrough() });
    const gateway = new Gateway({ log, registry });
    gateway.apply(parsed.config);
    const server = createTrafficServer(gateway, parsed.config.global.limits, log);
    await listen(server, '127.0.0.1', 0);
    const base = `http://127.0.0.1:${portOf(server)}`;
    try {
      const refused = await call(`${base}/guarded`);
      assert.equal(refused.status, 401);
      assert.equal(refused.headers['www-authenticate'], 'Bearer');
      assert.equal(upstream.requests.length, 0, 'the flow did not run');
      const allowed = await call(`${base}/guarded`, { headers: { authorization: 'Bearer ok' } });
      assert.equal(allowed.status, 200);
      assert.equal(allowed.json(), '/guarded');
      assert.deepEqual(outcomes.map((o) => o.status), [401, 200]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await gateway.close();
      await upstream.close();
    }
  });

  it('checks a flow\'s plugins when the config loads, with the line', () => {
    const messages = configProblems(
      withFlows(`  - path: /x
    plugins:
      - name: header
    steps: {}
    response: 1
`),
    );
    assert.ok(messages.some((m) => /^7: \/flows\/0\/plugins\/0\/name: unknown plugin "header"/.test(m)), messages.join('\n'));
  });
});
