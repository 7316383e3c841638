import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { delay, startUpstream, type TestUpstream } from '../support/upstream.js';
import { call, startWeir, type TestWeir } from '../support/weir.js';

function config(a: TestUpstream, b: TestUpstream, extraRoute = ''): string {
  return `
services:
  a:
    targets: [{ url: ${a.url} }]
  b:
    targets: [{ url: ${b.url} }]
routes:
  - { path: /a/*, service: a }
${extraRoute}`;
}

describe('hot reload', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let weir: TestWeir;

  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
    weir = await startWeir(config(a, b));
  });
  after(async () => {
    await weir.close();
    await a.close();
    await b.close();
  });

  it('serves a new route after the file changes', async () => {
    assert.equal((await call(`${weir.url}/b/x`)).status, 404);
    const before = weir.node.status().configVersion;
    await weir.rewrite(config(a, b, '  - { path: /b/*, service: b }'));
    assert.notEqual(weir.node.status().configVersion, before);
    assert.equal((await call(`${weir.url}/b/x`)).status, 200);
    assert.equal(b.requests.at(-1)!.url, '/b/x');
  });

  it('picks up an edit through the file watcher alone', async () => {
    const version = weir.node.status().configVersion;
    writeFileSync(weir.configPath, config(a, b, '  - { path: /watched/*, service: b }'));
    const deadline = Date.now() + 5000;
    while (weir.node.status().configVersion === version && Date.now() < deadline) await delay(20);
    assert.equal((await call(`${weir.url}/watched/1`)).status, 200);
  });

  it('rejects an invalid edit, logs where the problem is, and keeps serving', async () => {
    const version = weir.node.status().configVersion;
    await weir.rewrite(config(a, b, '  - { path: /c/*, service: nowhere }'));
    assert.equal(weir.node.status().configVersion, version, 'the running config is untouched');
    assert.equal((await call(`${weir.url}/a/still`)).status, 200);
    const rejected = weir.logs.find((l) => l.msg === 'config reload rejected; the running config keeps serving');
    assert.ok(rejected, 'an error line was logged');
    assert.match(String(rejected.report), /weir\.yaml:9:\d+: \/routes\/1\/service: .*nowhere/);
  });

  it('lets in-flight requests finish on the old config', async () => {
    a.handle((_req, res) => {
      setTimeout(() => res.end('slow answer from a'), 300);
    });
    const inFlight = call(`${weir.url}/a/slow`);
    await delay(50);
    // The new version drops service a entirely; its pool closes only once the request is done.
    await weir.rewrite(`
services:
  b:
    targets: [{ url: ${b.url} }]
routes:
  - { path: /b/*, service: b }
`);
    assert.equal((await call(`${weir.url}/a/x`)).status, 404, 'new requests see the new config');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body, 'slow answer from a');
  });
});
