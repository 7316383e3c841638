import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { until } from '../support/cli.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type AdminCall, type Reply, type TestWeir } from '../support/weir.js';
import { operationCoverage, assertValidOpenApi31 } from './render.js';

/** A small pet store as teams write them: path and query parameters, a body, shared schemas, and a callback Weir cannot serve. */
const PETSTORE = `
openapi: 3.0.3
info:
  title: Petstore
  version: 1.0.7
  description: Pets for sale.
servers:
  - url: https://{region}.pets.example.com/v1
    variables:
      region: { default: eu }
tags:
  - name: pets
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      tags: [pets]
      parameters:
        - name: limit
          in: query
          schema: { type: integer, maximum: 100 }
        - $ref: '#/components/parameters/Tag'
      responses:
        '200':
          description: A page of pets.
          content:
            application/json:
              schema:
                type: array
                items: { $ref: '#/components/schemas/Pet' }
    post:
      operationId: createPet
      summary: Create a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: '#/components/schemas/NewPet' }
      responses:
        '201':
          description: Created.
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Pet' }
      callbacks:
        adopted:
          '{$request.body#/callbackUrl}':
            post:
              responses:
                '200': { description: Noted. }
  /pets/{petId}:
    parameters:
      - name: petId
        in: path
        required: true
        schema: { type: integer, format: int64 }
    get:
      operationId: showPetById
      summary: Info for a specific pet
      responses:
        '200':
          description: The pet.
          content:
            application/json:
              schema: { $ref: '#/components/schemas/Pet' }
        '404': { description: No such pet. }
    delete:
      summary: Delete a pet
      responses:
        '204': { description: Deleted. }
  /pets/{petId}/photos/{file}.{ext}:
    get:
      operationId: getPhoto
      responses:
        '200': { description: The photo. }
components:
  parameters:
    Tag:
      name: tag
      in: query
      schema: { type: string }
  schemas:
    NewPet:
      type: object
      required: [name]
      properties:
        name: { type: string }
        tag: { type: string, nullable: true }
    Pet:
      allOf:
        - $ref: '#/components/schemas/NewPet'
        - type: object
          required: [id]
          properties:
            id: { type: integer, format: int64, minimum: 0, exclusiveMinimum: true }
`;

const IMPORTED = ['createPet POST /pets', 'delete-pets-petId DELETE /pets/:petId', 'listPets GET /pets', 'showPetById GET /pets/:petId'];

