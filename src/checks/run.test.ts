import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'undici';
import { runCheck, stepsOf } from './run.js';
import { definitionOf, specProblems, type CheckSpecT } from './spec.js';

const agent = new Agent();
const servers: Server[] = [];
after(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await agent.close();
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const check = (spec: Partial<CheckSpecT> & { path?: string }) =>
  definitionOf('c', 'team', 1, { interval: '10s', ...spec, request: spec.request ?? { path: spec.path ?? '/' } } as CheckSpecT);

describe('a check run', () => {
  it('reads the steps of a flow from Server-Timing, leaving out the total', () => {
    assert.deepEqual(stepsOf('user;dur=12.5;desc="ok 200", orders;dur=3.0;desc="failed 503 coalesced=2", total;dur=15.5'), [
      { name: 'user', durationMs: 12.5, desc: 'ok 200' },
      { name: 'orders', durationMs: 3, desc: 'failed 503 coalesced=2' },
    ]);
    assert.equal(stepsOf(undefined), null);
    assert.equal(stepsOf('total;dur=1'), null);
  });

  it('fails with reason "timeout" when no answer comes in time, and "error" when the connection is refused', async () => {
    const base = await serve(() => {}); // never answers
    const slow = await runCheck(check({ timeout: '100ms' }), base, agent, 'n');
    assert.equal(slow.ok, false);
    assert.equal(slow.reason, 'timeout');
    assert.equal(slow.status, null);
    const refused = await runCheck(check({}), 'http://127.0.0.1:1', agent, 'n');
    assert.equal(refused.reason, 'error');
    assert.match(refused.detail!, /ECONNREFUSED/);
  });

  it('judges status first, then the body, then the latency', async () => {
    const base = await serve((req, res) => {
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'application/json' });
      res.end(req.url === '/text' ? 'not json' : JSON.stringify({ state: 'up', items: [] }));
    });
    const run = (spec: Partial<CheckSpecT> & { path?: string }) => runCheck(check(spec), base, agent, 'n');
    assert.equal((await run({ path: '/missing', expect: { body: { jmespath: 'nothing' } } })).reason, 'status');
    assert.equal((await run({ path: '/missing', expect: { status: [404] } })).ok, true);
    assert.equal((await run({ path: '/ok', expect: { body: { jmespath: 'state', equals: 'up' } } })).ok, true);
    const wrong = await run({ path: '/ok', expect: { body: { jmespath: 'state', equals: 'down' } } });
    assert.equal(wrong.reason, 'assertion');
    assert.equal(wrong.detail, 'state is "up", expected "down"');
    assert.equal((await run({ path: '/ok', expect: { body: { jmespath: 'items' } } })).detail, 'items is [] (not truthy)');
    assert.equal((await run({ path: '/text', expect: { body: { jmespath: 'state' } } })).detail, 'the body is not JSON');
    const tooSlow = await run({ path: '/ok', expect: { maxLatency: 0 } });
    assert.equal(tooSlow.reason, 'latency');
    assert.equal(tooSlow.status, 200);
  });
});

describe('a check spec', () => {
  it('is refused below the minimum interval, with a timeout past the interval, or a maxLatency past the timeout', () => {
    const spec = (over: Partial<CheckSpecT>): CheckSpecT => ({ interval: '10s', request: { path: '/' }, ...over });
    assert.deepEqual(specProblems(spec({}), 10_000), []);
    assert.deepEqual(specProblems(spec({ interval: '5s' }), 10_000).map((p) => p.pointer), ['/spec/interval']);
    assert.deepEqual(specProblems(spec({ interval: '5s' }), 1_000), []);
    assert.deepEqual(specProblems(spec({ timeout: '11s' }), 10_000).map((p) => p.pointer), ['/spec/timeout']);
    assert.deepEqual(specProblems(spec({ expect: { maxLatency: '11s' } }), 10_000).map((p) => p.pointer), ['/spec/expect/maxLatency'], 'the default timeout is 10s');
    assert.deepEqual(specProblems(spec({ request: { path: '/', body: 'x' } }), 10_000).map((p) => p.pointer), ['/spec/request/body']);
  });

  it('sends a JSON body with its content type, and a string as it is', () => {
    const json = definitionOf('c', 't', 1, { interval: '10s', request: { method: 'POST', path: '/', body: { a: 1 } } });
    assert.equal(json.body, '{"a":1}');
    assert.equal(json.headers['content-type'], 'application/json');
    const text = definitionOf('c', 't', 1, { interval: '10s', request: { method: 'POST', path: '/', body: 'a=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } } });
    assert.equal(text.body, 'a=1');
    assert.equal(text.headers['content-type'], 'application/x-www-form-urlencoded');
  });
});
