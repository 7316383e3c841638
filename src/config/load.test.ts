import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIssues, loadConfigFile, parseConfig } from './load.js';
import { DEFAULTS } from './normalize.js';
import type { Config, ConfigIssue } from './types.js';

/** The YAML in a template literal, without the first newline and the common indentation. */
function yaml(strings: TemplateStringsArray, ...values: unknown[]): string {
  const lines = String.raw({ raw: strings }, ...values).replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((line) => line.trim() !== '').map((line) => line.length - line.trimStart().length));
  return lines.map((line) => line.slice(indent)).join('\n');
}

function configOf(text: string): Config {
  const result = parseConfig(text, 'weir.yaml');
  if (!result.ok) assert.fail(`expected a valid config, got:\n${formatIssues(result.issues, 'weir.yaml')}`);
  return result.config;
}

function issuesOf(text: string): ConfigIssue[] {
  const result = parseConfig(text, 'weir.yaml');
  if (result.ok) assert.fail('expected issues, the config is valid');
  return result.issues;
}

/** Path and line of every issue: what each check must get exactly right. */
function wherever(text: string): Array<{ path: string; line: number }> {
  return issuesOf(text).map(({ path, line }) => ({ path, line }));
}

const ORDERS = yaml`
  services:
    orders:
      targets:
        - url: http://127.0.0.1:9001
`;


/** What `global.jobs` normalises to when the file says nothing about it. */
const DEFAULT_JOBS = {
  path: '/jobs',
  retentionMs: 86_400_000,
  leaseMs: 10_000,
  callbacks: { allowHosts: [], secretEnv: 'WEIR_CALLBACK_SECRET', attempts: 8, initialBackoffMs: 1_000, maxBackoffMs: 300_000, timeoutMs: 10_000 },
};

