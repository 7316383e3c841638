// The call log keeps nothing the logs would not: paths go through the credential redaction and
// the `global.masking` rules of the config version that served the request.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startUpstream, type TestUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir, type TestWeir } from '../support/weir.js';

describe('call log: masked paths', () => {
  let upstream: TestUpstream;
  let weir: TestWeir;
  before(async () => {
    upstream = await startUpstream();
    weir = await startWeir(`
global:
  callLog: { flushInterval: 5ms }
  masking: { rules: [{ detector: email, style: partial }] }
services:
  up: { targets: [{ url: ${upstream.url} }] }
routes:
  - { name: users, path: /users/*, service: up }
`);
  });
  after(async () => {
    await weir.close();
    await upstream.close();
  });

  it('stores the path with the email masked, while the upstream got it whole', async () => {
    assert.equal((await call(`${weir.url}/users/ada@example.com`, { headers: { 'x-request-id': 'masked-1' } })).status, 200);
    assert.equal(upstream.requests.at(-1)!.url, '/users/ada@example.com');
    await weir.node.calls!.flush();
    const admin = await adminClient(weir.adminUrl);
    const record = (await admin('GET', '/api/v1/calls?requestId=masked-1')).json().items[0] as { path: string };
    assert.notEqual(record.path, '/users/ada@example.com');
    assert.doesNotMatch(record.path, /ada@/);
    assert.match(record.path, /^\/users\/a\*+@example\.com$/);
  });
});
