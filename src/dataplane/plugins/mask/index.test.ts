import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { sendJson, startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';

const ACCOUNT = {
  user: { name: 'Ada', email: 'ada@example.com', password: 'hunter2', phone: '+44 20 7946 0958' },
  card: '4111 1111 1111 1111',
  orderId: 4111111111111112,
  createdAt: 1700000000004,
  items: [{ sku: 'a-1', card: 5555555555554444 }],
  session: { refresh: { token: 'r-1' } },
};
const TEXT = 'Contact ada@example.com; card 4111111111111111; order 4111111111111112; at 2024-01-15 10:30:00';

describe('mask plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream((req, res) => {
      const url = req.url!;
      if (url.endsWith('/json')) {
        res.setHeader('x-customer-email', 'ada@example.com');
        return sendJson(res, 200, ACCOUNT);
      }
      if (url.endsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"email":"ada@');
        res.end('example.com"}');
        return;
      }
      if (url.endsWith('/text')) {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return void res.end(TEXT);
      }
      if (url.endsWith('/binary')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(TEXT) });
        return void res.end(TEXT);
      }
      if (url.endsWith('/big')) return sendJson(res, 200, { email: 'ada@example.com', pad: 'x'.repeat(4000) });
      if (url.endsWith('/gzip')) {
        const body = gzipSync(JSON.stringify({ email: 'ada@example.com' }));
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.length });
        return void res.end(body);
      }
      sendJson(res, 200, { email: 'ada@example.com', seenAcceptEncoding: req.headers['accept-encoding'] ?? null });
    });
    weir = await startWeir(`
services:
  up: { targets: [{ url: ${up.url} }] }
routes:
  - path: /masked/*
    service: up
    plugins:
      - name: mask
        config:
          maxBodySize: 2000
          headers: [x-customer-email]
          rules:
            - { path: "$.user.password" }
            - { path: "$..token", style: hash }
            - { path: "$.user.name", style: partial, keep: 1 }
            - { detector: card, style: partial }
            - { detector: email, style: partial }
            - { detector: phone }
          hashKey: "a-masking-key-of-32-characters!!"
  - path: /reshaped/*
    service: up
    plugins:
      - name: transform
        config: { maxBodySize: 1000, response: { body: { contact: "{{ body.email }}" } } }
      - name: mask
        config: { rules: [{ detector: email }] }
  - { path: /plain/*, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('masks a JSON body: paths, then detectors over strings and card numbers sent as numbers; structure and other values kept', async () => {
    const res = await call(`${weir.url}/masked/json`);
    assert.equal(res.status, 200);
    const body = res.json();
    assert.deepEqual(body.user, { name: '****a', email: 'a***@example.com', password: '****', phone: '****' });
    assert.equal(body.card, '**** **** **** 1111');
    assert.equal(body.orderId, 4111111111111112, 'a Luhn-invalid order number is left alone');
    assert.equal(body.createdAt, 1700000000004, 'a timestamp is left alone');
    assert.deepEqual(body.items, [{ sku: 'a-1', card: '************4444' }]);
    assert.match(body.session.refresh.token, /^#[0-9a-f]{12}$/);
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    assert.equal(res.headers['x-customer-email'], 'a***@example.com');
  });

  it('the hash of a value is the same on every response, so it can be correlated', async () => {
    const a = (await call(`${weir.url}/masked/json`)).json();
    const b = (await call(`${weir.url}/masked/json`)).json();
    assert.equal(a.session.refresh.token, b.session.refresh.token);
  });

  it('masks a chunked JSON body and sets Content-Length for what is sent', async () => {
    const res = await call(`${weir.url}/masked/chunked`);
    assert.deepEqual(res.json(), { email: 'a***@example.com' });
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
    assert.equal(res.headers['transfer-encoding'], undefined);
  });

  it('masks a text body with the detectors, leaving dates and Luhn-invalid numbers', async () => {
    const res = await call(`${weir.url}/masked/text`);
    assert.equal(res.body, 'Contact a***@example.com; card ************1111; order 4111111111111112; at 2024-01-15 10:30:00');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
  });

  it('leaves other content types, oversized bodies and compressed bodies byte for byte as the upstream sent them', async () => {
    const binary = await call(`${weir.url}/masked/binary`);
    assert.equal(binary.body, TEXT);
    assert.equal(binary.headers['content-length'], String(Buffer.byteLength(TEXT)));

    const big = await call(`${weir.url}/masked/big`);
    assert.equal(big.json().email, 'ada@example.com', 'over maxBodySize: streamed unchanged');
    assert.equal(big.headers['content-length'], String(Buffer.byteLength(big.body)));

    const gz = await call(`${weir.url}/masked/gzip`);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers['content-length'], String(gzipSync(JSON.stringify({ email: 'ada@example.com' })).length));
  });

  it('asks the upstream for an uncompressed body; a route without the plugin passes Accept-Encoding and the body untouched', async () => {
    const masked = await call(`${weir.url}/masked/echo`, { headers: { 'accept-encoding': 'gzip' } });
    assert.deepEqual(masked.json(), { email: 'a***@example.com', seenAcceptEncoding: null });
    const plain = await call(`${weir.url}/plain/echo`, { headers: { 'accept-encoding': 'gzip' } });
    assert.deepEqual(plain.json(), { email: 'ada@example.com', seenAcceptEncoding: 'gzip' });
  });

  it('runs after transform on the same route: the reshaped body is what gets masked', async () => {
    const res = await call(`${weir.url}/reshaped/echo`);
    assert.deepEqual(res.json(), { contact: '****' });
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
  });

  it('a body over the limit of transform but within that of mask is still masked (and not reshaped)', async () => {
    const res = await call(`${weir.url}/reshaped/big`);
    const body = res.json();
    assert.equal(body.email, '****');
    assert.equal(body.pad.length, 4000);
    assert.equal(res.headers['content-length'], String(Buffer.byteLength(res.body)));
  });

  it('refuses bad rules at load, each with its line', () => {
    const config = (rules: string) => `services:
  up: { targets: [{ url: "http://127.0.0.1:1" }] }
routes:
  - path: /x
    service: up
    plugins:
      - name: mask
        config:
          rules:
${rules}`;
    const problems = configProblems(
      config(`            - detector: creditcard
            - regex: "([a-z]+"
            - path: user.password
            - regex: "(\\\\d+)+x"
            - { detector: email, path: $.email }
`),
    );
    assert.deepEqual(problems, [
      '10: /routes/0/plugins/0/config/rules/0/detector: unknown detector "creditcard"; expected one of: email, phone, card, iban, national-id',
      '11: /routes/0/plugins/0/config/rules/1/regex: Invalid regular expression: /([a-z]+/dg: Unterminated group',
      '12: /routes/0/plugins/0/config/rules/2/path: invalid JSON path: a path starts with "$"',
      '13: /routes/0/plugins/0/config/rules/3/regex: the pattern repeats a group that itself repeats (like (a+)+), which can take exponential time on some inputs; rewrite it without the nested repetition',
      '14: /routes/0/plugins/0/config/rules/4: a rule has exactly one of detector, regex or path (this one has detector and path)',
    ]);
    assert.deepEqual(configProblems(config('            - { detector: card, style: shiny }\n')), ['10: /routes/0/plugins/0/config/rules/0/style: expected one of "full", "partial", "hash" (got "shiny")']);
    delete process.env['WEIR_MASKING_KEY'];
    assert.deepEqual(configProblems(config('            - { path: $.id, style: hash }\n')), [
      '10: /routes/0/plugins/0/config/rules/0/style: style hash needs a key: set hashKey (e.g. ${secret:masking-key}) or the environment variable WEIR_MASKING_KEY (it is not set)',
    ]);
  });
});