describe('parseConfig: valid files', () => {
  test('a full config is normalised', () => {
    const text = yaml`
      # yaml-language-server: $schema=../docs/weir.schema.json
      version: 1
      global:
        listen: { host: 127.0.0.1, port: 8000 }
        admin: { port: 9000 }
        limits: { maxHeaderSize: 8kb, maxBodySize: 1048576, requestTimeout: 30s, keepAliveTimeout: 1.5s }
        proxy: { via: false, forwarded: both, requestIdHeader: X-Correlation-Id, trustRequestId: false }
        shutdown: { drainTimeout: 1m }
        plugins:
          - name: headers
            config: { response: { set: { x-served-by: weir } } }
          - name: headers
            enabled: false
      services:
        orders:
          targets:
            - url: http://127.0.0.1:9001/
            - url: http://127.0.0.1:9002/api/
              weight: 3
        users:
          balancing: consistent-hash
          hashOn: { header: X-User }
          preserveHost: true
          targets: [{ url: "https://users.internal" }]
          timeouts: { connect: 1.5s, read: 2m, total: 1h }
          retries: { attempts: 3, backoff: { initial: 10ms, max: 500 }, onStatuses: [503], nonIdempotent: true }
          circuitBreaker: false
          healthCheck:
            active: { interval: 2s, expectStatus: [200] }
            passive: false
          pool: { connections: 16, keepAliveTimeout: 1s }
      routes:
        - path: /orders/:id
          methods: [GET, POST]
          service: orders
        - name: users
          path: /users/*
          hosts: [API.Example.com]
          headers: { X-Tenant: acme, X-Debug: { present: true }, X-Ver: { regex: "^v[0-9]+$" } }
          priority: 5
          service: users
          stripPrefix: /users/
          preserveHost: false
          plugins:
            - name: headers
            - name: headers
              enabled: false
    `;
    const expected: Config = {
      global: {
        listen: { host: '127.0.0.1', port: 8000 },
        admin: { host: '127.0.0.1', port: 9000 },
        limits: { maxHeaderSize: 8192, maxBodySize: 1048576, requestTimeoutMs: 30000, keepAliveTimeoutMs: 1500 },
        proxy: { via: false, forwarded: 'both', requestIdHeader: 'x-correlation-id', trustRequestId: false },
        shutdown: { drainTimeoutMs: 60000 },
        plugins: [{ name: 'headers', config: { response: { set: { 'x-served-by': 'weir' } } } }],
        jobs: DEFAULT_JOBS,
        rateLimits: DEFAULTS.rateLimits,
        masking: null,
        metrics: { enabled: true },
        cache: DEFAULTS.cache,
        callLog: DEFAULTS.callLog,
        synthetic: DEFAULTS.synthetic,
        tracing: DEFAULTS.tracing,
        accessLog: false,
      },
      services: new Map([
        [
          'orders',
          {
            name: 'orders',
            targets: [
              { origin: 'http://127.0.0.1:9001', basePath: '', weight: 1 },
              { origin: 'http://127.0.0.1:9002', basePath: '/api', weight: 3 },
            ],
            balancing: 'round-robin',
            hashOn: null,
            preserveHost: false,
            connectTimeoutMs: 5000,
            readTimeoutMs: 30000,
            totalTimeoutMs: 60000,
            retries: { attempts: 1, initialBackoffMs: 25, maxBackoffMs: 1000, onStatuses: [502, 503, 504], nonIdempotent: false },
            circuitBreaker: { failureThreshold: 5, openForMs: 10000, halfOpenRequests: 1 },
            activeHealth: null,
            passiveHealth: { failures: 3, ejectForMs: 5000, maxEjectForMs: 60000, onStatuses: [] },
            connections: 256,
            keepAliveTimeoutMs: 4000,
          },
        ],
        [
          'users',
          {
            name: 'users',
            targets: [{ origin: 'https://users.internal', basePath: '', weight: 1 }],
            balancing: 'consistent-hash',
            hashOn: { header: 'x-user' },
            preserveHost: true,
            connectTimeoutMs: 1500,
            readTimeoutMs: 120000,
            totalTimeoutMs: 3600000,
            retries: { attempts: 3, initialBackoffMs: 10, maxBackoffMs: 500, onStatuses: [503], nonIdempotent: true },
            circuitBreaker: null,
            activeHealth: { path: '/health', intervalMs: 2000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: [200] },
            passiveHealth: null,
            connections: 16,
            keepAliveTimeoutMs: 1000,
          },
        ],
      ]),
      routes: [
        {
          name: 'GET,POST /orders/:id',
          methods: ['GET', 'POST'],
          hosts: [],
          path: '/orders/:id',
          headers: [],
          priority: 0,
          service: 'orders',
          stripPrefix: '',
          preserveHost: null,
          plugins: [],
          index: 0,
        },
        {
          name: 'users',
          methods: [],
          hosts: ['api.example.com'],
          path: '/users/*',
          headers: [
            { name: 'x-tenant', kind: 'exact', value: 'acme' },
            { name: 'x-debug', kind: 'present', present: true },
            { name: 'x-ver', kind: 'regex', regex: '^v[0-9]+$' },
          ],
          priority: 5,
          service: 'users',
          stripPrefix: '/users',
          preserveHost: false,
          plugins: [{ name: 'headers', config: {} }],
          index: 1,
        },
      ],
      flows: [],
      version: createHash('sha256').update(text).digest('hex').slice(0, 12),
      source: 'weir.yaml',
    };
    assert.deepEqual(configOf(text), expected);
  });

  test('a minimal config gets every default', () => {
    const config = configOf(`${ORDERS}routes:\n  - path: /orders\n    service: orders\n`);
    assert.deepEqual(config.global, {
      listen: { host: '0.0.0.0', port: 8080 },
      admin: { host: '127.0.0.1', port: 9080 },
      limits: { maxHeaderSize: 16384, maxBodySize: 10485760, requestTimeoutMs: 60000, keepAliveTimeoutMs: 65000 },
      proxy: { via: true, forwarded: 'x-forwarded', requestIdHeader: 'x-request-id', trustRequestId: true },
      shutdown: { drainTimeoutMs: 10000 },
      plugins: [],
      jobs: DEFAULT_JOBS,
      rateLimits: DEFAULTS.rateLimits,
      masking: null,
      metrics: { enabled: true },
      cache: DEFAULTS.cache,
      callLog: DEFAULTS.callLog,
      synthetic: DEFAULTS.synthetic,
      tracing: { enabled: false, endpoint: 'http://127.0.0.1:4318/v1/traces', headers: {}, sampleRatio: 1, serviceName: 'weir' },
      accessLog: false,
    });
    assert.deepEqual(config.services.get('orders'), {
      name: 'orders',
      targets: [{ origin: 'http://127.0.0.1:9001', basePath: '', weight: 1 }],
      balancing: 'round-robin',
      hashOn: null,
      preserveHost: false,
      connectTimeoutMs: 5000,
      readTimeoutMs: 30000,
      totalTimeoutMs: 60000,
      retries: { attempts: 1, initialBackoffMs: 25, maxBackoffMs: 1000, onStatuses: [502, 503, 504], nonIdempotent: false },
      circuitBreaker: { failureThreshold: 5, openForMs: 10000, halfOpenRequests: 1 },
      activeHealth: null,
      passiveHealth: { failures: 3, ejectForMs: 5000, maxEjectForMs: 60000, onStatuses: [] },
      connections: 256,
      keepAliveTimeoutMs: 4000,
    });
    assert.deepEqual(config.routes, [
      {
        name: 'ANY /orders',
        methods: [],
        hosts: [],
        path: '/orders',
        headers: [],
        priority: 0,
        service: 'orders',
        stripPrefix: '',
        preserveHost: null,
        plugins: [],
        index: 0,
      },
    ]);
  });

  test('an active health check gets its defaults, an empty passive one too', () => {
    const service = configOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
          healthCheck: { active: {}, passive: {} }
      routes: []
    `).services.get('orders');
    assert.deepEqual(service?.activeHealth, { path: '/health', intervalMs: 5000, timeoutMs: 1000, healthyThreshold: 2, unhealthyThreshold: 3, expectStatus: [] });
    assert.deepEqual(service?.passiveHealth, { failures: 3, ejectForMs: 5000, maxEjectForMs: 60000, onStatuses: [] });
  });

  test('a derived route name includes hosts, and routes differing only by host are not ambiguous', () => {
    const config = configOf(`${ORDERS}routes:\n  - { path: /a, methods: [GET], service: orders, hosts: [A.example.com, b.example.com] }\n  - { path: /a, methods: [GET], service: orders }\n`);
    assert.deepEqual(
      config.routes.map((route) => route.name),
      ['GET /a @a.example.com,b.example.com', 'GET /a'],
    );
  });

  test('routes that differ in priority, headers, hosts or methods are not ambiguous', () => {
    const config = configOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
      routes:
        - { name: a, path: /x/:id, service: orders }
        - { name: b, path: /x/:id, service: orders, priority: 1 }
        - { name: c, path: /x/:id, service: orders, headers: { x-v: "2" } }
        - { name: d, path: /x/:id, service: orders, hosts: [a.example.com] }
        - { name: e, path: /y, service: orders, methods: [GET] }
        - { name: f, path: /y, service: orders, methods: [POST] }
    `);
    assert.equal(config.routes.length, 6);
  });

  test('version is the first 12 hex digits of the sha256 of the text, source is the argument', () => {
    const text = `${ORDERS}routes: []\n`;
    const result = parseConfig(text, '/etc/weir/weir.yaml');
    assert.ok(result.ok);
    assert.equal(result.config.version, createHash('sha256').update(text).digest('hex').slice(0, 12));
    assert.equal(result.config.version.length, 12);
    assert.equal(result.config.source, '/etc/weir/weir.yaml');
  });
});

