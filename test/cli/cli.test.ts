import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWeir } from '../support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'weir-cli-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('weir CLI', () => {
  it('prints its version', async () => {
    const { code, stdout } = await runWeir(['version']);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(code, 0);
    assert.match(stdout, new RegExp(`^weir ${pkg.version.replaceAll('.', '\\.')} \\(node v`));
  });

  it('validates a good file', async () => {
    const { code, stdout } = await runWeir(['validate', 'examples/shop/weir.yaml']);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /examples\/shop\/weir\.yaml: ok — 3 services, \d+ routes/);
  });

  it('lists every problem of a bad file with its line, and exits 1', async () => {
    const bad = file(
      'bad.yaml',
      ['services:', '  a:', '    targets: [{ url: "ftp://x" }]', '    timeouts: { connect: soon }', 'routes:', '  - path: /x', '    service: b', ''].join('\n'),
    );
    const { code, stderr } = await runWeir(['validate', bad]);
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.match(stderr, new RegExp(`${bad}:3:\\d+: /services/a/targets/0/url: `));
    assert.match(stderr, new RegExp(`${bad}:4:\\d+: /services/a/timeouts/connect: `));
    assert.match(stderr, new RegExp(`${bad}:7:\\d+: /routes/0/service: .*"b"`));
    assert.match(lines.at(-1)!, /^3 problems in /);
  });

  it('refuses to start on an invalid file, naming the problems', async () => {
    const bad = file('bad-start.yaml', 'services: {}\nroutes:\n  - { path: x, service: a }\n');
    const { code, stderr, stdout } = await runWeir(['start', '--config', bad, '--workers', '0', '--port', '0', '--admin-port', '0', '--data', join(dir, 'data-bad')]);
    assert.equal(code, 1);
    assert.match(stderr, /is not valid:/);
    assert.match(stderr, /:3:\d+: \/routes\/0\/path: /);
    // No first admin was made whose one-time password would scroll by with the problems.
    assert.doesNotMatch(stderr + stdout, /first admin/);
  });

  it('explains a missing config file', async () => {
    const { code, stderr } = await runWeir(['start', '--config', join(dir, 'missing.yaml'), '--workers', '0', '--data', join(dir, 'data-missing')]);
    assert.equal(code, 1);
    assert.match(stderr, /missing\.yaml/);
    assert.match(stderr, /ENOENT|not found|cannot read/i);
    assert.equal(existsSync(join(dir, 'data-missing')), false, 'nothing created for a node that cannot start');
  });

  it('explains a flow: levels, what each step waits for, the critical path', async () => {
    const latencies = ['user=100', 'orders=150', 'latest=200', 'products=120'].flatMap((l) => ['--latency', l]);
    const { code, stdout } = await runWeir(['explain', 'latest-order', '--config', 'examples/shop/weir.yaml', ...latencies]);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /level 0:\n\s+user /);
    assert.match(stdout, /level 3:\n\s+products .*← latest/);
    assert.match(stdout, /critical path: user → orders → latest → products = 570 ms/);
    const unknown = await runWeir(['explain', 'nope', '--config', 'examples/shop/weir.yaml']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no flow "nope" \(flows: order-details, latest-order\)/);
  });

  it('rejects unknown options and commands', async () => {
    assert.equal((await runWeir(['start', '--bogus'])).code, 2);
    assert.equal((await runWeir(['start', '--workers', 'many'])).code, 2);
    assert.equal((await runWeir(['frobnicate'])).code, 2);
    assert.equal((await runWeir(['validate'])).code, 2);
  });
});

describe('weir start --no-watch', () => {
  it('ignores edits until SIGHUP, then reloads', async () => {
    const { startUpstream } = await import('../support/upstream.js');
    const { startWeirProcess, until } = await import('../support/cli.js');
    const { call } = await import('../support/weir.js');
    const up = await startUpstream();
    const text = (extra: string) => `services:\n  up:\n    targets: [{ url: ${up.url} }]\nroutes:\n  - { path: /a, service: up }\n${extra}`;
    const config = file('sighup.yaml', text(''));
    const weir = await startWeirProcess(['--config', config, '--workers', '0', '--port', '0', '--admin-port', '0', '--host', '127.0.0.1', '--no-watch']);
    try {
      writeFileSync(config, text('  - { path: /b, service: up }\n'));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await call(`http://127.0.0.1:${weir.port}/b`)).status, 404, 'not watched');
      weir.child.kill('SIGHUP');
      await until(() => weir.logs.find((l) => l.msg === 'config reloaded'), 5000, 'the reload');
      assert.equal((await call(`http://127.0.0.1:${weir.port}/b`)).status, 200);
    } finally {
      weir.child.kill('SIGKILL');
      await up.close();
    }
  });
});
