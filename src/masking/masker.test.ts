import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { compileMasker } from './masker.js';
import { parseJsonPath, JsonPathError } from './json-path.js';
import { maskingProblems, type MaskingSettings } from './rules.js';

const KEY = 'k'.repeat(32);

describe('masking styles', () => {
  it('full replaces a match with a fixed ****, whatever its length', () => {
    const m = compileMasker({ rules: [{ detector: 'email' }] });
    assert.equal(m.text('a@example.com, averyveryverylongname@example.com'), '****, ****');
  });

  it('partial keeps the last 4 digits of cards and phones, the first letter and domain of emails, and honours keep', () => {
    const m = compileMasker({
      rules: [
        { detector: 'card', style: 'partial' },
        { detector: 'email', style: 'partial' },
        { detector: 'phone', style: 'partial', keep: 2 },
      ],
    });
    assert.equal(m.text('card 4111 1111 1111 1111, mail ada@example.com, call +1 415 555 2671'), 'card **** **** **** 1111, mail a***@example.com, call +* *** *** **71');
  });

  it('hash is HMAC-SHA256 with the key: stable, different per key, and a card hashes alike however it is written', () => {
    const rules: MaskingSettings['rules'] = [{ detector: 'card', style: 'hash' }];
    const m = compileMasker({ rules, hashKey: KEY });
    const expected = `#${createHmac('sha256', KEY).update('4111111111111111').digest('hex').slice(0, 12)}`;
    assert.equal(m.text('4111 1111 1111 1111'), expected);
    assert.equal(m.text('4111-1111-1111-1111'), expected);
    assert.equal(m.text('4111111111111111'), expected);
    assert.notEqual(compileMasker({ rules, hashKey: 'another key of 16+ chars' }).text('4111111111111111'), expected);
    // The plain sha256 (what a dictionary of card numbers would hold) is not what comes out.
    assert.equal(expected.includes(createHmac('sha256', '').update('4111111111111111').digest('hex').slice(0, 12)), false);
  });

  it('hash reads its key from the environment variable hashKeyEnv names', () => {
    process.env['WEIR_TEST_MASK_KEY'] = KEY;
    try {
      const m = compileMasker({ rules: [{ regex: 'secret-[0-9]+', style: 'hash' }], hashKeyEnv: 'WEIR_TEST_MASK_KEY' });
      assert.equal(m.text('secret-42'), `#${createHmac('sha256', KEY).update('secret-42').digest('hex').slice(0, 12)}`);
    } finally {
      delete process.env['WEIR_TEST_MASK_KEY'];
    }
  });
});

describe('masking regex rules', () => {
  it('masks the whole match, or only the first capture group when there is one', () => {
    const m = compileMasker({ rules: [{ regex: 'ord-[0-9]{6}' }, { regex: 'pin=([0-9]+)' }, { regex: 'TICKET-(\\w+)', ignoreCase: true, style: 'partial', keep: 2 }] });
    assert.equal(m.text('ord-123456 pin=9876 ticket-abcdef'), '**** pin=**** ticket-****ef');
  });

  it('scans text longer than 16 KiB a line at a time, so every line is still masked', () => {
    const m = compileMasker({ rules: [{ regex: 'tok_[a-z0-9]{8}' }] });
    const line = `${'x'.repeat(100)} tok_abcd1234`;
    const text = Array.from({ length: 400 }, () => line).join('\n');
    assert.ok(text.length > 16 * 1024);
    const out = m.text(text);
    assert.equal(out.includes('tok_'), false);
    assert.equal(out.split('\n').length, 400);
  });
});

