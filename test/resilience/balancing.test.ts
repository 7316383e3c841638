import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RawService } from '../../src/config/schema.js';
import type { TestUpstream, UpstreamHandler } from '../support/upstream.js';
import { echo } from '../support/upstream.js';
import { call, client } from '../support/weir.js';
import type { TestWeir } from '../support/weir.js';
import { PLAIN, held, startGateway, upstreams, waitFor } from './harness.js';

/** A service over `ups` with nothing but the balancer deciding where requests go. */
function balanced(ups: TestUpstream[], balancing: RawService['balancing'], extra: Partial<RawService> = {}, weights?: number[]): RawService {
  return { targets: ups.map((u, i) => ({ url: u.url, weight: weights?.[i] })), balancing, ...PLAIN, ...extra };
}

/** Which upstream (index in `ups`) answered each of the requests, sent one after another on one keep-alive client. */
async function landings(weir: TestWeir, ups: TestUpstream[], headers: Array<Record<string, string>>): Promise<number[]> {
  const dispatcher = client();
  try {
    const out: number[] = [];
    for (const h of headers) {
      const before = ups.map((u) => u.requests.length);
      assert.equal((await call(`${weir.url}/x`, { dispatcher, headers: h })).status, 200);
      const landed = ups.findIndex((u, i) => u.requests.length > before[i]!);
      assert.notEqual(landed, -1);
      out.push(landed);
    }
    return out;
  } finally {
    await dispatcher.close();
  }
}

const times = <T>(n: number, value: T): T[] => Array.from({ length: n }, () => value);

describe('balancing through the gateway', () => {
  it('round-robin alternates between two upstreams on one keep-alive client', async (t) => {
    const ups = await upstreams(t, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'round-robin'));

    const picks = await landings(weir, ups, times(10, {}));

    assert.deepEqual(picks, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('weighted-round-robin 3:1 sends 30 of 40 requests to the heavy upstream', async (t) => {
    const ups = await upstreams(t, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'weighted-round-robin', {}, [3, 1]));

    await landings(weir, ups, times(40, {}));

    assert.deepEqual(ups.map((u) => u.requests.length), [30, 10]);
  });

  it('least-connections sends new requests to the idle upstream while the other holds a slow one', async (t) => {
    const slow = held();
    const holdSlow: UpstreamHandler = (req, res, body) => (req.url === '/slow' ? slow.handler(req, res, body) : echo(req, res, body));
    const ups = await upstreams(t, holdSlow, holdSlow);
    const weir = await startGateway(t, balanced(ups, 'least-connections'));

    const slowReply = call(`${weir.url}/slow`);
    await waitFor(() => ups.some((u) => u.requests.length === 1), 'the slow request to reach an upstream');
    const busy = ups.findIndex((u) => u.requests.length === 1);

    const picks = await landings(weir, ups, times(4, {}));

    assert.deepEqual(picks, times(4, 1 - busy), 'every request went to the idle upstream');
    slow.release();
    assert.equal((await slowReply).status, 200);
  });

  it('consistent-hash on a header sends a user to the same upstream every time, and spreads users', async (t) => {
    const ups = await upstreams(t, echo, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'consistent-hash', { hashOn: { header: 'x-user' } }));

    const users = Array.from({ length: 60 }, (_, i) => ({ 'x-user': `user-${i}` }));
    const first = await landings(weir, ups, users);
    const again = await landings(weir, ups, users);

    assert.deepEqual(again, first, 'each user landed where it did the first time');
    assert.equal(new Set(first).size, 3, 'users spread over every upstream');
  });

  it('consistent-hash on a cookie sends a session to the same upstream every time, and spreads sessions', async (t) => {
    const ups = await upstreams(t, echo, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'consistent-hash', { hashOn: { cookie: 'sid' } }));

    const sessions = Array.from({ length: 60 }, (_, i) => ({ cookie: `theme=dark; sid=session-${i}; lang=en` }));
    const first = await landings(weir, ups, sessions);
    const again = await landings(weir, ups, sessions.map((s) => ({ cookie: s.cookie.replace('theme=dark', 'theme=light') })));

    assert.deepEqual(again, first, 'only the sid cookie decides');
    assert.equal(new Set(first).size, 3, 'sessions spread over every upstream');
  });

  it('consistent-hash falls back to the client IP when the request lacks the hashed header', async (t) => {
    const ups = await upstreams(t, echo, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'consistent-hash', { hashOn: { header: 'x-user' } }));

    // Every request comes from 127.0.0.1, so every one hashes alike.
    const picks = await landings(weir, ups, times(10, {}));
    assert.equal(new Set(picks).size, 1, `all landed on one upstream: ${picks.join(',')}`);
    // And where a user whose id is the client IP would land.
    assert.deepEqual(await landings(weir, ups, [{ 'x-user': '127.0.0.1' }]), [picks[0]]);
  });

  it('consistent-hash on clientIp sends every request from one client to one upstream', async (t) => {
    const ups = await upstreams(t, echo, echo, echo);
    const weir = await startGateway(t, balanced(ups, 'consistent-hash', { hashOn: { clientIp: true } }));

    const picks = await landings(weir, ups, times(10, { 'x-user': 'ignored' }));
    assert.equal(new Set(picks).size, 1, `all landed on one upstream: ${picks.join(',')}`);
  });
});
