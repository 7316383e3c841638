import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineCounter, parseDocument } from 'yaml';
import { locatorFor, pointerOf, pointerSegments, valueAtPointer } from './locate.js';

test('pointers escape "~" and "/" both ways', () => {
  assert.equal(pointerOf('routes', 0, 'headers', 'a/b~c'), '/routes/0/headers/a~1b~0c');
  assert.deepEqual(pointerSegments('/routes/0/headers/a~1b~0c'), ['routes', '0', 'headers', 'a/b~c']);
  assert.deepEqual(pointerSegments(''), []);
  assert.equal(pointerOf(), '');
});

test('valueAtPointer walks objects and arrays, undefined when absent', () => {
  const root = { a: [{ 'b/c': 1 }] };
  assert.equal(valueAtPointer(root, '/a/0/b~1c'), 1);
  assert.equal(valueAtPointer(root, '/a/1'), undefined);
  assert.equal(valueAtPointer(root, '/a/0/toString'), undefined);
  assert.equal(valueAtPointer(root, ''), root);
});

function locator(text: string) {
  const lineCounter = new LineCounter();
  return locatorFor(parseDocument(text, { lineCounter }), lineCounter);
}

test('a scalar is located at its value, a collection at its key, a missing node at its nearest parent', () => {
  const locate = locator('a:\n  b: 42\n  list:\n    - x\n    - { y: 1 }\n');
  assert.deepEqual(locate('/a/b'), { line: 2, column: 6 });
  assert.deepEqual(locate('/a/b', 'key'), { line: 2, column: 3 });
  assert.deepEqual(locate('/a/list'), { line: 3, column: 3 });
  assert.deepEqual(locate('/a/list/1'), { line: 5, column: 7 });
  assert.deepEqual(locate('/a/list/1/y'), { line: 5, column: 12 });
  assert.deepEqual(locate('/a/list/7'), { line: 3, column: 3 });
  assert.deepEqual(locate('/a/missing/deeper'), { line: 1, column: 1 });
  assert.deepEqual(locate(''), { line: 1, column: 1 });
});

test('aliases are followed to their anchor', () => {
  const locate = locator('base: &t\n  connect: 1s\nother: *t\n');
  assert.deepEqual(locate('/other/connect'), { line: 2, column: 12 });
});

test('an empty document is located at line 1', () => {
  assert.deepEqual(locator('')('/services'), { line: 1, column: 1 });
});