describe('masking JSON bodies', () => {
  const body = () => ({
    user: { name: 'Ada', password: 'hunter2', email: 'ada@example.com', token: 't-1' },
    items: [
      { sku: 'a', card: '4111111111111111', qty: 2 },
      { sku: 'b', card: 5555555555554444, qty: 1 },
    ],
    session: { nested: { deeper: { token: 't-2' } } },
    orderId: 4111111111111112,
    at: 1700000000004,
    note: 'mail me at ada@example.com',
  });

  it('path rules: members, wildcards over arrays and objects, recursive descent; structure kept', () => {
    const m = compileMasker({ rules: [{ path: '$.user.password' }, { path: '$.items[*].card', style: 'partial' }, { path: '$..token' }] });
    const out = m.json(body()) as ReturnType<typeof body>;
    assert.deepEqual(out.user, { name: 'Ada', password: '****', email: 'ada@example.com', token: '****' });
    assert.deepEqual(out.items, [
      { sku: 'a', card: '************1111', qty: 2 },
      { sku: 'b', card: '************4444', qty: 1 },
    ]);
    assert.deepEqual(out.session, { nested: { deeper: { token: '****' } } });
    assert.equal(out.note, 'mail me at ada@example.com');
  });

  it('a path selecting an object masks it as one value; `[n]`, `.*` and quoted names select what they say', () => {
    const m = compileMasker({ rules: [{ path: '$.session' }, { path: '$.items[1].sku' }, { path: "$['user'].*" }] });
    const out = m.json(body()) as Record<string, unknown>;
    assert.equal(out['session'], '****');
    assert.deepEqual((out['items'] as unknown[])[1], { sku: '****', card: 5555555555554444, qty: 1 });
    assert.deepEqual(out['user'], { name: '****', password: '****', email: '****', token: '****' });
  });

  it('detectors walk every string and integer; a card sent as a number is masked, order ids and timestamps are not', () => {
    const m = compileMasker({ rules: [{ detector: 'card', style: 'partial' }, { detector: 'email', style: 'partial' }] });
    const out = m.json(body()) as ReturnType<typeof body>;
    assert.equal(out.items[0]!.card, '************1111');
    assert.equal(out.items[1]!.card, '************4444');
    assert.equal(out.orderId, 4111111111111112);
    assert.equal(out.at, 1700000000004);
    assert.equal(out.items[0]!.qty, 2);
    assert.equal(out.note, 'mail me at a***@example.com');
    assert.equal(out.user.email, 'a***@example.com');
  });

  it('a field a path rule hashed is not masked again by the detectors', () => {
    const m = compileMasker({ rules: [{ path: '$.user.email', style: 'hash' }, { regex: '[0-9a-f]{12}' }], hashKey: KEY });
    const out = m.json(body()) as ReturnType<typeof body>;
    assert.match(out.user.email, /^#[0-9a-f]{12}$/);
  });

  it('body(): JSON parsed and re-serialised, text scanned, other types and unchanged bodies give null', () => {
    const m = compileMasker({ rules: [{ detector: 'email' }] });
    assert.equal(m.body(Buffer.from('{"a":"x@example.com","n":1}'), 'application/json; charset=utf-8'), '{"a":"****","n":1}');
    assert.equal(m.body(Buffer.from('<a>x@example.com</a>'), 'application/problem+xml'), '<a>****</a>');
    assert.equal(m.body(Buffer.from('hi x@example.com'), 'text/plain'), 'hi ****');
    assert.equal(m.body(Buffer.from('not json x@example.com'), 'application/json'), 'not json ****');
    assert.equal(m.body(Buffer.from('x@example.com'), 'application/octet-stream'), null);
    assert.equal(m.body(Buffer.from('x@example.com'), undefined), null);
    assert.equal(m.body(Buffer.from('{"a":1}'), 'application/json'), null);
  });
});

describe('masking JSON paths', () => {
  it('parses the subset and refuses the rest with the position', () => {
    assert.deepEqual(parseJsonPath("$.a[0]['b-c'][*]..d.*"), [
      { kind: 'member', name: 'a' },
      { kind: 'index', index: 0 },
      { kind: 'member', name: 'b-c' },
      { kind: 'every' },
      { kind: 'descendants', name: 'd' },
      { kind: 'every' },
    ]);
    for (const bad of ['user.password', '$', '$.', '$[?(@.a)]', '$.a[1:2]', '$..', '$.a b']) assert.throws(() => parseJsonPath(bad), JsonPathError, bad);
  });
});

describe('masking rule checks', () => {
  const problems = (settings: MaskingSettings) => maskingProblems(settings);

  it('name the field at fault: unknown detector (with a suggestion), bad regex, catastrophic regex, empty match, bad path', () => {
    assert.deepEqual(
      problems({ rules: [{ detector: 'emial' }, { regex: '([a-z' }, { regex: '(a+)+b' }, { regex: 'x*' }, { path: 'user.password' }, { detector: 'card', regex: 'x' }, { style: 'full' }] }).map((p) => p.path),
      ['/rules/0/detector', '/rules/1/regex', '/rules/2/regex', '/rules/3/regex', '/rules/4/path', '/rules/5', '/rules/6'],
    );
    assert.match(problems({ rules: [{ detector: 'emial' }] })[0]!.message, /did you mean "email"/);
    assert.match(problems({ rules: [{ regex: '(\\w+\\s?)+$' }] })[0]!.message, /exponential/);
    assert.deepEqual(problems({ rules: [{ regex: '([a-z]+)-[0-9]+' }, { regex: '(ab|cd){2,}' }] }), []);
  });

  it('countries, ignoreCase and keep only where they apply; a hash without a key', () => {
    delete process.env['WEIR_MASKING_KEY'];
    assert.deepEqual(
      problems({ rules: [{ detector: 'national-id', countries: ['us', 'fr'] }, { detector: 'card', countries: ['us'] }, { path: '$.a', ignoreCase: true }, { detector: 'card', keep: 2 }, { path: '$.b', style: 'hash' }] }).map((p) => p.path),
      ['/rules/0/countries/1', '/rules/1/countries', '/rules/2/ignoreCase', '/rules/3/keep', '/rules/4/style'],
    );
    assert.deepEqual(problems({ rules: [{ path: '$.b', style: 'hash' }], hashKey: KEY }), []);
  });
});
