import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './load.js';

const base = ['services:', '  a:', '    targets: [{ url: "http://127.0.0.1:1" }]'];

describe('parseConfig: fast and located paths agree', () => {
  it('loads a file with anchors and aliases (through the located parser)', () => {
    const text = [
      'x-timeouts: &fast { connect: 1s, read: 2s }',
      'services:',
      '  a:',
      '    targets: [{ url: "http://127.0.0.1:1" }]',
      '    timeouts: *fast',
      'routes:',
      '  - { path: /a, service: a }',
    ].join('\n');
    const result = parseConfig(text, 'weir.yaml');
    // x-timeouts is not a known key: the located parser must report it with its line.
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual(result.issues.map((i) => [i.line, i.path]), [[1, '/x-timeouts']]);
    const valid = parseConfig(
      [...base, '    timeouts: &t { connect: 1s }', '  b:', '    targets: [{ url: "http://127.0.0.1:2" }]', '    timeouts: *t', 'routes:', '  - { path: /a, service: b }'].join('\n'),
      'weir.yaml',
    );
    assert.equal(valid.ok, true);
    if (valid.ok) assert.equal(valid.config.services.get('b')!.connectTimeoutMs, 1000);
  });

  it('reads values as YAML 1.2 core does: no timestamps, no legacy octal', () => {
    const text = [...base, '    pool: { connections: 010 }', 'routes:', '  - { path: /a, service: a, name: 2026-01-01 }'].join('\n');
    const result = parseConfig(text, 'weir.yaml');
    assert.equal(result.ok, true);
    if (!result.ok) return;
    assert.equal(result.config.services.get('a')!.connections, 10);
    assert.equal(result.config.routes[0]!.name, '2026-01-01');
  });

  it('reports a semantic problem found after a clean quick parse with its line', () => {
    const text = [...base, 'routes:', '  - { path: /a, service: a }', '  - { path: /b, service: nope }'].join('\n');
    const result = parseConfig(text, 'weir.yaml');
    assert.equal(result.ok, false);
    if (!result.ok) assert.deepEqual(result.issues.map((i) => [i.line, i.path]), [[6, '/routes/1/service']]);
  });
});
