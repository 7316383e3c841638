// The rate-limit plugin in one process: headers, refusals, what is counted, window boundaries
// (proved by counts after whole windows have passed), and bad config refused at load.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, configProblems, startWeir, type TestWeir } from '../support/weir.js';
import { startUpstream, type TestUpstream } from '../support/upstream.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function burst(url: string, n: number, headers: Record<string, string> = {}): Promise<number[]> {
  return Promise.all(Array.from({ length: n }, () => call(url, { headers }).then((r) => r.status)));
}
const count = (statuses: number[], status: number) => statuses.filter((s) => s === status).length;

describe('rate-limit plugin', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
services:
  s: { targets: [{ url: ${upstream.url} }] }
  gone: { targets: [{ url: "http://127.0.0.1:1" }], retries: { attempts: 0 } }
routes:
  - name: shop:limited
    path: /limited
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 3, window: 1m, by: [route] }, { name: hourly, limit: 100, window: 1h, by: [api] }] }
  - name: by-header
    path: /by-header
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 2, window: 1m, by: ["header:x-api-key"] }] }
  - name: sliding
    path: /sliding
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 4, window: 500ms, by: [ip] }] }
  - name: bucket
    path: /bucket
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 4, window: 400ms, algorithm: token-bucket, burst: 4, by: [consumer] }] }
  - name: down
    path: /down
    service: gone
    plugins:
      - name: rate-limit
        config: { policies: [{ limit: 5, window: 1m, by: [route] }] }
      - name: cors
        config: { origins: ["https://app.example"] }
  - name: quota
    path: /quota
    service: s
    plugins:
      - name: rate-limit
        config: { policies: [{ name: daily, limit: 2, window: day }] }
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('sends RateLimit-Policy and RateLimit on admitted answers, 429 problem+json with Retry-After after the limit', async () => {
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await call(`${weir.url}/limited`));
    assert.deepEqual(replies.map((r) => r.status), [200, 200, 200, 429]);
    assert.equal(replies[0]!.headers['ratelimit-policy'], '"default";q=3;w=60, "hourly";q=100;w=3600');
    assert.match(String(replies[0]!.headers['ratelimit']), /^"default";r=2;t=\d+, "hourly";r=99;t=\d+$/);
    assert.match(String(replies[2]!.headers['ratelimit']), /^"default";r=0;t=\d+, "hourly";r=97;t=\d+$/);
    const refused = replies[3]!;
    assert.equal(refused.headers['content-type'], 'application/problem+json');
    assert.equal(refused.json().code, 'WEIR_RATE_LIMITED');
    assert.equal(refused.json().status, 429);
    // All 3 in the current window: admitted again a third into the next one (the previous 3 then
    // weigh 2), so 20 s plus what is left of this window.
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 20 && retryAfter <= 80, `retry-after ${retryAfter}`);
    assert.match(String(refused.headers['ratelimit']), /^"default";r=0;t=\d+, "hourly";r=96;t=\d+$/);
    assert.equal(refused.headers['ratelimit-policy'], '"default";q=3;w=60, "hourly";q=100;w=3600');
  });

  it('counts each value of a header separately', async () => {
    assert.deepEqual(await burst(`${weir.url}/by-header`, 3, { 'x-api-key': 'a' }).then((s) => s.sort()), [200, 200, 429]);
    assert.deepEqual(await burst(`${weir.url}/by-header`, 3, { 'x-api-key': 'b' }).then((s) => s.sort()), [200, 200, 429]);
  });

  it('sliding window: exactly the limit per window; after two whole windows, the limit again', async () => {
    const first = await burst(`${weir.url}/sliding`, 10);
    assert.equal(count(first, 200), 4);
    assert.equal(count(first, 429), 6);
    await sleep(1_050); // more than two windows of 500 ms: nothing counts any more
    const second = await burst(`${weir.url}/sliding`, 10);
    assert.equal(count(second, 200), 4);
  });

  it('token bucket: the burst at once; refilled after one window', async () => {
    const first = await burst(`${weir.url}/bucket`, 10);
    assert.equal(count(first, 200), 4);
    await sleep(450); // a window refills the whole bucket (4 tokens), and never more than burst
    const second = await burst(`${weir.url}/bucket`, 10);
    assert.equal(count(second, 200), 4);
  });

  it('a day quota says when it resets (UTC midnight)', async () => {
    const r = await call(`${weir.url}/quota`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['ratelimit-policy'], '"daily";q=2;w=86400');
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    const t = Number(/t=(\d+)/.exec(String(r.headers['ratelimit']))![1]);
    assert.ok(Math.abs(t - (midnight - Date.now()) / 1000) <= 2, `t=${t}`);
    await call(`${weir.url}/quota`);
    const refused = await call(`${weir.url}/quota`);
    assert.equal(refused.status, 429);
    assert.ok(Math.abs(Number(refused.headers['retry-after']) - (midnight - Date.now()) / 1000) <= 2);
  });

  it("Weir's own 502 still carries the RateLimit headers and CORS, so clients can pace themselves and browsers can read it", async () => {
    const reply = await call(`${weir.url}/down`, { headers: { origin: 'https://app.example' } });
    assert.equal(reply.status, 502);
    assert.equal(reply.json().code, 'WEIR_UPSTREAM_ERROR');
    assert.equal(reply.headers['content-type'], 'application/problem+json');
    assert.equal(reply.headers['ratelimit-policy'], '"default";q=5;w=60');
    assert.match(String(reply.headers['ratelimit']), /^"default";r=4;t=\d+$/);
    assert.equal(reply.headers['access-control-allow-origin'], 'https://app.example');
  });

  it('the upstream saw only admitted requests', () => {
    const limited = upstream.requests.filter((r) => r.url === '/limited').length;
    assert.equal(limited, 3);
  });
});

