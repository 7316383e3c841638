import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderMatch, RouteConfig } from '../../config/types.js';
import { Router } from './router.js';

let index = 0;
function route(partial: Partial<RouteConfig> & { path: string }): RouteConfig {
  return {
    name: partial.name ?? `r${index}`,
    methods: [],
    hosts: [],
    headers: [] as HeaderMatch[],
    priority: 0,
    service: 's',
    stripPrefix: '',
    preserveHost: null,
    plugins: [],
    index: index++,
    ...partial,
  };
}

function build(routes: RouteConfig[]): Router<string> {
  return new Router(routes, (r) => r.name);
}

function nameOf(router: Router<string>, method: string, path: string, host?: string, headers: Record<string, string> = {}): string | null {
  return router.find(method, path, host, headers)?.entry.target ?? null;
}

describe('router', () => {
  it('lists the methods other routes take for a path it could not match (for 405 Allow)', () => {
    const r = build([
      route({ path: '/orders/:id', methods: ['GET'], hosts: ['a.example'] }),
      route({ path: '/orders/:id', methods: ['DELETE'] }),
      route({ path: '/orders/*', methods: ['PUT'] }),
      route({ path: '/orders/:id', methods: ['PATCH'], headers: [{ kind: 'present', name: 'x-admin', present: true }] }),
    ]);
    assert.deepEqual(r.allowedMethods('/orders/7', 'a.example', {}), ['GET', 'HEAD', 'PUT', 'DELETE']);
    assert.deepEqual(r.allowedMethods('/orders/7', 'b.example', {}), ['PUT', 'DELETE'], 'another host\'s routes do not count');
    assert.deepEqual(r.allowedMethods('/orders/7', 'b.example', { 'x-admin': '1' }), ['PUT', 'PATCH', 'DELETE'], 'nor routes whose header matchers refuse');
    assert.deepEqual(r.allowedMethods('/orders', 'a.example', {}), [], 'an unknown path: 404, not 405');
  });

  it('prefers static over parametric over wildcard segments', () => {
    const r = build([
      route({ name: 'wild', path: '/users/*' }),
      route({ name: 'param', path: '/users/:id' }),
      route({ name: 'static', path: '/users/me' }),
    ]);
    assert.equal(nameOf(r, 'GET', '/users/me'), 'static');
    assert.equal(nameOf(r, 'GET', '/users/42'), 'param');
    assert.equal(nameOf(r, 'GET', '/users/42/orders'), 'wild');
    assert.equal(nameOf(r, 'GET', '/nothing'), null);
  });

  it('extracts path parameters', () => {
    const r = build([route({ name: 'item', path: '/orders/:orderId/items/:itemId' })]);
    const match = r.find('GET', '/orders/7/items/x-9', undefined, {});
    assert.deepEqual({ ...match?.params }, { orderId: '7', itemId: 'x-9' });
  });

  it('matches methods, and answers HEAD for GET routes', () => {
    const r = build([route({ name: 'get', path: '/a', methods: ['GET'] }), route({ name: 'post', path: '/a', methods: ['POST'] })]);
    assert.equal(nameOf(r, 'GET', '/a'), 'get');
    assert.equal(nameOf(r, 'HEAD', '/a'), 'get');
    assert.equal(nameOf(r, 'POST', '/a'), 'post');
    assert.equal(nameOf(r, 'DELETE', '/a'), null);
  });

  it('a route without methods answers every method', () => {
    const r = build([route({ name: 'any', path: '/a' })]);
    for (const m of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD']) assert.equal(nameOf(r, m, '/a'), 'any');
  });

  it('matches exact and wildcard hosts, ignoring the port and case', () => {
    const r = build([
      route({ name: 'api', path: '/', hosts: ['api.example.com'] }),
      route({ name: 'tenants', path: '/', hosts: ['*.shop.example.com'] }),
      route({ name: 'fallback', path: '/' }),
    ]);
    assert.equal(nameOf(r, 'GET', '/', 'API.example.com:8080'), 'api');
    assert.equal(nameOf(r, 'GET', '/', 'acme.shop.example.com'), 'tenants');
    assert.equal(nameOf(r, 'GET', '/', 'a.b.shop.example.com'), 'fallback', 'a wildcard covers exactly one label');
    assert.equal(nameOf(r, 'GET', '/', 'other.org'), 'fallback');
  });

  it('picks among routes of one pattern by header matchers, then priority, then file order', () => {
    const r = build([
      route({ name: 'default', path: '/v' }),
      route({ name: 'v2', path: '/v', headers: [{ name: 'x-version', kind: 'exact', value: '2' }], priority: 10 }),
      route({ name: 'beta', path: '/v', headers: [{ name: 'x-beta', kind: 'present', present: true }], priority: 5 }),
      route({ name: 'mobile', path: '/v', headers: [{ name: 'user-agent', kind: 'regex', regex: '^Mobile' }], priority: 5 }),
    ]);
    assert.equal(nameOf(r, 'GET', '/v'), 'default');
    assert.equal(nameOf(r, 'GET', '/v', undefined, { 'x-version': '2', 'x-beta': '1' }), 'v2');
    assert.equal(nameOf(r, 'GET', '/v', undefined, { 'x-beta': '1', 'user-agent': 'Mobile/1' }), 'beta', 'same priority: file order');
    assert.equal(nameOf(r, 'GET', '/v', undefined, { 'user-agent': 'Mobile/1' }), 'mobile');
    assert.equal(nameOf(r, 'GET', '/v', undefined, { 'x-version': '3' }), 'default');
  });

  it('a request whose headers match no route of its pattern gets no route', () => {
    const r = build([route({ name: 'only', path: '/h', headers: [{ name: 'x-k', kind: 'exact', value: '1' }] })]);
    assert.equal(nameOf(r, 'GET', '/h'), null);
  });

  it('falls back to a less specific pattern when the best one does not take the method or headers', () => {
    const r = build([
      route({ name: 'me', path: '/users/me', methods: ['GET'] }),
      route({ name: 'byId', path: '/users/:id', methods: ['GET', 'POST'] }),
      route({ name: 'canary', path: '/files/:name', headers: [{ name: 'x-canary', kind: 'present', present: true }] }),
      route({ name: 'files', path: '/files/*' }),
    ]);
    assert.equal(nameOf(r, 'POST', '/users/me'), 'byId');
    assert.equal(nameOf(r, 'GET', '/files/a.txt', undefined, { 'x-canary': '1' }), 'canary');
    assert.equal(nameOf(r, 'GET', '/files/a.txt'), 'files');
  });

  it('decodes parameters and gives the wildcard the rest of the path', () => {
    const r = build([route({ name: 'p', path: '/p/:name' }), route({ name: 'w', path: '/w/*' })]);
    assert.deepEqual(r.find('GET', '/p/caf%C3%A9', undefined, {})?.params, { name: 'café' });
    assert.deepEqual(r.find('GET', '/w/a/b/c', undefined, {})?.params, { '*': 'a/b/c' });
    assert.equal(nameOf(r, 'GET', '/w'), null, 'a wildcard needs its slash');
    assert.equal(nameOf(r, 'GET', '/p/'), null, 'a parameter is never empty');
  });

  it('keeps trailing slashes significant and matches the root', () => {
    const r = build([route({ name: 'root', path: '/' }), route({ name: 'a', path: '/a' }), route({ name: 'a/', path: '/a/' })]);
    assert.equal(nameOf(r, 'GET', '/'), 'root');
    assert.equal(nameOf(r, 'GET', '/a'), 'a');
    assert.equal(nameOf(r, 'GET', '/a/'), 'a/');
  });

  it('loads 10,000 routes and resolves each of them', () => {
    const routes: RouteConfig[] = [];
    for (let i = 0; i < 10_000; i++) routes.push(route({ name: `n${i}`, path: i % 2 === 0 ? `/svc${i}/items/:id` : `/svc${i}/static` }));
    const r = build(routes);
    assert.equal(r.size, 10_000);
    for (let i = 0; i < 10_000; i += 997) {
      assert.equal(nameOf(r, 'GET', i % 2 === 0 ? `/svc${i}/items/5` : `/svc${i}/static`), `n${i}`);
    }
  });
});
