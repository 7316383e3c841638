import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type TestWeir } from '../support/weir.js';

/** An API whose OpenAPI documentation says what its two operations take. */
const spec = (validation: Record<string, unknown> | undefined, itemQtyType = 'integer') => ({
  basePath: '/shop',
  version: 'v1',
  ...(validation === undefined ? {} : { validation }),
  routes: [
    { name: 'create', methods: ['POST'], path: '/orders', service: 'backend' },
    { name: 'read', methods: ['GET'], path: '/orders/:id', service: 'backend' },
    { name: 'health', path: '/health', service: 'backend' },
    { name: 'custom', path: '/custom', service: 'backend', plugins: [{ name: 'validate', config: { parameters: [{ name: 'k', in: 'query', required: true }] } }] },
  ],
  openapi: {
    components: {
      schemas: {
        Order: { type: 'object', required: ['items'], properties: { items: { type: 'array', minItems: 1, items: { $ref: '#/components/schemas/Item' } }, note: { type: ['string', 'null'] } } },
        Item: { type: 'object', required: ['sku', 'qty'], properties: { sku: { type: 'string' }, qty: { type: itemQtyType, minimum: 1 } } },
        Unused: { type: 'object' },
      },
      parameters: { OrderId: { name: 'id', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } } },
      requestBodies: { NewOrder: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Order' } } } } },
    },
    routes: {
      create: { summary: 'Place an order', requestBody: { $ref: '#/components/requestBodies/NewOrder' } },
      read: { parameters: [{ $ref: '#/components/parameters/OrderId' }, { name: 'expand', in: 'query', schema: { type: 'boolean' } }] },
      health: { summary: 'Nothing to check' },
      custom: { parameters: [{ name: 'z', in: 'query', required: true }] },
    },
  },
});

describe('APIs with request validation (validation.requests)', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  backend: { targets: [{ url: ${upstream.url} }] }
routes: []
`);
    admin = await adminClient(weir.adminUrl);
    await admin('POST', '/api/v1/teams', { name: 'shop' });
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  const order = (body: unknown) => call(`${weir.url}/shop/v1/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  it('checks requests of a published API against its operations, with $refs to components resolved', async () => {
    assert.equal((await admin('POST', '/api/v1/apis', { name: 'shop', team: 'shop', spec: spec({ requests: true, maxErrors: 3 }) })).status, 201);
    assert.equal((await admin('POST', '/api/v1/apis/shop/releases', {})).status, 201);
    assert.equal((await admin('POST', '/api/v1/apis/shop/publish', { release: 1 })).status, 200);
    await until(async () => ((await call(`${weir.url}/shop/v1/health`)).status === 200 ? true : undefined), 5000, 'the API to be served');

    const valid = await order({ items: [{ sku: 'a', qty: 2 }], note: null });
    assert.equal(valid.status, 200, valid.body);
    assert.deepEqual(JSON.parse(upstream.requests.at(-1)!.body.toString()), { items: [{ sku: 'a', qty: 2 }], note: null });

    const before = upstream.requests.length;
    const invalid = await order({ items: [{ sku: 'a', qty: 0 }, { qty: 'x' }] });
    assert.equal(invalid.status, 400);
    assert.equal(invalid.json().code, 'WEIR_REQUEST_INVALID');
    assert.deepEqual(invalid.json().errors, [
      { pointer: '/items/0/qty', message: 'must be >= 1' },
      { pointer: '/items/1/sku', message: 'is required' },
      { pointer: '/items/1/qty', message: 'must be integer' },
    ]);
    assert.equal((await call(`${weir.url}/shop/v1/orders`, { method: 'POST' })).status, 400, 'the body is required');
    assert.equal((await call(`${weir.url}/shop/v1/orders`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: 'a,b' })).status, 415);
    const param = await call(`${weir.url}/shop/v1/orders/abc?expand=maybe`);
    assert.equal(param.status, 400);
    assert.deepEqual(param.json().errors.map((e: { in: string; parameter: string }) => `${e.in} ${e.parameter}`), ['path id', 'query expand']);
    assert.equal(upstream.requests.length, before, 'no refused request reached the upstream');
    const own = await call(`${weir.url}/shop/v1/custom`);
    assert.deepEqual(own.json().errors, [{ in: 'query', parameter: 'k', message: 'is required' }], 'a route\'s own validate plugin wins over the documentation');
    assert.equal(upstream.requests.length, before, 'no refused request reached the upstream');
    assert.equal((await call(`${weir.url}/shop/v1/custom?k=1`)).status, 200);
    assert.equal((await call(`${weir.url}/shop/v1/orders/7?expand=true`)).status, 200);
    assert.equal(upstream.requests.at(-1)!.url, '/orders/7?expand=true');
  });

  it('refuses an API write whose schemas would not compile, with the path inside the spec', async () => {
    const current = await admin('GET', '/api/v1/apis/shop');
    const bad = await admin('PUT', '/api/v1/apis/shop', { spec: spec({ requests: true }, 'integr') }, { 'if-match': current.headers['etag'] as string });
    assert.equal(bad.status, 422);
    assert.equal(bad.json().code, 'WEIR_VALIDATION_FAILED');
    assert.deepEqual(bad.json().problems, [
      { pointer: '/spec/openapi/components/schemas/Item/properties/qty/type', message: 'not a valid JSON Schema: must be equal to one of the allowed values' },
    ]);
    const dangling = structuredClone(spec({ requests: true }));
    (dangling.openapi.routes.read.parameters[0] as { $ref: string }).$ref = '#/components/parameters/Nope';
    const refused = await admin('PUT', '/api/v1/apis/shop', { spec: dangling }, { 'if-match': current.headers['etag'] as string });
    assert.equal(refused.status, 422);
    assert.equal(refused.json().problems[0].pointer, '/spec/openapi/routes/read/parameters/0/$ref');
    // Documentation alone never blocks a write: with validation off the same schema is kept as text.
    const off = await admin('PUT', '/api/v1/apis/shop', { spec: spec(undefined, 'integr') }, { 'if-match': current.headers['etag'] as string });
    assert.equal(off.status, 200, off.body);
  });

  it('stops checking once a release without validation is published', async () => {
    assert.equal((await admin('POST', '/api/v1/apis/shop/releases', {})).status, 201);
    assert.equal((await admin('POST', '/api/v1/apis/shop/publish', { release: 2 })).status, 200);
    await until(async () => ((await order({ items: 'none' })).status === 200 ? true : undefined), 5000, 'the unchecked release to be served');
    assert.deepEqual(JSON.parse(upstream.requests.at(-1)!.body.toString()), { items: 'none' });
  });
});