describe('parseConfig: YAML and schema problems', () => {
  test('a YAML syntax error has its line and column', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
          - url: http://a
         bad: 1
      routes: []
    `);
    assert.deepEqual(issues, [{ path: '', line: 5, column: 1, message: 'YAML syntax error: All mapping items must start at the same column' }]);
  });

  test('a duplicate key is a YAML error on the second key', () => {
    const issues = issuesOf(`${ORDERS}services: {}\nroutes: []\n`);
    assert.deepEqual(issues, [{ path: '', line: 5, column: 1, message: 'YAML syntax error: Map keys must be unique' }]);
  });

  test('an alias without its anchor is reported where it is used', () => {
    const issues = issuesOf(`${ORDERS}routes:\n  - path: /x\n    service: *main\n`);
    assert.deepEqual(issues, [{ path: '', line: 7, column: 14, message: 'YAML error: alias "*main" has no anchor "&main" before it' }]);
  });

  test('an unknown property is named, on its own line', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
            - url: http://127.0.0.1:9001
          timeout: 5s
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/timeout', line: 5, column: 5, message: 'unknown property "timeout"; did you mean "timeouts"?' },
    ]);
  });

  test('an unknown property with no near miss lists what is allowed', () => {
    const issues = issuesOf(`${ORDERS}routes: []\nlisten: 8080\n`);
    assert.deepEqual(issues, [
      { path: '/listen', line: 6, column: 1, message: 'unknown property "listen"; expected one of: $schema, version, global, services, routes, flows' },
    ]);
  });

  test('a wrong duration is one message at the value, not one per union variant', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
            - url: http://127.0.0.1:9001
          timeouts:
            connect: 5 seconds
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/timeouts/connect', line: 6, column: 16, message: 'expected a duration such as 250, "250ms", "2s" (got "5 seconds")' },
    ]);
  });

  test('a wrong size, a wrong enum and a wrong integer each get one plain message', () => {
    const issues = issuesOf(yaml`
      global:
        limits: { maxBodySize: 10 MB }
        proxy: { forwarded: yes-please }
        listen: { port: 70000 }
      services:
        orders:
          targets: [{ url: "http://a:1", weight: -1 }]
      routes:
        - { path: /a, service: orders, methods: [get] }
    `);
    assert.deepEqual(issues, [
      { path: '/global/limits/maxBodySize', line: 2, column: 26, message: 'expected a size such as 1048576, "16kb", "10mb" (got "10 MB")' },
      { path: '/global/proxy/forwarded', line: 3, column: 23, message: 'expected one of "x-forwarded", "rfc7239", "both", "none" (got "yes-please")' },
      { path: '/global/listen/port', line: 4, column: 19, message: 'must be at most 65535 (got 70000)' },
      { path: '/services/orders/targets/0/weight', line: 7, column: 44, message: 'must be at least 0 (got -1)' },
      {
        path: '/routes/0/methods/0',
        line: 9,
        column: 44,
        message: 'expected one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE" (got "get")',
      },
    ]);
  });

  test('an empty list that should be left out says so', () => {
    assert.deepEqual(issuesOf('services:\n  orders:\n    targets: []\nroutes:\n  - path: /x\n    service: orders\n    methods: []\n'), [
      { path: '/services/orders/targets', line: 3, column: 5, message: 'must not be empty' },
      { path: '/routes/0/methods', line: 7, column: 5, message: 'must not be empty (leave methods out to match every method)' },
    ]);
  });

  test('a missing required `targets` points at the service', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          balancing: round-robin
      routes: []
    `);
    assert.deepEqual(issues, [{ path: '/services/orders/targets', line: 2, column: 3, message: 'missing required property "targets"' }]);
  });

  test('a missing required route property points at the route', () => {
    assert.deepEqual(wherever(`${ORDERS}routes:\n  - methods: [GET]\n    path: /x\n`), [{ path: '/routes/0/service', line: 6 }]);
  });

  test('an empty file (or only comments) misses services and routes, reported on line 1', () => {
    assert.deepEqual(issuesOf('# nothing yet\n'), [
      { path: '/services', line: 1, column: 1, message: 'missing required property "services"' },
      { path: '/routes', line: 1, column: 1, message: 'missing required property "routes"' },
    ]);
  });

  test('a key with no value is reported at the key', () => {
    assert.deepEqual(issuesOf(`${ORDERS}routes:\n`), [
      { path: '/routes', line: 5, column: 1, message: 'expected a list (got an empty value)' },
    ]);
  });

  test('a mistake inside `circuitBreaker: {…}` is reported inside it, not as "expected false"', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
          circuitBreaker:
            openFor: soon
            treshold: 3
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/circuitBreaker/treshold', line: 6, column: 7, message: 'unknown property "treshold"; expected one of: failureThreshold, openFor, halfOpenRequests' },
      { path: '/services/orders/circuitBreaker/openFor', line: 5, column: 16, message: 'expected a duration such as 250, "250ms", "2s" (got "soon")' },
    ].sort((a, b) => a.line - b.line));
  });

  test('`passive: true` says what is allowed', () => {
    const issues = issuesOf(`${ORDERS}    healthCheck: { passive: true }\nroutes: []\n`);
    assert.deepEqual(issues, [
      { path: '/services/orders/healthCheck/passive', line: 5, column: 29, message: 'expected a mapping or false (got true)' },
    ]);
  });

  test('a bad hashOn and a bad header matcher get one message each', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
          balancing: consistent-hash
          hashOn: { ip: true }
      routes:
        - path: /a
          service: orders
          headers:
            x-v: [1, 2]
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/hashOn', line: 5, column: 5, message: 'expected one of {header: <name>}, {cookie: <name>}, {clientIp: true} (got a mapping)' },
      { path: '/routes/0/headers/x-v', line: 10, column: 7, message: 'expected an exact value (a string), {regex: <pattern>} or {present: true|false} (got a list)' },
    ]);
  });

  test('every invalid service name is reported, not only the first', () => {
    const issues = issuesOf(yaml`
      services:
        my orders:
          targets: [{ url: "http://a:1" }]
        ok:
          targets: [{ url: "http://a:1" }]
        user/s:
          targets: [{ url: "http://a:1" }]
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/my orders', line: 2, column: 3, message: 'invalid name "my orders": use only letters, digits, "_", "." and "-"' },
      { path: '/services/user~1s', line: 6, column: 3, message: 'invalid name "user/s": use only letters, digits, "_", "." and "-"' },
    ]);
  });

  test('a target URL without http(s):// fails the schema', () => {
    assert.deepEqual(issuesOf('services:\n  orders:\n    targets: [{ url: "ftp://a" }]\nroutes: []\n'), [
      { path: '/services/orders/targets/0/url', line: 3, column: 22, message: 'must start with "http://" or "https://" (got "ftp://a")' },
    ]);
  });

  test('a file that is not a mapping says so', () => {
    assert.deepEqual(issuesOf('- a\n- b\n'), [{ path: '', line: 1, column: 1, message: 'expected a mapping (key: value pairs) (got a list)' }]);
  });

  test('multiple problems are reported together, in file order', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
            - url: http://127.0.0.1:9001?x=1
          timeouts: { read: fast }
          colour: blue
      routes:
        - path: /orders/:id
          service: order
        - path: /users//list
          service: orders
          methods: [FETCH]
    `);
    assert.deepEqual(
      issues.map(({ path, line, message }) => ({ path, line, message })),
      [
        { path: '/services/orders/targets/0/url', line: 4, message: '"http://127.0.0.1:9001?x=1" must not have a query string' },
        { path: '/services/orders/timeouts/read', line: 5, message: 'expected a duration such as 250, "250ms", "2s" (got "fast")' },
        { path: '/services/orders/colour', line: 6, message: 'unknown property "colour"; expected one of: targets, balancing, hashOn, preserveHost, timeouts, retries, circuitBreaker, healthCheck, pool' },
        { path: '/routes/0/service', line: 9, message: 'unknown service "order"; did you mean "orders"? (defined services: orders)' },
        { path: '/routes/1/path', line: 10, message: 'invalid path pattern "/users//list": empty segment (a "//" or a trailing "/")' },
        { path: '/routes/1/methods/0', line: 12, message: 'expected one of "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE" (got "FETCH")' },
      ],
    );
  });
});

