// What the cache plugin decided is visible to operators: in each call's record and in /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type TestWeir } from '../support/weir.js';

describe('cache results in the call log and metrics', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
global:
  callLog: { flushInterval: 5ms }
services:
  up: { targets: [{ url: ${upstream.url} }] }
routes:
  - name: cached-catalog
    path: /catalog/*
    service: up
    plugins:
      - { name: cache, config: { ttl: 1m } }
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('records MISS then HIT for each request and counts them by route and result', async () => {
    const seen = [];
    for (let i = 0; i < 3; i++) seen.push(String((await call(`${weir.url}/catalog/1`)).headers['x-cache']));
    assert.deepEqual(seen, ['MISS', 'HIT', 'HIT']);
    assert.equal(upstream.requests.length, 1);
    await weir.node.calls!.flush();
    const admin = await adminClient(weir.adminUrl);
    const items = (await admin('GET', '/api/v1/calls?route=cached-catalog')).json().items as Array<{ cache: string | null }>;
    assert.deepEqual(items.map((c) => c.cache).sort(), ['HIT', 'HIT', 'MISS']);
    const text = (await call(`${weir.adminUrl}/metrics`)).body;
    assert.match(text, /^weir_cache_requests_total\{route="cached-catalog",result="HIT"\} 2$/m);
    assert.match(text, /^weir_cache_requests_total\{route="cached-catalog",result="MISS"\} 1$/m);
  });
});
