import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';
import { rawRequest } from '../../../../test/support/raw-http.js';

const hash = (key: string) => createHash('sha256').update(key).digest('base64url');

describe('validate plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream();
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${up.url} }] }
routes:
  - name: orders
    methods: [POST]
    path: /orders
    service: s
    plugins:
      - name: validate
        config:
          body:
            required: true
            schema: { $ref: "#/components/schemas/Order" }
          components:
            schemas:
              Order:
                type: object
                required: [customer, items]
                additionalProperties: false
                properties:
                  customer: { type: string, minLength: 1 }
                  note: { type: string, nullable: true, maxLength: 20 }
                  items: { type: array, minItems: 1, items: { $ref: "#/components/schemas/Item" } }
                  coupon: { allOf: [{ $ref: "#/components/schemas/Coupon" }], nullable: true }
                  x-channel: { type: string, enum: [web, app] }
              Item:
                type: object
                required: [sku, qty]
                properties:
                  sku: { type: string, pattern: "^[A-Z]{3}-[0-9]+$" }
                  qty: { type: integer, minimum: 0, exclusiveMinimum: true }
              Coupon: { type: string, format: uuid }
  - name: items
    methods: [GET, PATCH]
    path: /shops/:shop/items/:id
    service: s
    plugins:
      - name: validate
        config:
          maxErrors: 2
          parameters:
            - { name: id, in: path, schema: { type: integer, minimum: 1 } }
            - { name: limit, in: query, schema: { type: integer, maximum: 100 } }
            - { name: tag, in: query, schema: { type: array, items: { type: string, minLength: 2 } } }
            - { name: X-Tenant, in: header, required: true, schema: { type: string, pattern: "^t-" } }
          body:
            mediaTypes: [application/merge-patch+json, text/*]
            schema: { type: object, properties: { name: { type: string } }, additionalProperties: false }
          maxBodySize: 64
  - name: search
    path: /search
    service: s
    plugins: [{ name: validate, config: { parameters: [{ name: q, in: query, required: true }] } }]
  - name: guarded
    path: /guarded
    service: s
    plugins:
      - { name: key-auth, config: { api: a, keys: { "${hash('k1')}": { consumer: app, team: t, credential: c, expiresAt: null, subscription: approved } } } }
      - { name: validate, config: { body: { required: true, schema: { type: object, required: [a] } } } }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  const post = (path: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST') =>
    call(`${weir.url}${path}`, { method: method as 'POST', headers, body });

  /** Calls `fn` and asserts that the upstream saw nothing meanwhile. */
  async function refused<T>(fn: () => Promise<T>): Promise<T> {
    const before = up.requests.length;
    const result = await fn();
    assert.equal(up.requests.length, before, 'the upstream saw nothing');
    return result;
  }

  it('lets a valid body through byte for byte', async () => {
    const body = '{ "items": [ {"sku":"ABC-1","qty":2} ],\n  "customer":"c-7", "note": null, "coupon": null, "x-channel": "web" }';
    const res = await post('/orders', body, { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(res.status, 200, res.body);
    assert.equal(up.requests.at(-1)!.body.toString('utf8'), body);
    const withCoupon = await post('/orders', JSON.stringify({ customer: 'c', items: [{ sku: 'ABC-2', qty: 1 }], coupon: '0b7c1a48-8c53-4f0e-9a55-2a8c1b7e0d11' }));
    assert.equal(withCoupon.status, 200, withCoupon.body);
  });

  it('checks a chunked body and forwards it whole when valid', async () => {
    const body = JSON.stringify({ customer: 'c', items: [{ sku: 'ABC-9', qty: 3 }] });
    const [a, b] = [body.slice(0, 10), body.slice(10)];
    const response = await rawRequest(
      weir.port,
      `POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${a.length.toString(16)}\r\n${a}\r\n${b.length.toString(16)}\r\n${b}\r\n0\r\n\r\n`,
    );
    assert.match(response, /^HTTP\/1\.1 200/);
    assert.equal(up.requests.at(-1)!.body.toString(), body);
    const before = up.requests.length;
    const bad = JSON.stringify({ customer: 'c', items: [] });
    const refusedChunked = await rawRequest(
      weir.port,
      `POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${bad.length.toString(16)}\r\n${bad}\r\n0\r\n\r\n`,
    );
    assert.match(refusedChunked, /^HTTP\/1\.1 400/);
    assert.match(refusedChunked, /"pointer":"\/items"/);
    assert.equal(up.requests.length, before);
  });

  it('refuses an invalid body with 400 and a pointer per problem, through $refs to components', async () => {
    const res = await refused(() => post('/orders', JSON.stringify({ customer: '', items: [{ sku: 'ABC-1', qty: 1 }, { sku: 'nope', qty: 0 }], extra: 1 })));
    assert.equal(res.status, 400);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    const problem = res.json();
    assert.equal(problem.code, 'WEIR_REQUEST_INVALID');
    const byPointer = new Map((problem.errors as Array<{ pointer: string; message: string }>).map((e) => [e.pointer, e.message]));
    assert.equal(byPointer.get('/extra'), 'is not allowed here');
    assert.match(byPointer.get('/customer')!, /fewer than 1 characters/);
    assert.match(byPointer.get('/items/1/sku')!, /must match pattern/);
    assert.match(byPointer.get('/items/1/qty')!, /must be > 0/, 'OpenAPI 3.0 boolean exclusiveMinimum');
    assert.equal(byPointer.has('/items/0/qty'), false);
    assert.match(problem.detail, /^body \/\S+: .+ \(and 3 more\)$/);
  });

  it('reports a missing member at its own pointer, and an escaped one correctly', async () => {
    const res = await refused(() => post('/orders', JSON.stringify({ items: [{ qty: 1 }], 'x-channel': 'fax' })));
    const pointers = (res.json().errors as Array<{ pointer: string }>).map((e) => e.pointer).sort();
    assert.deepEqual(pointers, ['/customer', '/items/0/sku', '/x-channel']);
  });

  it('applies OpenAPI 3.0 nullable only where it is said', async () => {
    const ok = await post('/orders', JSON.stringify({ customer: 'c', items: [{ sku: 'ABC-1', qty: 1 }], note: null, coupon: null }));
    assert.equal(ok.status, 200, ok.body);
    const res = await refused(() => post('/orders', JSON.stringify({ customer: null, items: [{ sku: 'ABC-1', qty: 1 }], coupon: 'not-a-uuid' })));
    assert.equal(res.status, 400);
    assert.deepEqual(res.json().errors, [
      { pointer: '/customer', message: 'must be string' },
      { pointer: '/coupon', message: 'must match format "uuid"' },
    ]);
  });

  it('answers a body that is not JSON with 400 and its own detail', async () => {
    const res = await refused(() => post('/orders', '{"customer": "c", items: }'));
    assert.equal(res.status, 400);
    assert.equal(res.json().code, 'WEIR_REQUEST_INVALID');
    assert.match(res.json().detail, /not valid JSON/);
    assert.equal(res.json().errors, undefined);
  });

  it('answers a missing required body with 400, a wrong or absent Content-Type with 415', async () => {
    const empty = await refused(() => call(`${weir.url}/orders`, { method: 'POST' }));
    assert.equal(empty.status, 400);
    assert.deepEqual(empty.json().errors, [{ pointer: '', message: 'a request body is required' }]);
    const form = await refused(() => post('/orders', 'customer=c', { 'content-type': 'application/x-www-form-urlencoded' }));
    assert.equal(form.status, 415);
    assert.equal(form.json().code, 'WEIR_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(form.headers['accept'], 'application/json');
    const none = await refused(() => post('/orders', '{}', {}));
    assert.equal(none.status, 415);
    assert.match(none.json().detail, /no Content-Type/);
    const gzip = await refused(() => post('/orders', 'xx', { 'content-type': 'application/json', 'content-encoding': 'gzip' }));
    assert.equal(gzip.status, 415);
  });

  it('checks path, query and header parameters, converting strings to the types asked for', async () => {
    const ok = await call(`${weir.url}/shops/s1/items/42?limit=10&tag=ab&tag=cd&other=x`, { headers: { 'x-tenant': 't-1' } });
    assert.equal(ok.status, 200, ok.body);
    assert.equal(up.requests.at(-1)!.url, '/shops/s1/items/42?limit=10&tag=ab&tag=cd&other=x', 'the query goes upstream as it came');
    const one = await call(`${weir.url}/shops/s1/items/42?tag=ab`, { headers: { 'x-tenant': 't-1' } });
    assert.equal(one.status, 200, 'a lone value is taken as a one-item array');
    const bad = await refused(() => call(`${weir.url}/shops/s1/items/0?limit=ten`, { headers: { 'x-tenant': 't-1' } }));
    assert.equal(bad.status, 400);
    assert.deepEqual(
      (bad.json().errors as Array<Record<string, string>>).map((e) => `${e.in} ${e.parameter}`),
      ['path id', 'query limit'],
    );
    const header = await refused(() => call(`${weir.url}/shops/s1/items/1?tag=a`));
    const errors = header.json().errors as Array<Record<string, string>>;
    assert.deepEqual(errors, [
      { in: 'query', parameter: 'tag', message: 'must NOT have fewer than 2 characters (item /0)' },
      { in: 'header', parameter: 'x-tenant', message: 'is required' },
    ]);
  });

  it('leaves the body alone when the config says nothing of it', async () => {
    const res = await post('/search?q=x', 'free text', { 'content-type': 'text/plain' });
    assert.equal(res.status, 200);
    assert.equal(up.requests.at(-1)!.body.toString(), 'free text');
    const missing = await refused(() => post('/search', 'free text', { 'content-type': 'text/plain' }));
    assert.deepEqual(missing.json().errors, [{ in: 'query', parameter: 'q', message: 'is required' }]);
  });

  it('caps the errors listed at maxErrors', async () => {
    const res = await refused(() => call(`${weir.url}/shops/s1/items/0?limit=500&tag=a`));
    assert.equal(res.json().errors.length, 2);
    assert.match(res.json().detail, /\(and 3 more\)$/);
  });

  it('validates JSON media types of its list, passes the others unchecked, and refuses bodies over maxBodySize with 413', async () => {
    const patch = (body: string, type: string) => post('/shops/s1/items/1', body, { 'content-type': type, 'x-tenant': 't-1' }, 'PATCH');
    assert.equal((await patch('{"name":"n"}', 'application/merge-patch+json')).status, 200);
    assert.equal((await refused(() => patch('{"nom":"n"}', 'application/merge-patch+json'))).status, 400);
    assert.equal((await patch('anything', 'text/plain')).status, 200);
    assert.equal((await refused(() => patch('{"name":"n"}', 'application/json'))).status, 415, 'not in its list');
    const big = await refused(() => patch(JSON.stringify({ name: 'n'.repeat(80) }), 'application/merge-patch+json'));
    assert.equal(big.status, 413);
    assert.equal(big.json().code, 'WEIR_BODY_TOO_LARGE');
    const before = up.requests.length;
    const chunk = `{"name":"${'n'.repeat(60)}"}`;
    const chunked = await rawRequest(
      weir.port,
      `PATCH /shops/s1/items/1 HTTP/1.1\r\nHost: x\r\nX-Tenant: t-1\r\nContent-Type: application/merge-patch+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`,
    );
    assert.match(chunked, /^HTTP\/1\.1 413/);
    assert.equal(up.requests.length, before);
  });

  it('runs after authentication: an anonymous client learns nothing about the schema', async () => {
    const anonymous = await refused(() => post('/guarded', '{}'));
    assert.equal(anonymous.status, 401);
    const known = await refused(() => post('/guarded', '{}', { 'content-type': 'application/json', 'x-api-key': 'k1' }));
    assert.equal(known.status, 400);
    assert.equal((await post('/guarded', '{"a":1}', { 'content-type': 'application/json', 'x-api-key': 'k1' })).status, 200);
  });

  it('refuses bad schemas at load, with the line and the path inside the schema', () => {
    const yaml = (config: string) => `services:\n  s: { targets: [{ url: http://127.0.0.1:1 }] }\nroutes:\n  - path: /x\n    service: s\n    plugins:\n      - name: validate\n        config: ${config}\n`;
    assert.deepEqual(configProblems(yaml('{ body: { schema: { type: object, properties: { a: { type: strnig } } } } }')), [
      '8: /routes/0/plugins/0/config/body/schema/properties/a/type: not a valid JSON Schema: must be equal to one of the allowed values',
    ]);
    assert.deepEqual(configProblems(yaml('{ body: { schema: { items: { $ref: "#/components/schemas/Nope" } } }, components: { schemas: { Yes: {} } } }')), [
      '8: /routes/0/plugins/0/config/body/schema/items/$ref: "#/components/schemas/Nope" names no schema in components.schemas (known: Yes)',
    ]);
    assert.match(configProblems(yaml('{ body: { schema: { $ref: "https://example.com/s.json" } } }'))[0]!, /body\/schema\/\$ref: .*not other documents/);
    assert.match(configProblems(yaml('{ body: { schema: { type: string, pattern: "([a-z" } } }'))[0]!, /8: \/routes\/0\/plugins\/0\/config\/body\/schema: .*cannot be compiled/);
    assert.match(configProblems(yaml('{ parameters: [{ name: a, in: query }, { name: a, in: query }] }'))[0]!, /\/parameters\/1: query parameter "a" is listed twice/);
    assert.match(configProblems(yaml('{ parameters: [{ name: a, in: cookie }] }'))[0]!, /8: \/routes\/0\/plugins\/0\/config\/parameters\/0\/in/);
    assert.match(configProblems(yaml('{ components: { schemas: { A: { minimum: "1" } } } }'))[0]!, /config\/components\/schemas\/A\/minimum: not a valid JSON Schema/);
    assert.match(configProblems(yaml('{ body: { mediaTypes: [json] } }'))[0]!, /config\/body\/mediaTypes\/0/);
  });
});

describe('validate plugin on a flow', () => {
  it('checks parameters, the Content-Type and the body before the flow runs its steps', async () => {
    const up = await startUpstream();
    const weir = await startWeir(`
services:
  s: { targets: [{ url: ${up.url} }] }
routes: []
flows:
  - name: quote
    method: POST
    path: /quote/:id
    plugins:
      - name: validate
        config:
          parameters: [{ name: id, in: path, schema: { type: integer } }]
          body: { schema: { type: object, required: [qty] } }
    steps:
      price: { service: s, path: /price }
    response: { ok: true }
`);
    try {
      const json = { 'content-type': 'application/json' };
      const bad = await call(`${weir.url}/quote/abc`, { method: 'POST', headers: json, body: '{"qty":1}' });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.json().errors, [{ in: 'path', parameter: 'id', message: 'must be integer' }]);
      const csv = await call(`${weir.url}/quote/1`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a' });
      assert.equal(csv.status, 415);
      assert.equal(up.requests.length, 0, 'no step ran for a refused request');
      const missing = await call(`${weir.url}/quote/1`, { method: 'POST', headers: json, body: '{}' });
      assert.equal(missing.status, 400, 'the body schema applies to flows too');
      assert.deepEqual(missing.json().errors, [{ pointer: '/qty', message: 'is required' }]);
      assert.equal(up.requests.length, 0, 'no step ran for a refused request');
      const ok = await call(`${weir.url}/quote/1`, { method: 'POST', headers: json, body: '{"qty":2}' });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(up.requests.length, 1);
    } finally {
      await weir.close();
      await up.close();
    }
  });
});