describe('parseConfig: semantic checks', () => {
  test('a route must name an existing service, and the message lists them', () => {
    const issues = issuesOf(`${ORDERS}  users:\n    targets: [{ url: "http://a:2" }]\nroutes:\n  - path: /x\n    service: billing\n`);
    assert.deepEqual(issues, [
      { path: '/routes/0/service', line: 9, column: 14, message: 'unknown service "billing" (defined services: orders, users)' },
    ]);
  });

  test('with no services at all, the message says so', () => {
    assert.deepEqual(issuesOf('services: {}\nroutes:\n  - { path: /x, service: orders }\n'), [
      { path: '/routes/0/service', line: 3, column: 26, message: 'unknown service "orders": no services are defined' },
    ]);
  });

  test('a bad weight on one target does not hide a bad URL on another', () => {
    assert.deepEqual(wherever('services:\n  orders:\n    targets:\n      - { url: "http://a:1", weight: 1.5 }\n      - { url: "http://b:1#x" }\nroutes: []\n'), [
      { path: '/services/orders/targets/0/weight', line: 4 },
      { path: '/services/orders/targets/1/url', line: 5 },
    ]);
  });

  test('duplicate route names: the second is reported with the line of the first', () => {
    const issues = issuesOf(`${ORDERS}routes:\n  - name: orders\n    path: /a\n    service: orders\n  - name: orders\n    path: /b\n    service: orders\n`);
    assert.deepEqual(issues, [
      { path: '/routes/1/name', line: 9, column: 11, message: 'duplicate route name "orders" (also used by the route at line 6)' },
    ]);
  });

  test('derived names must stay unique too', () => {
    const issues = issuesOf(`${ORDERS}routes:\n  - { path: /a, service: orders, headers: { x-v: "1" } }\n  - { path: /a, service: orders, headers: { x-v: "2" } }\n`);
    assert.deepEqual(issues, [
      {
        path: '/routes/1',
        line: 7,
        column: 5,
        message: 'route name "ANY /a" (derived from methods, path and hosts) is also used by the route at line 6; give one of them a "name"',
      },
    ]);
  });

  test('consistent-hash requires hashOn', () => {
    assert.deepEqual(wherever(`${ORDERS}    balancing: consistent-hash\nroutes: []\n`), [{ path: '/services/orders/balancing', line: 5 }]);
    assert.equal(
      issuesOf(`${ORDERS}    balancing: consistent-hash\nroutes: []\n`)[0]?.message,
      'balancing "consistent-hash" needs hashOn: {header: <name>}, {cookie: <name>} or {clientIp: true}',
    );
  });

  test('hashOn without consistent-hash is an error', () => {
    const issues = issuesOf(`${ORDERS}    balancing: least-connections\n    hashOn: { cookie: sid }\nroutes: []\n`);
    assert.deepEqual(issues, [
      { path: '/services/orders/hashOn', line: 6, column: 5, message: 'hashOn only applies to balancing "consistent-hash" (this service uses "least-connections")' },
    ]);
  });

  test('target URLs must parse, and have no query, fragment or credentials', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
            - url: http://a:99999
            - url: http://a:1/x?y=1
            - url: http://a:1/#top
            - url: https://user:pw@a:1
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/targets/0/url', line: 4, column: 14, message: '"http://a:99999" is not a valid URL' },
      { path: '/services/orders/targets/1/url', line: 5, column: 14, message: '"http://a:1/x?y=1" must not have a query string' },
      { path: '/services/orders/targets/2/url', line: 6, column: 14, message: '"http://a:1/#top" must not have a fragment' },
      { path: '/services/orders/targets/3/url', line: 7, column: 14, message: '"https://user:pw@a:1" must not contain a user name or password' },
    ]);
  });

  test('duplicate target URLs in one service (a trailing slash does not make them differ)', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets:
            - url: http://a:1
            - url: http://b:1
            - url: http://a:1/
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/targets/2/url', line: 6, column: 14, message: 'duplicate target "http://a:1/" (also at line 4)' },
    ]);
  });

  test('every weight 0 leaves the service nowhere to send traffic', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          balancing: weighted-round-robin
          targets:
            - { url: "http://a:1", weight: 0 }
            - { url: "http://b:1", weight: 0 }
      routes: []
    `);
    assert.deepEqual(issues, [
      { path: '/services/orders/targets', line: 4, column: 5, message: 'every target has weight 0, so the service has nowhere to send traffic' },
    ]);
  });

  test('path patterns: parameter names, wildcard last, no empty segments', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
      routes:
        - { name: a, service: orders, path: "/users/:user-id" }
        - { name: b, service: orders, path: "/files/*/meta" }
        - { name: c, service: orders, path: "/files*" }
        - { name: d, service: orders, path: "/users/" }
        - { name: e, service: orders, path: "/a/:id/b/:id" }
        - { name: f, service: orders, path: "/a/:" }
    `);
    assert.deepEqual(
      issues.map(({ path, line, message }) => ({ path, line, message })),
      [
        { path: '/routes/0/path', line: 5, message: 'invalid path pattern "/users/:user-id": ":user-id": a parameter is ":" followed by letters, digits or "_"' },
        { path: '/routes/1/path', line: 6, message: 'invalid path pattern "/files/*/meta": a wildcard "*" is only allowed as the last segment' },
        { path: '/routes/2/path', line: 7, message: 'invalid path pattern "/files*": "files*": a wildcard must be a whole segment ("/files/*")' },
        { path: '/routes/3/path', line: 8, message: 'invalid path pattern "/users/": empty segment (a "//" or a trailing "/")' },
        { path: '/routes/4/path', line: 9, message: 'invalid path pattern "/a/:id/b/:id": parameter ":id" is used twice' },
        { path: '/routes/5/path', line: 10, message: 'invalid path pattern "/a/:": ":": a parameter is ":" followed by letters, digits or "_"' },
      ],
    );
  });

  test('header matcher regexes must compile', () => {
    const issues = issuesOf(`${ORDERS}routes:\n  - path: /a\n    service: orders\n    headers:\n      x-version: { regex: "v(1|2" }\n`);
    assert.deepEqual(issues, [
      { path: '/routes/0/headers/x-version/regex', line: 9, column: 27, message: 'invalid regular expression: /v(1|2/: Unterminated group' },
    ]);
  });

  test('the same header twice in different case is an error', () => {
    assert.deepEqual(wherever(`${ORDERS}routes:\n  - path: /a\n    service: orders\n    headers:\n      X-V: "1"\n      x-v: "2"\n`), [
      { path: '/routes/0/headers/x-v', line: 10 },
    ]);
  });

  test('stripPrefix must be a prefix of the static part of the path, at a segment boundary', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
      routes:
        - { name: a, service: orders, path: /api/orders/:id, stripPrefix: /api }
        - { name: b, service: orders, path: /api/users/:id, stripPrefix: /api/users/ }
        - { name: c, service: orders, path: /api/carts/:id, stripPrefix: /ap }
        - { name: d, service: orders, path: /api/:id/orders, stripPrefix: /api/x }
        - { name: e, service: orders, path: /:id, stripPrefix: /x }
    `);
    assert.deepEqual(
      issues.map(({ path, line, message }) => ({ path, line, message })),
      [
        { path: '/routes/2/stripPrefix', line: 7, message: '"/ap" is not a prefix of "/api/carts", the static part of path "/api/carts/:id"' },
        { path: '/routes/3/stripPrefix', line: 8, message: '"/api/x" is not a prefix of "/api", the static part of path "/api/:id/orders"' },
        { path: '/routes/4/stripPrefix', line: 9, message: '"/x" is not a prefix of "/", the static part of path "/:id"' },
      ],
    );
  });

  test('exactly ambiguous routes: the later one is reported with the line of the earlier', () => {
    const issues = issuesOf(yaml`
      services:
        orders:
          targets: [{ url: "http://a:1" }]
      routes:
        - name: read
          path: /orders/:id
          methods: [GET, POST]
          hosts: [shop.example.com]
          headers: { x-v: "2" }
          service: orders
        - name: write
          path: /orders/:orderId
          methods: [POST]
          hosts: [SHOP.example.com, api.example.com]
          headers: { X-V: "2" }
          service: orders
    `);
    assert.deepEqual(issues, [
      {
        path: '/routes/1',
        line: 11,
        column: 5,
        message:
          'route "write" is ambiguous with route "read" at line 5: same path pattern, header matchers and priority, and overlapping methods and hosts, ' +
          'so the router cannot choose between them; remove one or make their methods, hosts or headers differ',
      },
    ]);
  });

  test('a route with no methods overlaps every method', () => {
    assert.deepEqual(wherever(`${ORDERS}routes:\n  - { name: a, path: /a, service: orders }\n  - { name: b, path: /a, service: orders, methods: [DELETE] }\n`), [
      { path: '/routes/1', line: 7 },
    ]);
  });

  test('semantic checks still run next to schema errors in the same route', () => {
    const issues = issuesOf(`${ORDERS}routes:\n  - path: /a//b\n    service: nope\n    priority: high\n`);
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [
        { path: '/routes/0/path', line: 6 },
        { path: '/routes/0/service', line: 7 },
        { path: '/routes/0/priority', line: 8 },
      ],
    );
  });

  test('a header name with "/" is escaped in the path and still located', () => {
    assert.deepEqual(issuesOf(`${ORDERS}routes:\n  - path: /a\n    service: orders\n    headers: { "a/b~c": { regex: "[" } }\n`), [
      { path: '/routes/0/headers/a~1b~0c/regex', line: 8, column: 34, message: 'invalid regular expression: /[/: Unterminated character class' },
    ]);
  });
});