describe('OpenAPI import and export of APIs', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let admin: AdminCall;
  let bob: AdminCall; // member of pets who may write APIs
  let carol: AdminCall; // member of pets who may write services only
  let dave: AdminCall; // admin of another team
  const coverage = operationCoverage();
  const OURS = ['importOpenApi', 'exportOpenApi'];

  const petstore = { name: 'petstore', team: 'pets', service: 'pets-backend', basePath: '/petstore', version: 'v1', document: PETSTORE };
  const refused = (res: Reply, status: number, code: string, detail: RegExp) => {
    assert.equal(res.status, status, res.body);
    assert.equal(res.json().code, code);
    assert.match(res.json().detail, detail);
  };

  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  pets-backend: { targets: [{ url: ${upstream.url} }] }
routes: []
`);
    admin = coverage.wrap(await adminClient(weir.adminUrl));
    for (const team of ['pets', 'birds']) await admin('POST', '/api/v1/teams', { name: team });
    for (const user of ['bob', 'carol', 'dave']) await admin('POST', '/api/v1/users', { username: user, password: `${user}-password-1` });
    await admin('PUT', '/api/v1/teams/pets/members/bob', { role: 'member', writes: ['api'] });
    await admin('PUT', '/api/v1/teams/pets/members/carol', { role: 'member', writes: ['service'] });
    await admin('PUT', '/api/v1/teams/birds/members/dave', { role: 'admin' });
    bob = coverage.wrap(await adminClient(weir.adminUrl, 'bob', 'bob-password-1'));
    carol = coverage.wrap(await adminClient(weir.adminUrl, 'carol', 'carol-password-1'));
    dave = coverage.wrap(await adminClient(weir.adminUrl, 'dave', 'dave-password-1'));
  });

  after(async () => {
    await weir.close();
    await upstream.close();
    assert.deepEqual(coverage.missing({}).filter((id) => OURS.includes(id)), [], 'OpenAPI operations no test called');
  });

  it('imports a 3.0 YAML document as a draft API: one route per operation, the docs kept, and a warning for each thing it cannot carry over', async () => {
    const res = await bob('POST', '/api/v1/apis/import', petstore);
    assert.equal(res.status, 201, res.body);
    assert.equal(res.headers['location'], '/api/v1/apis/petstore');
    assert.equal(res.headers['etag'], '"1"');
    const { api, warnings } = res.json();
    assert.equal(api.team, 'pets');
    assert.equal(api.updatedBy, 'bob');
    const spec = api.spec;
    assert.deepEqual({ basePath: spec.basePath, version: spec.version, description: spec.description }, { basePath: '/petstore', version: 'v1', description: 'Petstore' });
    assert.deepEqual(spec.routes.map((r: any) => `${r.name} ${r.methods.join(',')} ${r.path}`).sort(), IMPORTED);
    assert.ok(spec.routes.every((r: any) => r.service === 'pets-backend'));

    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.ok(warnings.some((w: string) => /server "https:\/\/\{region\}\.pets\.example\.com\/v1" \(with variables region\) is not imported/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w: string) => /^POST \/pets: callbacks \(adopted\) are not imported/.test(w)), warnings.join('\n'));
    assert.ok(warnings.some((w: string) => /^path "\/pets\/\{petId\}\/photos\/\{file\}\.\{ext\}" \(GET\) is not imported: segment "\{file\}\.\{ext\}" mixes a parameter with text/.test(w)), warnings.join('\n'));

    const docs = spec.openapi;
    assert.equal(docs.info.title, 'Petstore');
    assert.deepEqual(docs.routes.listPets.parameters, [{ name: 'limit', in: 'query', schema: { type: 'integer', maximum: 100 } }, { $ref: '#/components/parameters/Tag' }]);
    assert.deepEqual(docs.routes.showPetById.parameters.map((p: any) => `${p.in} ${p.name}`), ['path petId'], 'path-level parameters apply to each operation');
    assert.deepEqual(docs.routes.createPet.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/NewPet' });
    assert.equal(docs.routes['delete-pets-petId'].summary, 'Delete a pet');
    assert.deepEqual(docs.components.schemas.NewPet.properties.tag, { type: ['string', 'null'] }, '3.0 nullable kept in 3.1 form');
    assert.deepEqual(docs.components.schemas.Pet.allOf[1].properties.id, { type: 'integer', format: 'int64', exclusiveMinimum: 0 }, '3.0 boolean bound kept in 3.1 form');

    const read = await bob('GET', '/api/v1/apis/petstore');
    assert.deepEqual(read.json().spec, spec, 'stored as answered');
    const audit = (await admin('GET', '/api/v1/audit?kind=api&team=pets')).json().items;
    assert.ok(audit.some((e: any) => e.actor === 'bob' && e.name === 'petstore' && e.before === null), 'the import is audited like any write');
  });

  it('serves the imported API once released and published: requests reach the upstream at the document\'s paths', async () => {
    assert.equal((await call(`${weir.url}/petstore/v1/pets`)).status, 404, 'a draft receives no traffic');
    assert.equal((await bob('POST', '/api/v1/apis/petstore/releases', { note: 'imported' })).status, 201);
    assert.equal((await bob('POST', '/api/v1/apis/petstore/publish', { release: 1 })).status, 200);
    await until(async () => ((await call(`${weir.url}/petstore/v1/pets`)).status === 200 ? true : undefined), 5000, 'the API to be served');

    const seen = async (method: string, path: string, body?: string) => {
      const res = await call(`${weir.url}${path}`, { method: method as 'GET', ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) });
      assert.equal(res.status, 200, `${method} ${path}: ${res.body}`);
      const last = upstream.requests.at(-1)!;
      return `${last.method} ${last.url}${body === undefined ? '' : ` ${last.body.toString()}`}`;
    };
    assert.equal(await seen('GET', '/petstore/v1/pets?limit=2&tag=dog'), 'GET /pets?limit=2&tag=dog');
    assert.equal(await seen('POST', '/petstore/v1/pets', '{"name":"Rex"}'), 'POST /pets {"name":"Rex"}');
    assert.equal(await seen('GET', '/petstore/v1/pets/42'), 'GET /pets/42');
    assert.equal(await seen('DELETE', '/petstore/v1/pets/42'), 'DELETE /pets/42');

    const before = upstream.requests.length;
    const put = await call(`${weir.url}/petstore/v1/pets/42`, { method: 'PUT', body: '{}' });
    assert.equal(put.status, 405, 'a method the document does not give is not routed');
    assert.equal(put.headers['allow'], 'GET, HEAD, DELETE');
    assert.equal((await call(`${weir.url}/petstore/v1/pets/42/photos/a.png`)).status, 404, 'the path it could not import is not served');
    assert.equal(upstream.requests.length, before);
  });

  it('exports the draft and a release as OpenAPI 3.1 whose operations match the imported document', async () => {
    for (const path of ['/api/v1/apis/petstore/openapi.json', '/api/v1/apis/petstore/openapi.json?release=1']) {
      const res = await bob('GET', path);
      assert.equal(res.status, 200, res.body);
      const doc = res.json();
      assertValidOpenApi31(doc);
      assert.deepEqual(doc.servers, [{ url: '/petstore/v1' }]);
      assert.deepEqual(doc.info, { title: 'Petstore', version: '1.0.7', description: 'Pets for sale.' });
      assert.deepEqual(doc.tags, [{ name: 'pets' }]);
      const operations = Object.entries<any>(doc.paths).flatMap(([p, item]) => Object.entries<any>(item).map(([m, op]) => `${m.toUpperCase()} ${p} ${op.operationId} ${op.summary}`));
      assert.deepEqual(operations.sort(), [
        'DELETE /pets/{petId} delete-pets-petId Delete a pet',
        'GET /pets listPets List pets',
        'GET /pets/{petId} showPetById Info for a specific pet',
        'POST /pets createPet Create a pet',
      ]);
      assert.deepEqual(doc.paths['/pets'].get.responses['200'].content['application/json'].schema.items, { $ref: '#/components/schemas/Pet' });
      assert.equal(doc.paths['/pets'].post.requestBody.required, true);
      assert.deepEqual(doc.paths['/pets/{petId}'].get.responses['404'], { description: 'No such pet.' });
      assert.deepEqual(doc['x-weir'], { api: 'petstore', release: path.endsWith('=1') ? 1 : null });
    }
  });

  it('exports hand-written routes and flows too: a wildcard as a {rest} parameter, a flow with its steps and the services they call', async () => {
    const spec = {
      basePath: '/shop',
      version: 'v2',
      description: 'The shop',
      routes: [
        { name: 'files', path: '/files/*', methods: ['GET'], service: 'pets-backend' },
        { name: 'anything', path: '/misc/:id', service: 'pets-backend' },
      ],
      flows: [
        {
          name: 'order-summary',
          path: '/orders/:orderId/summary',
          steps: {
            order: { service: 'pets-backend', path: '/orders/{{ request.params.orderId }}' },
            lines: { service: 'pets-backend', forEach: 'steps.order.body.lines', path: '/lines/{{ item.id }}' },
            total: { transform: '{{ length(steps.lines) }}' },
          },
          response: { order: '{{ steps.order.body }}' },
        },
      ],
    };
    assert.equal((await bob('POST', '/api/v1/apis', { name: 'shop', team: 'pets', spec })).status, 201);
    const res = await bob('GET', '/api/v1/apis/shop/openapi.json');
    assert.equal(res.status, 200, res.body);
    const doc = res.json();
    assertValidOpenApi31(doc);
    assert.deepEqual(doc.info, { title: 'shop', version: 'v2', description: 'The shop' });
    assert.deepEqual(doc.servers, [{ url: '/shop/v2' }]);

    const files = doc.paths['/files/{rest}'].get;
    assert.equal(files.operationId, 'files');
    assert.match(files.parameters[0].description, /rest of the path.*\/files\/\*/);
    assert.deepEqual(files['x-weir-route'], { name: 'files', service: 'pets-backend', path: '/files/*' });
    assert.deepEqual(Object.keys(doc.paths['/misc/{id}']).sort(), ['delete', 'get', 'patch', 'post', 'put'], 'a route of any method');
    assert.match(doc.paths['/misc/{id}'].get.description, /any method/);

    const flow = doc.paths['/orders/{orderId}/summary'].get;
    assert.equal(flow.operationId, 'order-summary');
    assert.deepEqual(flow.parameters, [{ name: 'orderId', in: 'path', required: true, schema: { type: 'string' } }]);
    assert.equal(flow.description, 'Composed by Weir from 3 steps: order (calls pets-backend), lines (calls pets-backend for each element), total (transform).');
    assert.deepEqual(flow['x-weir-flow'], {
      name: 'order-summary',
      steps: [
        { name: 'order', kind: 'http', service: 'pets-backend' },
        { name: 'lines', kind: 'forEach', service: 'pets-backend' },
        { name: 'total', kind: 'transform' },
      ],
    });
  });

  it('imports a 3.1 JSON object, warning of webhooks, security, cookie parameters and external $refs, and renaming what Weir cannot name', async () => {
    const document = {
      openapi: '3.1.0',
      info: { title: 'Birds', version: '2' },
      security: [{ key: [] }],
      webhooks: { hatched: { post: { responses: { '200': { description: 'ok' } } } } },
      paths: {
        '/nests/{nest-id}/': {
          get: {
            operationId: 'get nest!',
            parameters: [
              { name: 'nest-id', in: 'path', required: true, schema: { type: 'string' } },
              { name: 'session', in: 'cookie', schema: { type: 'string' } },
            ],
            responses: { '200': { description: 'A nest.', content: { 'application/json': { schema: { $ref: 'common.yaml#/Nest' } } } } },
          },
        },
        '/eggs': { get: { operationId: 'get-nest', responses: { '200': { description: 'Eggs.' } } } },
        '/owls/{owlId}': { get: { operationId: 'owl', parameters: [{ $ref: '#/components/parameters/OwlId' }], responses: { '200': { description: 'An owl.' } } } },
        '/ducks': { $ref: '#/components/pathItems/Ducks' },
        '/geese': { $ref: 'geese.yaml' },
        '/swans': { get: null },
        '/stars/*': { get: { responses: { '200': { description: 'Stars.' } } } },
      },
      components: {
        parameters: { OwlId: { name: 'owlId', in: 'path', required: true, schema: { type: 'string' } } },
        pathItems: { Ducks: { get: { operationId: 'ducks', summary: 'Ducks', responses: { '200': { description: 'Ducks.' } } } } },
      },
    };
    const res = await bob('POST', '/api/v1/apis/import', { ...petstore, name: 'birds', basePath: '/birds', document });
    assert.equal(res.status, 201, res.body);
    const { api, warnings } = res.json();
    assert.deepEqual(api.spec.routes.map((r: any) => `${r.name} ${r.path}`), ['get-nest /nests/:nest_id', 'get-nest-2 /eggs', 'owl /owls/:owlId', 'ducks /ducks']);
    assert.equal(api.spec.openapi.routes.ducks.summary, 'Ducks', 'a path item $ref inside the document is followed');
    const expected = [
      /^the document: security requirements are not imported; Weir does not enforce them/,
      /^webhooks \(hatched\) are not imported/,
      /^path "\/nests\/\{nest-id\}\/" is served as \/nests\/:nest_id/,
      /^GET \/nests\/\{nest-id\}\/: cookie parameter "session" is not imported/,
      /^GET \/eggs: route name "get-nest" is taken; named "get-nest-2"/,
      /^\$ref "common\.yaml#\/Nest" points outside the document/,
      /^path "\/geese": \$ref "geese\.yaml" points outside the document/,
      /^GET \/swans is not an object/,
      /^path "\/stars\/\*" \(GET\) is not imported: segment "\*": Weir reads "\*" as a wildcard/,
    ];
    assert.equal(warnings.length, expected.length, warnings.join('\n'));
    for (const pattern of expected) assert.ok(warnings.some((w: string) => pattern.test(w)), `${pattern} in\n${warnings.join('\n')}`);
    const docs = api.spec.openapi.routes['get-nest'];
    assert.deepEqual(docs.parameters, [{ name: 'nest_id', in: 'path', required: true, schema: { type: 'string' } }], 'the path parameter renamed with its path, the cookie left out');
    assert.deepEqual(docs.responses['200'].content['application/json'].schema, { description: 'Not imported: $ref "common.yaml#/Nest".' });
    const exported = (await bob('GET', '/api/v1/apis/birds/openapi.json')).json();
    assertValidOpenApi31(exported);
    assert.deepEqual(exported.paths['/owls/{owlId}'].get.parameters, [{ $ref: '#/components/parameters/OwlId' }], 'a $ref\'d path parameter is not declared twice');
    assert.equal(exported.info.version, '2');
  });

  it('warns when the chosen service does not exist, and the release is refused until it does', async () => {
    const res = await bob('POST', '/api/v1/apis/import', { ...petstore, name: 'ghost', basePath: '/ghost', service: 'nowhere' });
    assert.equal(res.status, 201, res.body);
    assert.ok(res.json().warnings.includes('service "nowhere" does not exist (yet): releases of this API are refused until it does'), res.body);
    const release = await bob('POST', '/api/v1/apis/ghost/releases', {});
    assert.equal(release.status, 422);
    assert.equal(release.json().code, 'WEIR_CONFIG_INVALID');
  });

  it('refuses what is not an OpenAPI 3.0 or 3.1 document, and paths that would be the same route, creating nothing', async () => {
    const attempt = (document: unknown, name = 'bad') => bob('POST', '/api/v1/apis/import', { ...petstore, name, document });
    refused(await attempt({ hello: 'world' }), 422, 'WEIR_VALIDATION_FAILED', /not an OpenAPI document: it has no "openapi" version field/);
    refused(await attempt('swagger: "2.0"\ninfo: { title: old, version: "1" }\npaths: {}\n'), 422, 'WEIR_VALIDATION_FAILED', /Swagger 2\.0; only OpenAPI 3\.0 and 3\.1/);
    refused(await attempt('openapi: 4.0.0\npaths: {}\n'), 422, 'WEIR_VALIDATION_FAILED', /OpenAPI 4\.0\.0; only OpenAPI 3\.0\.x and 3\.1\.x/);
    refused(await attempt('openapi: 3.1.0\npaths: [ /a, /b\n'), 422, 'WEIR_VALIDATION_FAILED', /neither JSON nor YAML/);
    refused(await attempt('openapi: 3.2.0\npaths: {}\n'), 422, 'WEIR_VALIDATION_FAILED', /OpenAPI 3\.2\.0; only OpenAPI 3\.0\.x and 3\.1\.x/);
    refused(await attempt('openapi: 3.1.0\npaths: {}\nopenapi: 3.0.0\n'), 422, 'WEIR_VALIDATION_FAILED', /neither JSON nor YAML: Map keys must be unique/);
    const bomb = ['openapi: 3.1.0', 'a: &a [x, x, x, x, x, x, x, x, x, x]', ...'bcdef'.split('').map((k, i) => `${k}: &${k} [${Array(10).fill(`*${'abcdef'[i]}`).join(', ')}]`)].join('\n');
    refused(await attempt(bomb), 422, 'WEIR_VALIDATION_FAILED', /document: Excessive alias count/);
    refused(await attempt('just some text'), 422, 'WEIR_VALIDATION_FAILED', /not an OpenAPI document: it is not an object/);
    refused(await attempt({ openapi: '3.0.3', info: { title: 't', version: '1' }, paths: ['/a'] }), 422, 'WEIR_VALIDATION_FAILED', /paths is not an object/);
    refused(await attempt(['openapi', '3.1.0']), 422, 'WEIR_VALIDATION_FAILED', /document/);
    refused(await attempt(''), 422, 'WEIR_VALIDATION_FAILED', /document/);
    const { document: _, ...withoutDocument } = petstore;
    refused(await bob('POST', '/api/v1/apis/import', { ...withoutDocument, name: 'bad' }), 422, 'WEIR_VALIDATION_FAILED', /document/);
    refused(await bob('POST', '/api/v1/apis/import', { ...petstore, name: 'bad', basePath: 'no-slash' }), 422, 'WEIR_VALIDATION_FAILED', /basePath/);
    refused(await attempt(PETSTORE, 'bad name'), 422, 'WEIR_VALIDATION_FAILED', /name/);

    const colliding = {
      openapi: '3.1.0',
      info: { title: 'c', version: '1' },
      paths: {
        '/pets/{id}': { get: { responses: { '200': { description: 'a' } } } },
        '/pets/{petId}': { get: { responses: { '200': { description: 'b' } } }, put: { responses: { '200': { description: 'c' } } } },
      },
    };
    refused(await attempt(colliding), 422, 'WEIR_VALIDATION_FAILED', /GET \/pets\/\{id\} and GET \/pets\/\{petId\} would be the same route/);
    refused(await attempt({ ...colliding, paths: { '/a': { get: { responses: {} } }, '/a/': { get: { responses: {} } } } }), 422, 'WEIR_VALIDATION_FAILED', /GET \/a and GET \/a\/ would be the same route/);
    assert.equal((await bob('GET', '/api/v1/apis/bad')).status, 404, 'nothing was created');
    refused(await attempt(PETSTORE, 'petstore'), 409, 'WEIR_ALREADY_EXISTS', /an API "petstore" exists/);
  });

  it('lets only those who may write APIs import, and hides other teams\' APIs and releases', async () => {
    refused(await carol('POST', '/api/v1/apis/import', { ...petstore, name: 'carols' }), 403, 'WEIR_FORBIDDEN', /does not allow changing apis/);
    assert.equal((await carol('GET', '/api/v1/apis/carols')).status, 404, 'nothing was created');
    assert.equal((await carol('GET', '/api/v1/apis/petstore/openapi.json')).status, 200, 'a member reads the export');
    refused(await dave('POST', '/api/v1/apis/import', { ...petstore, name: 'daves' }), 404, 'WEIR_NOT_FOUND', /no team "pets"/);
    refused(await dave('GET', '/api/v1/apis/petstore/openapi.json'), 404, 'WEIR_NOT_FOUND', /no API "petstore"/);
    refused(await bob('GET', '/api/v1/apis/nothing/openapi.json'), 404, 'WEIR_NOT_FOUND', /no API "nothing"/);
    refused(await bob('GET', '/api/v1/apis/petstore/openapi.json?release=9'), 404, 'WEIR_NOT_FOUND', /no release 9/);
    refused(await bob('GET', '/api/v1/apis/petstore/openapi.json?release=first'), 422, 'WEIR_VALIDATION_FAILED', /release number/);

    const own = await dave('POST', '/api/v1/apis/import', { ...petstore, name: 'daves', team: 'birds', basePath: '/daves' });
    assert.equal(own.status, 201, own.body);
    assert.ok(own.json().warnings.length >= 3);
    refused(await bob('GET', '/api/v1/apis/daves/openapi.json'), 404, 'WEIR_NOT_FOUND', /no API "daves"/);
    assert.equal((await admin('GET', '/api/v1/apis/daves/openapi.json')).status, 200, 'a system admin sees every team\'s');
  });
});
