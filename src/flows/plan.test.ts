import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlowPlanError } from './errors.js';
import { flowOf, forEachStep, httpStep, transformStep } from './fixtures.case.js';
import { planFlow, planFlowProblems } from './plan.js';

/** The single problem of a flow that has exactly one. */
function onlyProblem(flow: ReturnType<typeof flowOf>): FlowPlanError {
  const problems = planFlowProblems(flow);
  assert.equal(problems.length, 1, problems.map((p) => `${p.path}: ${p.message}`).join('\n'));
  return problems[0]!;
}

describe('planFlow', () => {
  it('infers dependencies from what each step reads, whatever the file order', () => {
    const plan = planFlow(
      flowOf([
        transformStep('d', { b: '{{ steps.b.body }}', c: '{{ steps.c.body }}' }),
        httpStep('b', 'svc', '/b/{{ steps.a.body.id }}'),
        httpStep('c', 'svc', '/c', { call: { headers: { 'x-a': '{{ steps.a.body.id }}' } } }),
        httpStep('a', 'svc', '/a'),
      ]),
    );
    assert.deepEqual(plan.steps.map((s) => s.name), ['a', 'b', 'c', 'd']);
    assert.deepEqual(plan.steps.map((s) => [...s.deps].sort()), [[], ['a'], ['a'], ['b', 'c']]);
    assert.deepEqual(plan.levels, [['a'], ['b', 'c'], ['d']]);
    // `dependents` index into plan.steps: a feeds b and c, b and c feed d.
    assert.deepEqual(plan.steps.map((s) => s.dependents), [[1, 2], [3], [3], []]);
  });

  it('counts when, fallback, forEach items and after as dependencies', () => {
    const plan = planFlow(
      flowOf([
        httpStep('a', 'svc', '/a'),
        httpStep('b', 'svc', '/b'),
        httpStep('c', 'svc', '/c'),
        httpStep('d', 'svc', '/d'),
        forEachStep('e', 'steps.a.body.items', 'svc', '/e/{{ item.id }}', {
          when: 'steps.b.body.ok',
          fallback: '{{ steps.c.body }}',
          after: ['d'],
        }),
      ]),
    );
    assert.deepEqual([...plan.steps.find((s) => s.name === 'e')!.deps].sort(), ['a', 'b', 'c', 'd']);
  });

  it('names an unknown step, where it is read and which steps exist', () => {
    const problem = onlyProblem(
      flowOf([httpStep('user', 'svc', '/u'), httpStep('orders', 'svc', '/o', { call: { body: { owner: { id: '{{ steps.usr.body.id }}' } } } })]),
    );
    assert.equal(problem.path, '/steps/1/call/body/owner/id');
    assert.match(problem.message, /step "orders" reads steps\.usr, but no step is named "usr" \(did you mean "user"\?\); steps: "user", "orders"/);
  });

  it('refuses a step reading itself', () => {
    const problem = onlyProblem(flowOf([httpStep('a', 'svc', '/a/{{ steps.a.body.next }}')]));
    assert.equal(problem.path, '/steps/0/call/path');
    assert.match(problem.message, /step "a" reads its own result/);
  });

  it('names the whole cycle', () => {
    const problem = onlyProblem(
      flowOf([
        httpStep('a', 'svc', '/a/{{ steps.c.body.id }}'),
        httpStep('b', 'svc', '/b/{{ steps.a.body.id }}'),
        httpStep('c', 'svc', '/c/{{ steps.b.body.id }}'),
        httpStep('free', 'svc', '/free'),
        transformStep('behind', '{{ steps.c }}'),
      ]),
    );
    assert.equal(problem.message, 'steps "a" → "b" → "c" → "a" form a cycle');
    assert.equal(problem.path, '/steps/0/call/path');
  });

  it('refuses after naming an unknown step, or the step itself', () => {
    const problems = planFlowProblems(flowOf([httpStep('a', 'svc', '/a', { after: ['zzz', 'a'] })]));
    assert.deepEqual(problems.map((p) => p.path), ['/steps/0/after/0', '/steps/0/after/1']);
    assert.match(problems[0]!.message, /step "a" runs after "zzz", but no step is named "zzz"/);
    assert.match(problems[1]!.message, /runs after itself/);
  });

  it('refuses steps.* with a pointer to the template', () => {
    const problem = onlyProblem(flowOf([httpStep('a', 'svc', '/a'), transformStep('all', { every: '{{ steps.* }}' })]));
    assert.equal(problem.path, '/steps/1/value/every');
    assert.match(problem.message, /read steps by name: steps\.<name>/);
  });

  it('reports every problem at once, and planFlow throws the first', () => {
    const flow = flowOf(
      [
        httpStep('a', 'svc', '/a/{{ steps.nope.x }}'),
        httpStep('a', 'svc', '/dup'),
        forEachStep('e', 'request.body', 'svc', '/e', { as: 'steps' }),
        httpStep('b', 'svc', 'no-slash'),
      ],
      { x: '{{ steps.ghost }}' },
    );
    const problems = planFlowProblems(flow);
    assert.deepEqual(problems.map((p) => p.path), ['/steps/0/call/path', '/steps/1/name', '/steps/2/as', '/steps/3/call/path', '/response/x']);
    assert.throws(() => planFlow(flow), (e: unknown) => e instanceof FlowPlanError && e.path === '/steps/0/call/path');
  });

  it('computes the critical path of a known DAG', () => {
    // a → b → d and a → c → d, with e on its own.
    const plan = planFlow(
      flowOf([
        httpStep('a', 'svc', '/a'),
        httpStep('b', 'svc', '/b/{{ steps.a.status }}'),
        httpStep('c', 'svc', '/c/{{ steps.a.status }}'),
        transformStep('d', ['{{ steps.b }}', '{{ steps.c }}']),
        httpStep('e', 'svc', '/e'),
      ]),
    );
    const ms = (entries: Record<string, number>) => new Map(Object.entries(entries));
    assert.deepEqual(plan.criticalPath(ms({ a: 10, b: 50, c: 20, d: 5, e: 30 })), { steps: ['a', 'b', 'd'], ms: 65 });
    assert.deepEqual(plan.criticalPath(ms({ a: 10, b: 5, c: 20, d: 5, e: 30 })), { steps: ['a', 'c', 'd'], ms: 35 });
    assert.deepEqual(plan.criticalPath(ms({ a: 10, b: 50, c: 20, d: 5, e: 90 })), { steps: ['e'], ms: 90 });
    // A skipped step has no latency: the chain goes on without it.
    assert.deepEqual(plan.criticalPath(ms({ a: 10, c: 20, d: 5 })), { steps: ['a', 'c', 'd'], ms: 35 });
  });
});
