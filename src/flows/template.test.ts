import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowInputError, TemplateError } from './errors.js';
import { contextOf } from './fixtures.case.js';
import { compileExpression, compilePathTemplate, compileTemplate, headerValue } from './template.js';

const ctx = () => {
  const c = contextOf({ params: { id: '42' }, query: { q: 'shoes' }, body: { items: [{ id: 1 }, { id: 2 }], n: 5 } });
  c.steps = { user: { status: 200, headers: {}, body: { id: 7, name: 'Ada', tags: ['a', 'b'] } }, 'my-step': { x: 1 } };
  return c;
};

describe('compileExpression', () => {
  it('evaluates dotted paths and full JMESPath alike', () => {
    assert.equal(compileExpression('request.params.id').evaluate(ctx()), '42');
    assert.equal(compileExpression('steps.user.body.name').evaluate(ctx()), 'Ada');
    assert.equal(compileExpression('request.params.missing.deeper').evaluate(ctx()), null);
    assert.deepEqual(compileExpression('request.body.items[*].id').evaluate(ctx()), [1, 2]);
    assert.equal(compileExpression('length(steps.user.body.tags)').evaluate(ctx()), 2);
  });

  it('does not read inherited properties on the fast path', () => {
    // The interpreter would return Object.prototype.constructor here.
    assert.equal(compileExpression('request.constructor').evaluate(ctx()), null);
  });

  it('finds the steps an expression reads, however it reads them by name', () => {
    const cases: Array<[string, string[]]> = [
      ['request.params.id', []],
      ['steps.user.body.id', ['user']],
      ['steps.a[0].x', ['a']],
      ['steps."my-step".x', ['my-step']],
      ['$.steps.b.body', ['b']],
      ['steps.{x: c.body, y: d}', ['c', 'd']],
      ['length(steps.e.body) > `1` && steps.f.status == `200`', ['e', 'f']],
      ['request.body.items[?id == $.steps.g.body.id]', ['g']],
      // Inside a projection or an expression reference `steps` is the element's field.
      ['sort_by(steps.h.body, &steps)', ['h']],
      ['request.body.items[*].steps', []],
      ['let $s = steps.i in $s.body', ['i']],
      ['steps.j[]', ['j']],
    ];
    for (const [source, refs] of cases) assert.deepEqual([...compileExpression(source).refs].sort(), refs, source);
  });

  it('refuses reading steps other than by name, quoting the expression', () => {
    for (const source of ['steps.*', 'keys(steps)', 'steps', 'steps[0]', '$', '@', 'let $s = steps in $s.a', 'steps | a', '$.steps', 'values(steps)[0]']) {
      assert.throws(
        () => compileExpression(source),
        (error: unknown) =>
          error instanceof TemplateError && error.path === '' && error.message.includes('read steps by name: steps.<name>') && error.message.includes(JSON.stringify(source)),
        source,
      );
    }
  });

  it('refuses syntax errors, unknown functions and bare true/false/null', () => {
    assert.throws(() => compileExpression('steps.a.', '/when'), (e: unknown) => e instanceof TemplateError && e.path === '/when' && e.message.startsWith('"steps.a."'));
    assert.throws(() => compileExpression('nope(request)'), /unknown function nope\(\)/);
    assert.throws(() => compileExpression('true'), /write the literal in backticks/);
    assert.equal(compileExpression('`true`').evaluate(ctx()), true);
  });
});