describe('rate-limit config', () => {
  const yaml = (policy: string, global = '') => `${global}services:\n  s: { targets: [{ url: http://127.0.0.1:1 }] }\nroutes:\n  - path: /a\n    service: s\n    plugins:\n      - name: rate-limit\n        config:\n          policies:\n            - ${policy}\n`;

  it('refuses bad policies at load with the line', () => {
    assert.deepEqual(configProblems(yaml('{ limit: 0, window: 1m }')), ['10: /routes/0/plugins/0/config/policies/0/limit: Expected integer to be greater or equal to 1']);
    assert.equal(configProblems(yaml('{ limit: 5, window: 1m, by: [user] }'))[0]?.split(':')[0], '10');
    assert.match(configProblems(yaml('{ limit: 5, window: fortnight }'))[0]!, /^10: \/routes\/0\/plugins\/0\/config\/policies\/0\/window: /);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m, algorithm: leaky }')).map((p) => p.split(':')[0]), ['10']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m, colour: red }')), ['10: /routes/0/plugins/0/config/policies/0/colour: unknown property "colour"']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m }')), []);
  });

  it('refuses settings that would be silently ignored: burst without a token bucket, an algorithm on a quota, two policies with one name', () => {
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m, burst: 10 }')), ['10: /routes/0/plugins/0/config/policies/0/burst: burst is the capacity of a token bucket: set algorithm: token-bucket, or remove burst']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: day, algorithm: token-bucket }')), ['10: /routes/0/plugins/0/config/policies/0/algorithm: a day quota counts requests per calendar day; it takes no algorithm']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m }\n            - { name: default, limit: 9, window: 1h }')), ['11: /routes/0/plugins/0/config/policies/1/name: another policy is already named "default"']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m, algorithm: token-bucket, burst: 10 }')), []);
  });

  it('refuses a bad global.rateLimits at load with the line', () => {
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m }', 'global:\n  rateLimits: { store: redis, onRedisDown: maybe }\n')).map((p) => p.split(':').slice(0, 2).join(':')), ['2: /global/rateLimits/onRedisDown']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m }', 'global:\n  rateLimits:\n    store: redis\n    redis: { url: "http://x" }\n')).map((p) => p.split(':').slice(0, 2).join(':')), ['4: /global/rateLimits/redis/url']);
    assert.deepEqual(configProblems(yaml('{ limit: 5, window: 1m }', 'global:\n  rateLimits: { store: redis, redis: { url: "redis://127.0.0.1:6379", timeout: 100ms }, onRedisDown: closed }\n')), []);
  });
});
