// The cache plugin in one process against a real upstream that counts what it receives:
// Cache-Control directives, Expires, the ttl default, Age, Vary variants, the Authorization
// rule, HEAD, statuses, body size, client Cache-Control, single-flight, stale-while-revalidate,
// the memory store's byte bound, and bad config refused at load.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { call, configProblems, startWeir, type Reply, type TestWeir } from '../support/weir.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { until } from '../support/cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Upstream answers per path: headers to send, status, and a body that says which call it was. */
interface Answer {
  status?: number;
  headers?: Record<string, string>;
  body?: (n: number, url: string, headers: Record<string, string | string[] | undefined>) => string;
  /** Holds the answer until the promise settles. */
  hold?: (n: number) => Promise<void> | undefined;
}

function answering(table: Record<string, Answer>) {
  const counts = new Map<string, number>();
  return async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url!;
    const path = url.split('?')[0]!;
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    const answer = table[path] ?? {};
    await answer.hold?.(n);
    const body = answer.body?.(n, url, req.headers) ?? `${path} #${n}`;
    res.writeHead(answer.status ?? 200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), ...answer.headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

const seen = (upstream: TestUpstream, path: string) => upstream.requests.filter((r) => r.url.split('?')[0] === path).length;
const xcache = (r: Reply) => r.headers['x-cache'];

function cacheRoute(path: string, config = '{}', extra = ''): string {
  return `  - path: ${path}\n    service: s\n    plugins:\n      - name: cache\n        config: ${config}\n${extra}`;
}

describe('cache plugin: what is stored and for how long', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  const KEY_A = 'key-of-alice';
  const KEY_B = 'key-of-bob';
  const hash = (k: string) => createHash('sha256').update(k).digest('base64url');
  before(async () => {
    const date = new Date().toUTCString();
    upstream = await startUpstream(answering({
      '/max-age': { headers: { 'cache-control': 'max-age=60' } },
      '/no-store': { headers: { 'cache-control': 'no-store, max-age=60' } },
      '/private': { headers: { 'cache-control': 'private, max-age=60' } },
      '/no-cache': { headers: { 'cache-control': 'no-cache, max-age=60' } },
      '/zero': { headers: { 'cache-control': 'max-age=0' } },
      '/s-maxage': { headers: { 'cache-control': 'max-age=0, s-maxage=60' } },
      '/expires': { headers: { date, expires: new Date(Date.parse(date) + 120_000).toUTCString() } },
      '/expired': { headers: { date, expires: new Date(Date.parse(date) - 1_000).toUTCString() } },
      '/expires-invalid': { headers: { expires: '0' } },
      '/silent': {},
      '/silent-no-ttl': {},
      '/aged': { headers: { 'cache-control': 'max-age=60', age: '30' } },
      '/too-old': { headers: { 'cache-control': 'max-age=60', age: '100' } },
      '/vary': { headers: { 'cache-control': 'max-age=60', vary: 'Accept-Language' }, body: (n, _u, h) => `lang=${String(h['accept-language'])} #${n}` },
      '/vary-star': { headers: { 'cache-control': 'max-age=60', vary: '*' } },
      '/cookie': { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'session=abc' } },
      '/auth': { headers: { 'cache-control': 'max-age=60' } },
      '/auth-public': { headers: { 'cache-control': 'public, max-age=60' } },
      '/auth-smaxage': { headers: { 'cache-control': 's-maxage=60' } },
      '/per-consumer': { headers: { 'cache-control': 'max-age=60' }, body: (n, _u, h) => `for ${String(h['x-consumer-id'])} #${n}` },
      '/not-found': { status: 404, headers: { 'cache-control': 'max-age=60' } },
      '/failing': { status: 500, headers: { 'cache-control': 'max-age=60' } },
      '/created': { status: 201, headers: { 'cache-control': 'max-age=60' } },
      '/big': { headers: { 'cache-control': 'max-age=60' }, body: (n) => `${'x'.repeat(2000)}#${n}` },
      '/head': { headers: { 'cache-control': 'max-age=60' } },
      '/head-first': { headers: { 'cache-control': 'max-age=60' } },
      '/keyed': { headers: { 'cache-control': 'max-age=60' }, body: (n, _u, h) => `tenant=${String(h['x-tenant'])} #${n}` },
      '/decorated': { headers: { 'cache-control': 'max-age=60' } },
      '/reshaped': { headers: { 'cache-control': 'max-age=60', 'content-type': 'application/json' }, body: (n) => JSON.stringify({ items: [{ id: 1 }, { id: 2 }], call: n }) },
      '/client-ignored': { headers: { 'cache-control': 'max-age=60' } },
      '/client-honored': { headers: { 'cache-control': 'max-age=60' } },
      '/post': { headers: { 'cache-control': 'max-age=60' } },
      '/range': { headers: { 'cache-control': 'max-age=60' } },
    }));
    const keyAuth = (api: string) => `      - name: key-auth
        config:
          api: ${api}
          keys:
            ${hash(KEY_A)}: { consumer: alice, team: t, credential: c1, expiresAt: null, subscription: approved }
            ${hash(KEY_B)}: { consumer: bob, team: t, credential: c2, expiresAt: null, subscription: approved }
`;
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
${cacheRoute('/max-age')}${cacheRoute('/no-store')}${cacheRoute('/private')}${cacheRoute('/no-cache')}${cacheRoute('/zero')}${cacheRoute('/s-maxage')}${cacheRoute('/expires')}${cacheRoute('/expired')}${cacheRoute('/expires-invalid')}${cacheRoute('/silent', '{ ttl: 1h }')}${cacheRoute('/silent-no-ttl', '{ ttl: 0 }')}${cacheRoute('/aged')}${cacheRoute('/too-old')}${cacheRoute('/vary')}${cacheRoute('/vary-star')}${cacheRoute('/cookie')}${cacheRoute('/auth')}${cacheRoute('/auth-public')}${cacheRoute('/auth-smaxage')}${cacheRoute('/not-found')}${cacheRoute('/failing')}${cacheRoute('/created')}${cacheRoute('/big', '{ maxBodySize: 1kb }')}${cacheRoute('/head')}${cacheRoute('/head-first')}${cacheRoute('/keyed', '{ keyHeaders: [x-tenant] }')}${cacheRoute('/client-ignored')}${cacheRoute('/client-honored', '{ clientCacheControl: honor }')}${cacheRoute('/post')}${cacheRoute('/range')}
  - path: /decorated
    service: s
    plugins:
      - name: cache
        config: {}
      - name: headers
        config: { response: { set: { x-decorated: 'yes' } } }
  - path: /reshaped
    service: s
    plugins:
      - name: cache
        config: {}
      - name: transform
        config:
          response:
            body: { ids: "{{ body.items[].id }}", call: "{{ body.call }}", for: '{{ request.headers."x-who" }}' }
  - path: /per-consumer
    service: s
    plugins:
${keyAuth('shop')}      - name: cache
        config: { keyConsumer: true }
  - path: /auth-consumer-off
    service: s
    plugins:
${keyAuth('shop')}      - name: cache
        config: {}
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  /** Requests `path` `n` times one after another; the X-Cache of each. */
  async function twice(path: string, headers: Record<string, string> = {}, n = 2): Promise<Reply[]> {
    const replies: Reply[] = [];
    for (let i = 0; i < n; i++) replies.push(await call(`${weir.url}${path}`, { headers }));
    return replies;
  }

  it('max-age: the first request is a MISS, the next a HIT with the same body, the upstream called once', async () => {
    const [a, b] = await twice('/max-age');
    assert.equal(xcache(a!), 'MISS');
    assert.equal(xcache(b!), 'HIT');
    assert.equal(b!.body, a!.body);
    assert.equal(b!.status, 200);
    assert.equal(b!.headers['cache-control'], 'max-age=60');
    assert.match(String(b!.headers['age']), /^\d+$/);
    assert.equal(seen(upstream, '/max-age'), 1);
  });

  it('the query is part of the key', async () => {
    const [a] = await twice('/max-age?page=2', {}, 1);
    assert.equal(xcache(a!), 'MISS');
    assert.equal(a!.body, '/max-age #2');
    assert.equal(xcache((await twice('/max-age?page=2', {}, 1))[0]!), 'HIT');
  });

  for (const path of ['/no-store', '/private', '/no-cache', '/zero', '/expired', '/expires-invalid', '/silent-no-ttl', '/too-old', '/vary-star', '/cookie']) {
    it(`${path}: not stored (every request reaches the upstream)`, async () => {
      const replies = await twice(path, {}, 3);
      assert.deepEqual(replies.map(xcache), ['MISS', 'MISS', 'MISS']);
      assert.equal(seen(upstream, path), 3);
    });
  }

  for (const path of ['/s-maxage', '/expires', '/silent']) {
    it(`${path}: stored`, async () => {
      const replies = await twice(path, {}, 3);
      assert.deepEqual(replies.map(xcache), ['MISS', 'HIT', 'HIT']);
      assert.equal(seen(upstream, path), 1);
    });
  }

  it('Age: a HIT counts from the Age the upstream already gave', async () => {
    const [, hit] = await twice('/aged');
    assert.equal(xcache(hit!), 'HIT');
    assert.ok(Number(hit!.headers['age']) >= 30, `age ${String(hit!.headers['age'])}`);
  });

  it('Vary: each Accept-Language gets its own stored variant', async () => {
    const en1 = await call(`${weir.url}/vary`, { headers: { 'accept-language': 'en' } });
    const fr1 = await call(`${weir.url}/vary`, { headers: { 'accept-language': 'fr' } });
    const en2 = await call(`${weir.url}/vary`, { headers: { 'accept-language': 'en' } });
    const fr2 = await call(`${weir.url}/vary`, { headers: { 'accept-language': 'fr' } });
    assert.deepEqual([en1, fr1, en2, fr2].map(xcache), ['MISS', 'MISS', 'HIT', 'HIT']);
    assert.equal(en2.body, 'lang=en #1');
    assert.equal(fr2.body, 'lang=fr #2');
    assert.equal(seen(upstream, '/vary'), 2);
  });

  it('keyHeaders: each value of a chosen header is its own entry', async () => {
    const a1 = await call(`${weir.url}/keyed`, { headers: { 'x-tenant': 'a' } });
    const b1 = await call(`${weir.url}/keyed`, { headers: { 'x-tenant': 'b' } });
    const a2 = await call(`${weir.url}/keyed`, { headers: { 'x-tenant': 'a' } });
    assert.deepEqual([a1, b1, a2].map(xcache), ['MISS', 'MISS', 'HIT']);
    assert.equal(a2.body, 'tenant=a #1');
    assert.equal(seen(upstream, '/keyed'), 2);
  });

  it('Authorization: not stored unless the response says public or s-maxage', async () => {
    const auth = { authorization: 'Bearer whoever' };
    assert.deepEqual((await twice('/auth', auth)).map(xcache), ['MISS', 'MISS']);
    assert.equal(seen(upstream, '/auth'), 2);
    assert.deepEqual((await twice('/auth-public', auth)).map(xcache), ['MISS', 'HIT']);
    assert.deepEqual((await twice('/auth-smaxage', auth)).map(xcache), ['MISS', 'HIT']);
  });

  it('Authorization with the consumer in the key: stored per consumer, never served to another', async () => {
    const alice = { authorization: `Bearer ${KEY_A}` };
    const bob = { authorization: `Bearer ${KEY_B}` };
    const a = await twice('/per-consumer', alice);
    const b = await twice('/per-consumer', bob);
    assert.deepEqual([...a, ...b].map(xcache), ['MISS', 'HIT', 'MISS', 'HIT']);
    assert.equal(a[1]!.body, 'for alice #1');
    assert.equal(b[1]!.body, 'for bob #2');
    assert.equal(seen(upstream, '/per-consumer'), 2);
    // The same consumers on a route whose key does not hold the consumer: nothing stored.
    const off = await twice('/auth-consumer-off', alice);
    assert.deepEqual(off.map(xcache), ['MISS', 'MISS']);
    // An API key in its own header identifies the consumer just the same: not stored either.
    const byHeader = await twice('/auth-consumer-off', { 'x-api-key': KEY_B });
    assert.deepEqual(byHeader.map((r) => [r.status, xcache(r)]), [[200, 'MISS'], [200, 'MISS']]);
  });

  it('statuses: a 404 is stored by default, a 500 and a 201 are not', async () => {
    assert.deepEqual((await twice('/not-found')).map((r) => [r.status, xcache(r)]), [[404, 'MISS'], [404, 'HIT']]);
    assert.deepEqual((await twice('/failing')).map((r) => [r.status, xcache(r)]), [[500, 'MISS'], [500, 'MISS']]);
    assert.equal(seen(upstream, '/failing'), 2);
    assert.deepEqual((await twice('/created')).map((r) => [r.status, xcache(r)]), [[201, 'MISS'], [201, 'MISS']]);
  });

  it('a body over maxBodySize is streamed whole and not stored', async () => {
    const replies = await twice('/big');
    assert.deepEqual(replies.map(xcache), ['MISS', 'MISS']);
    assert.equal(replies[1]!.body.length, 2000 + '#2'.length);
    assert.equal(seen(upstream, '/big'), 2);
  });

  it('HEAD: answered from the stored GET without a body; a HEAD miss stores nothing', async () => {
    await call(`${weir.url}/head`);
    const head = await call(`${weir.url}/head`, { method: 'HEAD' });
    assert.equal(xcache(head), 'HIT');
    assert.equal(head.body, '');
    assert.equal(head.headers['content-length'], String(Buffer.byteLength('/head #1')));
    assert.equal(seen(upstream, '/head'), 1);
    const firstHead = await call(`${weir.url}/head-first`, { method: 'HEAD' });
    assert.equal(xcache(firstHead), 'MISS');
    const get = await call(`${weir.url}/head-first`);
    assert.equal(xcache(get), 'MISS');
    assert.equal(seen(upstream, '/head-first'), 2);
  });

  it('POST and Range requests bypass the cache', async () => {
    const post = await call(`${weir.url}/post`, { method: 'POST', body: 'x' });
    const range = await call(`${weir.url}/range`, { headers: { range: 'bytes=0-3' } });
    await call(`${weir.url}/range`, { headers: { range: 'bytes=0-3' } });
    assert.equal(xcache(post), 'BYPASS');
    assert.equal(xcache(range), 'BYPASS');
    assert.equal(seen(upstream, '/range'), 2);
  });

  it('response plugins still run on a HIT', async () => {
    const [a, b] = await twice('/decorated');
    assert.equal(xcache(b!), 'HIT');
    assert.equal(a!.headers['x-decorated'], 'yes');
    assert.equal(b!.headers['x-decorated'], 'yes');
  });

  it('a body transform runs on every answer, HITs included, over the upstream body that was stored', async () => {
    const a = await call(`${weir.url}/reshaped`, { headers: { 'x-who': 'ann' } });
    const b = await call(`${weir.url}/reshaped`, { headers: { 'x-who': 'ben' } });
    assert.deepEqual([xcache(a), xcache(b)], ['MISS', 'HIT']);
    assert.deepEqual(a.json(), { ids: [1, 2], call: 1, for: 'ann' });
    assert.deepEqual(b.json(), { ids: [1, 2], call: 1, for: 'ben' });
    assert.equal(b.headers['content-length'], String(Buffer.byteLength(b.body)));
    assert.equal(seen(upstream, '/reshaped'), 1);
  });

  it('client Cache-Control: ignored by default; with honor, no-cache refetches and stores, no-store bypasses', async () => {
    await call(`${weir.url}/client-ignored`);
    const ignored = await call(`${weir.url}/client-ignored`, { headers: { 'cache-control': 'no-cache' } });
    assert.equal(xcache(ignored), 'HIT');
    assert.equal(seen(upstream, '/client-ignored'), 1);

    await call(`${weir.url}/client-honored`);
    const refetched = await call(`${weir.url}/client-honored`, { headers: { 'cache-control': 'no-cache' } });
    assert.equal(xcache(refetched), 'MISS');
    assert.equal(refetched.body, '/client-honored #2');
    const after = await call(`${weir.url}/client-honored`);
    assert.equal(xcache(after), 'HIT');
    assert.equal(after.body, '/client-honored #2');
    const bypassed = await call(`${weir.url}/client-honored`, { headers: { 'cache-control': 'no-store' } });
    assert.equal(xcache(bypassed), 'BYPASS');
    assert.equal(seen(upstream, '/client-honored'), 3);
  });
});

describe('cache plugin: concurrency', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => (release = r));
  const regate = () => (gate = new Promise<void>((r) => (release = r)));
  before(async () => {
    upstream = await startUpstream(answering({
      '/flight': { headers: { 'cache-control': 'max-age=60' }, hold: () => gate },
      '/flight-uncacheable': { headers: { 'cache-control': 'no-store' }, hold: () => gate },
      '/swr': { headers: { 'cache-control': 'max-age=1, stale-while-revalidate=60' }, hold: (n) => (n === 2 ? gate : undefined), body: (n) => `v${n}` },
      '/swr-setting': { headers: { 'cache-control': 'max-age=1' }, hold: (n) => (n === 2 ? gate : undefined), body: (n) => `v${n}` },
      '/no-swr': { headers: { 'cache-control': 'max-age=1, must-revalidate' }, body: (n) => `v${n}` },
    }));
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
${cacheRoute('/flight')}${cacheRoute('/flight-uncacheable')}${cacheRoute('/swr')}${cacheRoute('/swr-setting', '{ staleWhileRevalidate: 1m }')}${cacheRoute('/no-swr', '{ staleWhileRevalidate: 1m }')}`);
  });
  after(async () => {
    release();
    await weir.close();
    await upstream.close();
  });

  it('single-flight: 20 concurrent misses for one key make one upstream call; all get its answer', async () => {
    regate();
    const replies = Promise.all(Array.from({ length: 20 }, () => call(`${weir.url}/flight`)));
    await until(() => (seen(upstream, '/flight') === 1 ? true : undefined), 5_000, 'the first request upstream');
    await sleep(200); // let the other 19 arrive and wait behind it
    release();
    const all = await replies;
    assert.equal(seen(upstream, '/flight'), 1);
    assert.ok(all.every((r) => r.status === 200 && r.body === '/flight #1'));
    assert.equal(all.filter((r) => xcache(r) === 'MISS').length, 1);
    assert.equal(all.filter((r) => xcache(r) === 'HIT').length, 19);
  });

  it('single-flight: when the answer turns out uncacheable, the waiting requests go upstream themselves', async () => {
    regate();
    const replies = Promise.all(Array.from({ length: 5 }, () => call(`${weir.url}/flight-uncacheable`)));
    await until(() => (seen(upstream, '/flight-uncacheable') === 1 ? true : undefined), 5_000, 'the first request upstream');
    await sleep(200);
    release();
    const all = await replies;
    assert.ok(all.every((r) => r.status === 200 && xcache(r) === 'MISS'));
    assert.equal(seen(upstream, '/flight-uncacheable'), 5);
  });

  for (const path of ['/swr', '/swr-setting']) {
    it(`stale-while-revalidate (${path === '/swr' ? 'directive' : 'plugin setting'}): STALE at once while one background request refreshes, then the new body as HIT`, async () => {
      regate();
      assert.equal(xcache(await call(`${weir.url}${path}`)), 'MISS');
      await sleep(1_100); // max-age=1 runs out
      // The refresh is held at the upstream; clients meanwhile get the stale copy.
      const stale = [];
      for (let i = 0; i < 3; i++) stale.push(await call(`${weir.url}${path}`, { headers: { 'if-none-match': '"v0"' } }));
      await until(() => (seen(upstream, path) === 2 ? true : undefined), 5_000, 'the background refresh');
      assert.equal(upstream.requests.filter((r) => r.url === path).at(-1)!.headers['if-none-match'], undefined, 'the refresh asks for the whole response');
      assert.deepEqual(stale.map(xcache), ['STALE', 'STALE', 'STALE']);
      assert.deepEqual(stale.map((r) => r.body), ['v1', 'v1', 'v1']);
      assert.ok(upstream.requests.filter((r) => r.url === path).at(-1)!.endedAt === 0, 'the refresh is still held at the upstream');
      assert.equal(seen(upstream, path), 2, 'one refresh for three stale answers');
      release();
      const fresh = await until(async () => {
        const r = await call(`${weir.url}${path}`);
        return r.body === 'v2' ? r : undefined;
      }, 5_000, 'the refreshed copy');
      assert.equal(xcache(fresh), 'HIT');
      assert.equal(seen(upstream, path), 2);
    });
  }

  it('must-revalidate: never served stale, even with a staleWhileRevalidate setting', async () => {
    assert.equal(xcache(await call(`${weir.url}/no-swr`)), 'MISS');
    await sleep(1_100);
    const after = await call(`${weir.url}/no-swr`);
    assert.equal(xcache(after), 'MISS');
    assert.equal(after.body, 'v2');
  });
});

describe('cache plugin: the memory store is bounded by bytes', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  before(async () => {
    upstream = await startUpstream(answering({ '/lru': { headers: { 'cache-control': 'max-age=60' }, body: (n, url) => `${url} ${'x'.repeat(1500)} #${n}` } }));
    weir = await startWeir(`
global:
  cache: { memory: { maxSize: 4kb } }
services:
  s: { targets: [{ url: ${upstream.url} }] }
routes:
${cacheRoute('/lru')}`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('the least recently used response is evicted once the bytes exceed maxSize', async () => {
    for (const q of ['a', 'b']) await call(`${weir.url}/lru?${q}`);
    assert.equal(xcache(await call(`${weir.url}/lru?a`)), 'HIT'); // a is now the most recently used
    await call(`${weir.url}/lru?c`); // 3 × ~1.6kb > 4kb: b goes
    const a = await call(`${weir.url}/lru?a`);
    const b = await call(`${weir.url}/lru?b`);
    assert.equal(xcache(a), 'HIT');
    assert.equal(xcache(b), 'MISS');
    assert.equal(seen(upstream, '/lru'), 4); // a, b, c, b again
  });
});

describe('cache plugin: bad config is refused at load with its line', () => {
  const base = (plugin: string, global = '') => `${global}services:
  s: { targets: [{ url: http://127.0.0.1:1 }] }
routes:
  - path: /x
    service: s
    plugins:
      - name: cache
        config: ${plugin}
`;
  const cases: Array<[string, string, RegExp]> = [
    ['{ store: disk }', '', /^8: \/routes\/0\/plugins\/0\/config\/store/],
    ['{ ttl: soon }', '', /^8: \/routes\/0\/plugins\/0\/config\/ttl: expected a duration such as 250, "250ms", "2s" \(got "soon"\)/],
    ['{ staleWhileRevalidate: -1 }', '', /^8: \/routes\/0\/plugins\/0\/config\/staleWhileRevalidate/],
    ['{ maxBodySize: 10tb }', '', /^8: \/routes\/0\/plugins\/0\/config\/maxBodySize: expected a size such as 1048576, "16kb", "10mb" \(got "10tb"\)/],
    ['{ maxBodySize: 1gb }', '', /^8: \/routes\/0\/plugins\/0\/config\/maxBodySize: must be from 1 byte to 64mb/],
    ['{ maxBodySize: 0 }', '', /^8: \/routes\/0\/plugins\/0\/config\/maxBodySize: must be from 1 byte to 64mb/],
    ['{ statuses: [200, 304] }', '', /^8: \/routes\/0\/plugins\/0\/config\/statuses\/1: 304 responses are never stored/],
    ['{ methods: [POST] }', '', /^8: \/routes\/0\/plugins\/0\/config\/methods\/0/],
    ['{ keyHeaders: ["bad header"] }', '', /^8: \/routes\/0\/plugins\/0\/config\/keyHeaders\/0/],
    ['{ clientCacheControl: maybe }', '', /^8: \/routes\/0\/plugins\/0\/config\/clientCacheControl/],
    ['{ shared: true }', '', /unknown property "shared"/],
  ];
  for (const [plugin, global, expected] of cases) {
    it(`${plugin}`, () => {
      const problems = configProblems(base(plugin, global));
      assert.ok(problems.some((p) => expected.test(p)), problems.join('\n'));
    });
  }
  it('global.cache: a bad size, a tiny memory store, a bad URL and a bad timeout', () => {
    const problems = (g: string) => configProblems(base('{}', `global:\n  cache: ${g}\n`));
    assert.ok(problems('{ memory: { maxSize: lots } }').some((p) => /^2: \/global\/cache\/memory\/maxSize: expected a size/.test(p)), problems('{ memory: { maxSize: lots } }').join('\n'));
    assert.ok(problems('{ memory: { maxSize: 100 } }').some((p) => /^2: \/global\/cache\/memory\/maxSize: the cache's memory store needs at least 1kb/.test(p)));
    assert.ok(problems('{ redis: { url: "http://x" } }').some((p) => /^2: \/global\/cache\/redis\/url/.test(p)));
    assert.ok(problems('{ redis: { timeout: fast } }').some((p) => /^2: \/global\/cache\/redis\/timeout/.test(p)));
    assert.ok(problems('{ disk: {} }').some((p) => /unknown property "disk"/.test(p)));
  });
});