describe('compileTemplate', () => {
  it('yields the raw value for a string that is exactly one placeholder', () => {
    const c = ctx();
    assert.equal(compileTemplate('{{ steps.user.body }}').evaluate(c), (c.steps.user as { body: unknown }).body);
    assert.equal(compileTemplate('{{ request.body.n }}').evaluate(c), 5);
  });

  it('interpolates placeholders inside text: null is empty, objects are JSON', () => {
    const t = compileTemplate('id={{ request.params.id }} n={{ request.body.n }} none={{ request.nothing }} o={{ steps."my-step" }}');
    assert.equal(t.evaluate(ctx()), 'id=42 n=5 none= o={"x":1}');
  });

  it('walks objects and arrays, and returns constants as they are', () => {
    const constant = { a: [1, { b: 'two' }] };
    assert.equal(compileTemplate(constant).evaluate(ctx()), constant);
    const mixed = { fixed: { x: 1 }, list: ['{{ request.params.id }}', 'plain'], user: { id: '{{ steps.user.body.id }}' } };
    const compiled = compileTemplate(mixed);
    const value = compiled.evaluate(ctx()) as typeof mixed;
    assert.deepEqual(value, { fixed: { x: 1 }, list: ['42', 'plain'], user: { id: 7 } });
    assert.equal(value.fixed, mixed.fixed);
    assert.deepEqual([...compiled.refs], ['user']);
    assert.equal(compiled.refPaths.get('user'), '/user/id');
  });

  it('takes an expression holding }} as one placeholder', () => {
    assert.deepEqual(compileTemplate('{{ {a: {b: request.params.id}} }}').evaluate(ctx()), { a: { b: '42' } });
  });

  it('points at the bad placeholder with a JSON pointer', () => {
    assert.throws(
      () => compileTemplate({ a: ['ok', '{{ steps.* }}'], 'x/y': 1 }, '/steps/0/value'),
      (e: unknown) => e instanceof TemplateError && e.path === '/steps/0/value/a/1' && e.message.includes('{{ steps.* }}'),
    );
    assert.throws(() => compileTemplate({ 'x/y': '{{ a. }}' }), (e: unknown) => e instanceof TemplateError && e.path === '/x~1y');
    assert.throws(() => compileTemplate('hello {{ request.params.id'), /unclosed placeholder/);
    assert.throws(() => compileTemplate('{{ }}'), /empty placeholder/);
  });
});

describe('compilePathTemplate', () => {
  it('keeps each value inside its segment', () => {
    const path = compilePathTemplate('/users/{{ request.params.id }}/orders');
    assert.equal(path.evaluate(contextOf({ params: { id: '../x?y' } })), '/users/..%2Fx%3Fy/orders');
    assert.equal(path.evaluate(contextOf({ params: { id: 'a/b?x#f' } })), '/users/a%2Fb%3Fx%23f/orders');
    assert.equal(compilePathTemplate('/n/{{ request.body }}').evaluate(contextOf({ body: 42 })), '/n/42');
  });

  it('refuses values that would climb or vanish', () => {
    const path = compilePathTemplate('/users/{{ request.params.id }}');
    for (const id of ['..', '.']) assert.throws(() => path.evaluate(contextOf({ params: { id } })), FlowInputError);
    assert.throws(() => path.evaluate(contextOf({ params: {} })), /is empty/);
  });

  it('refuses paths that do not start with / or carry a query', () => {
    assert.throws(() => compilePathTemplate('users/{{ request.params.id }}', '/p'), (e: unknown) => e instanceof TemplateError && e.path === '/p');
    assert.throws(() => compilePathTemplate('/users?id={{ request.params.id }}'), /put parameters under query/);
    assert.throws(() => compilePathTemplate('/a/../b'), /\. or \.\. segment/);
  });
});

describe('headerValue', () => {
  it('stringifies and refuses CR, LF and NUL', () => {
    assert.equal(headerValue(5), '5');
    assert.equal(headerValue({ a: 1 }), '{"a":1}');
    for (const bad of ['a\r\nx-evil: 1', 'a\nb', 'a\0b']) {
      assert.throws(() => headerValue(bad, 'header x-user'), (e: unknown) => e instanceof FlowInputError && e.code === 'WEIR_FLOW_BAD_INPUT' && e.message.startsWith('header x-user'));
    }
  });
});