describe('loadConfigFile and formatIssues', () => {
  test('the example at the top of docs/configuration.md is valid', async () => {
    const markdown = await readFile(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(markdown)?.[1];
    assert.ok(example !== undefined, 'docs/configuration.md starts with a yaml example');
    const config = configOf(example);
    assert.deepEqual([...config.services.keys()], ['orders']);
    assert.equal(config.routes[0]?.stripPrefix, '/api');
  });


  test('a missing file is one issue on line 0', async () => {
    const result = await loadConfigFile('/nonexistent/weir.yaml');
    assert.deepEqual(result, {
      ok: false,
      issues: [{ path: '', line: 0, column: 0, message: 'cannot read config file "/nonexistent/weir.yaml": no such file' }],
    });
  });

  test('a directory is not a config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-config-'));
    try {
      const result = await loadConfigFile(dir);
      assert.deepEqual(result, { ok: false, issues: [{ path: '', line: 0, column: 0, message: `cannot read config file "${dir}": it is a directory` }] });
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test('a file on disk is read and parsed, with its path as source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weir-config-'));
    try {
      const path = join(dir, 'weir.yaml');
      await writeFile(path, `${ORDERS}routes: []\n`);
      const result = await loadConfigFile(path);
      assert.ok(result.ok);
      assert.equal(result.config.source, path);
      assert.deepEqual([...result.config.services.keys()], ['orders']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test('formatIssues prints one line per issue, sorted by line', () => {
    const issues: ConfigIssue[] = [
      { path: '/routes/0/service', line: 9, column: 14, message: 'unknown service "x"' },
      { path: '', line: 0, column: 0, message: 'cannot read' },
      { path: '/services/orders/timeout', line: 5, column: 5, message: 'unknown property "timeout"' },
    ];
    assert.equal(
      formatIssues(issues, 'weir.yaml'),
      ['weir.yaml:0:0: /: cannot read', 'weir.yaml:5:5: /services/orders/timeout: unknown property "timeout"', 'weir.yaml:9:14: /routes/0/service: unknown service "x"'].join('\n'),
    );
  });
});
