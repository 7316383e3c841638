import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { sendJson, startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

describe('transform plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream((req, res, body) => {
      if (req.url!.includes('/missing')) return sendJson(res, 404, { error: 'nope' });
      if (req.url!.includes('/text')) {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-internal': 'secret' });
        res.end('plain text');
        return;
      }
      if (req.url!.includes('/big')) return sendJson(res, 200, { blob: 'x'.repeat(5000) });
      sendJson(res, 200, { url: req.url, got: body.length === 0 ? null : req.headers['content-type'] === 'application/json' ? JSON.parse(body.toString()) : body.toString(), items: [{ id: 1, secret: 's' }, { id: 2, secret: 't' }] });
    });
    weir = await startWeir(`
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - path: /api/v1/*
    service: up
    plugins:
      - name: transform
        config:
          maxBodySize: 1000
          request:
            headers: { rename: { x-user: x-customer-id }, remove: [cookie], set: { x-via: weir }, add: { x-tag: a } }
            query: { rename: { q: search }, remove: [debug], set: { version: "2" } }
            path: { prefix: { from: /api/v1, to: /v2 }, regex: { match: "^/v2/users/(\\\\d+)$", replace: "/v2/people/$1" } }
            body: { customer: "{{ body.user.id }}", skus: "{{ body.cart[].sku }}", by: "{{ headers.\\"x-user\\" }}", page: "{{ query.page }}", rest: "{{ params.\\"*\\" }}" }
          response:
            headers: { remove: [x-internal], rename: { x-request-id: x-trace-id } }
            status: { "404": 200 }
            body: { status: "{{ status }}", ids: "{{ body.items[].id }}", url: "{{ body.url }}", got: "{{ body.got }}", user: "{{ request.headers.\\"x-user\\" }}" }
  - { path: /plain/*, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('edits headers, query and path on the way up, and reshapes the JSON body both ways', async () => {
    const res = await call(`${weir.url}/api/v1/users/42?q=shoes&debug=1&page=3`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user': 'u-7', cookie: 'sid=1' },
      body: JSON.stringify({ user: { id: 7 }, cart: [{ sku: 'a' }, { sku: 'b' }] }),
    });
    const seen = up.requests.at(-1)!;
    assert.equal(seen.url, '/v2/people/42?search=shoes&page=3&version=2');
    assert.equal(seen.headers['x-customer-id'], 'u-7');
    assert.equal(seen.headers['x-user'], undefined);
    assert.equal(seen.headers.cookie, undefined);
    assert.equal(seen.headers['x-via'], 'weir');
    assert.equal(seen.headers['x-tag'], 'a');
    const sent = JSON.parse(seen.body.toString());
    assert.deepEqual(sent, { customer: 7, skus: ['a', 'b'], by: 'u-7', page: '3', rest: 'users/42' });
    assert.equal(seen.headers['content-length'], String(seen.body.length));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { status: 200, ids: [1, 2], url: '/v2/people/42?search=shoes&page=3&version=2', got: sent, user: 'u-7' });
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    assert.ok(res.headers['x-trace-id'] !== undefined && res.headers['x-request-id'] === undefined);
  });

  it('maps status codes, and the body template sees the upstream status', async () => {
    const res = await call(`${weir.url}/api/v1/missing`);
    assert.equal(res.status, 200);
    assert.equal(res.json().status, 404);
  });

  it('streams bodies it cannot reshape untouched: not JSON, or larger than maxBodySize', async () => {
    const text = await call(`${weir.url}/api/v1/text`);
    assert.equal(text.body, 'plain text');
    assert.equal(text.headers['x-internal'], undefined, 'header edits still apply');
    const big = await call(`${weir.url}/api/v1/big`);
    assert.equal(big.json().blob.length, 5000);
    const largeRequest = JSON.stringify({ user: { id: 1 }, pad: 'p'.repeat(3000) });
    await call(`${weir.url}/api/v1/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: largeRequest });
    assert.equal(up.requests.at(-1)!.body.toString(), largeRequest);
    const form = 'a=1&b=2';
    await call(`${weir.url}/api/v1/x`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    assert.equal(up.requests.at(-1)!.body.toString(), form);
  });

  it('streams a chunked request body larger than maxBodySize untouched, the bytes already read included', async () => {
    const parts = Array.from({ length: 30 }, (_, i) => `"k${i}":"${'v'.repeat(60)}"`);
    const whole = `{${parts.join(',')}}`;
    async function* chunks() {
      for (let i = 0; i < whole.length; i += 100) yield Buffer.from(whole.slice(i, i + 100));
    }
    await call(`${weir.url}/api/v1/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from(chunks()) });
    assert.equal(up.requests.at(-1)!.body.toString(), whole);
  });

  it('refuses a request body that says JSON but does not parse, with 400', async () => {
    const before = up.requests.length;
    const res = await call(`${weir.url}/api/v1/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 'WEIR_BAD_REQUEST');
    assert.equal(up.requests.length, before);
  });

  it('leaves routes without the plugin alone', async () => {
    const res = await call(`${weir.url}/plain/missing?debug=1`);
    assert.equal(res.status, 404);
    assert.equal(up.requests.at(-1)!.url, '/plain/missing?debug=1');
  });

  it('refuses bad configs at load, with their lines', () => {
    const yaml = (config: string) => `services:\n  a: { targets: [{ url: "http://127.0.0.1:1" }] }\nroutes:\n  - path: /x\n    service: a\n    plugins:\n      - name: transform\n        config:\n${config}`;
    assert.deepEqual(configProblems(yaml('          request: { path: { regex: { match: "(", replace: "" } } }\n')), [
      '9: /routes/0/plugins/0/config/request/path/regex/match: Invalid regular expression: /(/: Unterminated group',
    ]);
    const template = configProblems(yaml('          response:\n            body: { a: "{{ body.[ }}" }\n'));
    assert.equal(template.length, 1);
    assert.match(template[0]!, /^10: \/routes\/0\/plugins\/0\/config\/response\/body\/a: .*Syntax error/);
    assert.match(configProblems(yaml('          response: { status: { "99": 200 } }\n'))[0]!, /^9: .*status/);
    assert.match(configProblems(yaml('          request: { headers: { rename: { "bad name": x } } }\n'))[0]!, /^9: /);
  });
});
