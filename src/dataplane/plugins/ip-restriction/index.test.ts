import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../../../../test/support/upstream.js';
import { call, configProblems, startWeir, type TestWeir } from '../../../../test/support/weir.js';
import { clientAddress } from './index.js';
import { contains, parseCidr, parseIp } from './cidr.js';

describe('ip-restriction plugin', () => {
  let up: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    up = await startUpstream();
    weir = await startWeir(`
services:
  up:
    targets: [{ url: ${up.url} }]
routes:
  - path: /local-only
    service: up
    plugins:
      - { name: ip-restriction, config: { allow: [127.0.0.0/8, "::1"] } }
  - path: /office
    service: up
    plugins:
      - { name: ip-restriction, config: { allow: [203.0.113.0/24, "2001:db8::/32"], deny: [203.0.113.66], trustedProxies: [127.0.0.1, 10.0.0.0/8] } }
  - path: /no-loopback
    service: up
    plugins:
      - { name: ip-restriction, config: { deny: ["::ffff:127.0.0.0/104"] } }
`);
  });
  after(async () => {
    await weir.close();
    await up.close();
  });

  it('lets an allowed peer through', async () => {
    const res = await call(`${weir.url}/local-only`);
    assert.equal(res.status, 200);
    assert.equal(up.requests.at(-1)!.url, '/local-only');
  });

  it('refuses a denied peer with 403 WEIR_IP_FORBIDDEN, and never calls the upstream', async () => {
    const before = up.requests.length;
    const res = await call(`${weir.url}/no-loopback`);
    assert.equal(res.status, 403);
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.json().code, 'WEIR_IP_FORBIDDEN');
    assert.match(res.json().detail, /127\.0\.0\.1 is on the deny list/);
    assert.equal(up.requests.length, before);
  });

  it('takes the client from X-Forwarded-For only through trusted proxies, right-most untrusted first', async () => {
    const via = async (xff: string | undefined) =>
      (await call(`${weir.url}/office`, { headers: xff === undefined ? {} : { 'x-forwarded-for': xff } })).status;
    assert.equal(await via('203.0.113.7'), 200);
    assert.equal(await via('2001:db8::42'), 200);
    assert.equal(await via('203.0.113.7, 10.1.2.3'), 200, 'a trusted hop on the right is skipped');
    assert.equal(await via('203.0.113.7, 198.51.100.1'), 403, 'the right-most untrusted address is the client; spoofed entries to its left do not count');
    assert.equal(await via('203.0.113.66'), 403, 'deny wins over allow');
    assert.equal(await via('not-an-ip'), 403, 'an unreadable client address fails closed');
    assert.equal(await via(undefined), 403, 'without the header the client is the (trusted, not allowed) peer');
  });

  it('computes the client address without a trusted peer from the peer alone', () => {
    const ctx = (clientIp: string, xff?: string) => ({ clientIp, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } });
    const trusted = [parseCidr('10.0.0.0/8')];
    assert.equal(clientAddress(ctx('198.51.100.9', '203.0.113.7'), trusted), '198.51.100.9');
    assert.equal(clientAddress(ctx('10.0.0.1', '203.0.113.7, 10.0.0.2'), trusted), '203.0.113.7');
    assert.equal(clientAddress(ctx('10.0.0.1', '10.0.0.3, 10.0.0.2'), trusted), '10.0.0.3');
    assert.equal(clientAddress(ctx('10.0.0.1', '203.0.113.7'), []), '10.0.0.1');
  });

  it('matches IPv4, IPv6 and IPv4-mapped addresses against CIDR blocks', () => {
    const v4 = parseCidr('10.1.0.0/16');
    assert.equal(contains(v4, parseIp('10.1.255.1')!), true);
    assert.equal(contains(v4, parseIp('::ffff:10.1.2.3')!), true);
    assert.equal(contains(v4, parseIp('10.2.0.1')!), false);
    const v6 = parseCidr('2001:db8:8000::/33');
    assert.equal(contains(v6, parseIp('2001:db8:ffff::1')!), true);
    assert.equal(contains(v6, parseIp('2001:db8:7fff::1')!), false);
    assert.equal(contains(v6, parseIp('10.1.2.3')!), false);
    assert.equal(contains(parseCidr('::ffff:192.168.0.0/112'), parseIp('192.168.7.7')!), true);
    assert.equal(contains(parseCidr('0.0.0.0/0'), parseIp('8.8.8.8')!), true);
    assert.equal(parseIp('300.1.1.1'), null);
  });

  it('refuses bad CIDRs at config load, with their lines', () => {
    const yaml = `services:\n  a: { targets: [{ url: "http://127.0.0.1:1" }] }\nroutes:\n  - path: /x\n    service: a\n    plugins:\n      - name: ip-restriction\n        config:\n          allow: [10.0.0.0/8, 10.0.0.0/33]\n          deny: ["2001:db8::/129", "10.0.0"]\n          trustedProxies: ["::ffff:1.2.3.4/64"]\n      - name: ip-restriction\n        config: {}\n`;
    assert.deepEqual(configProblems(yaml), [
      '9: /routes/0/plugins/0/config/allow/1: "10.0.0.0/33": the prefix length must be 0 to 32',
      '10: /routes/0/plugins/0/config/deny/0: "2001:db8::/129": the prefix length must be 0 to 128',
      '10: /routes/0/plugins/0/config/deny/1: "10.0.0" is not an IP address or CIDR block',
      '11: /routes/0/plugins/0/config/trustedProxies/0: "::ffff:1.2.3.4/64": an IPv4-mapped block needs a prefix of at least 96',
      '13: /routes/0/plugins/1/config: give allow, deny or both',
    ]);
  });
});
