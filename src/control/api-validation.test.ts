import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validationPluginFor } from './api-validation.js';
import type { ApiSpecT } from './apis.js';

const spec = {
  basePath: '/a',
  version: 'v1',
  validation: { requests: true },
  routes: [
    { name: 'create', path: '/x', service: 's' },
    { name: 'list', path: '/x', service: 's' },
    { name: 'upload', path: '/u', service: 's' },
    { name: 'none', path: '/n', service: 's' },
  ],
  openapi: {
    components: {
      schemas: { A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } }, B: { type: 'string' }, C: { type: 'integer' } },
    },
    routes: {
      create: { requestBody: { content: { 'application/merge-patch+json': { schema: { $ref: '#/components/schemas/A' } }, 'text/plain': {} } } },
      list: { parameters: [{ name: 'page', in: 'query', schema: { $ref: '#/components/schemas/C' } }, { name: 'session', in: 'cookie' }] },
      upload: { requestBody: { required: true, content: { 'application/octet-stream': {} } } },
      none: { summary: 'no parameters, no body' },
    },
  },
} as unknown as ApiSpecT;

describe('validate plugin of an API route', () => {
  it('takes the JSON media type\'s schema, every media type, and only the components it reaches', () => {
    assert.deepEqual(validationPluginFor(spec, 'create'), {
      name: 'validate',
      config: {
        body: { mediaTypes: ['application/merge-patch+json', 'text/plain'], schema: { $ref: '#/components/schemas/A' } },
        components: { schemas: { A: { type: 'object', properties: { b: { $ref: '#/components/schemas/B' } } }, B: { type: 'string' } } },
      },
    });
  });

  it('keeps query, path and header parameters (not cookies), and bodies without a JSON schema', () => {
    assert.deepEqual(validationPluginFor(spec, 'list')?.['config'], { parameters: [{ name: 'page', in: 'query', schema: { $ref: '#/components/schemas/C' } }], components: { schemas: { C: { type: 'integer' } } } });
    assert.deepEqual(validationPluginFor(spec, 'upload')?.['config'], { body: { required: true, mediaTypes: ['application/octet-stream'] } });
    assert.equal(validationPluginFor(spec, 'none'), null);
    assert.equal(validationPluginFor(spec, 'undocumented'), null);
  });
});
