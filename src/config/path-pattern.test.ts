import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizedStripPrefix, pathPatternError, patternShape, staticPrefix, stripsStaticPrefix } from './path-pattern.js';

test('valid patterns', () => {
  for (const path of ['/', '/users', '/users/:id', '/users/:user_id/orders/:n2', '/files/*', '/*', '/v1:batch', '/a.b-c~d']) {
    assert.equal(pathPatternError(path), null, path);
  }
});

test('invalid patterns say why', () => {
  assert.equal(pathPatternError('//'), 'empty segment (a "//" or a trailing "/")');
  assert.equal(pathPatternError('/a/*/b'), 'a wildcard "*" is only allowed as the last segment');
  assert.equal(pathPatternError('/a*'), '"a*": a wildcard must be a whole segment ("/files/*")');
  assert.equal(pathPatternError('/a/:b c'), '":b c": "?", "#" and whitespace are not allowed in a path');
  assert.equal(pathPatternError('/a?x=1'), '"a?x=1": "?", "#" and whitespace are not allowed in a path');
  assert.equal(pathPatternError('/:a.b'), '":a.b": a parameter is ":" followed by letters, digits or "_"');
  assert.equal(pathPatternError('/:x/:x'), 'parameter ":x" is used twice');
});

test('patternShape erases parameter names only', () => {
  assert.equal(patternShape('/users/:id/orders/:n'), '/users/:/orders/:');
  assert.equal(patternShape('/users/*'), '/users/*');
});

test('staticPrefix stops at the first parameter or wildcard', () => {
  assert.equal(staticPrefix('/api/users/:id'), '/api/users');
  assert.equal(staticPrefix('/api/*'), '/api');
  assert.equal(staticPrefix('/:id'), '');
  assert.equal(staticPrefix('/'), '');
  assert.equal(staticPrefix('/health'), '/health');
});

test('stripPrefix must cover whole leading segments of the static part', () => {
  assert.equal(stripsStaticPrefix('/api', '/api/users/:id'), true);
  assert.equal(stripsStaticPrefix('/api/users/', '/api/users/:id'), true);
  assert.equal(stripsStaticPrefix('/api/users', '/api/users'), true);
  assert.equal(stripsStaticPrefix('/', '/:id'), true);
  assert.equal(stripsStaticPrefix('/ap', '/api/users'), false);
  assert.equal(stripsStaticPrefix('/api/users/x', '/api/users/:id'), false);
  assert.equal(normalizedStripPrefix('/api/'), '/api');
  assert.equal(normalizedStripPrefix('/'), '');
  assert.equal(normalizedStripPrefix(undefined), '');
});
