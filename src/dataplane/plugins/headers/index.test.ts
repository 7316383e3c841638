import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../config/load.js';
import { builtinPlugins } from '../index.js';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, startWeir, type TestWeir } from '../../../../test/support/weir.js';

describe('headers plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream((_req, res) => {
      res.writeHead(200, { 'x-powered-by': 'legacy', 'content-type': 'text/plain' });
      res.end('ok');
    });
    weir = await startWeir(`
global:
  plugins:
    - name: headers
      config: { response: { set: { x-global: "1" } } }
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - path: /edited
    service: up
    plugins:
      - name: headers
        config:
          request: { set: { x-tenant: shop }, add: { x-tag: a }, remove: [cookie] }
          response: { remove: [x-powered-by], set: { cache-control: no-store } }
  - { path: /plain, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('edits request headers on the way up and response headers on the way back', async () => {
    const res = await call(`${weir.url}/edited`, { headers: { cookie: 'sid=1', 'x-tenant': 'forged' } });
    const seen = up.requests.at(-1)!.headers;
    assert.equal(seen['x-tenant'], 'shop');
    assert.equal(seen['x-tag'], 'a');
    assert.equal(seen.cookie, undefined);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.headers['x-global'], undefined, 'the route plugin replaces the global one of the same name');
  });

  it('applies the global plugin to routes without their own', async () => {
    const res = await call(`${weir.url}/plain`);
    assert.equal(res.headers['x-global'], '1');
    assert.equal(res.headers['x-powered-by'], 'legacy');
  });

  it('rejects a bad plugin config at load, with its line', () => {
    const result = parseConfig(
      ['services:', '  a:', '    targets: [{ url: "http://127.0.0.1:1" }]', 'routes:', '  - path: /x', '    service: a', '    plugins:', '      - name: headers', '        config: { request: { sett: {} } }', '      - name: hedaers'].join('\n'),
      'weir.yaml',
    );
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.deepEqual(
      result.issues.map((i) => [i.path, i.line, i.message]),
      [
        ['/routes/0/plugins/0/config/request/sett', 9, 'unknown property "sett"'],
        ['/routes/0/plugins/1/name', 10, `unknown plugin "hedaers" (known: ${builtinPlugins.names().join(', ')})`],
      ],
    );
  });
});
