import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hmacSealName, resolveSecrets, SecretBox } from './secrets.js';
import type { Resource } from '../store/config-store.js';

const resource = (kind: Resource['kind'], name: string, teamId: string, body: Record<string, unknown>): Resource => ({ kind, name, teamId, body, version: 1, createdAt: 0, updatedAt: 0, updatedBy: 'x' });

describe('secrets', () => {
  const box = new SecretBox(randomBytes(32));

  it('seals with AES-256-GCM: a fresh nonce each time, bound to its team and name, tamper-evident', () => {
    const a = box.seal('Bearer token-1234', 'team-a', 'api-key');
    const b = box.seal('Bearer token-1234', 'team-a', 'api-key');
    assert.notEqual(a.sealed, b.sealed, 'a fresh nonce per value');
    assert.equal(a.hint, '…1234');
    assert.equal(box.seal('short', 't', 'n').hint, '…');
    assert.equal(box.open(a, 'team-a', 'api-key'), 'Bearer token-1234');
    assert.throws(() => box.open(a, 'team-b', 'api-key'), 'moved to another team');
    assert.throws(() => box.open(a, 'team-a', 'other'), 'renamed');
    const raw = Buffer.from(a.sealed, 'base64');
    raw[14]! ^= 1;
    assert.throws(() => box.open({ ...a, sealed: raw.toString('base64') }, 'team-a', 'api-key'), 'tampered');
    assert.throws(() => new SecretBox(randomBytes(32)).open(a, 'team-a', 'api-key'), 'another key');
  });

  it('fills references from the same team only, and names what is missing', () => {
    const secret = resource('secret', 'token', 'A', box.seal('s3cret', 'A', 'token') as unknown as Record<string, unknown>);
    const own = resource('route', 'r1', 'A', { plugins: [{ name: 'headers', config: { request: { set: { authorization: 'Bearer ${secret:token}' } } } }] });
    const foreign = resource('route', 'r2', 'B', { note: '${secret:token}' });
    const { resources, problems } = resolveSecrets([secret, own, foreign], box);
    assert.deepEqual(resources.map((r) => r.name), ['r1', 'r2'], 'secrets themselves are not resources of the config');
    assert.equal(JSON.stringify(resources[0]!.body).includes('Bearer s3cret'), true);
    assert.deepEqual(problems, ['route "r2" uses ${secret:token}, but its team has no secret "token"']);
  });

  it('leaves imported OpenAPI documentation alone: there a reference is just text', () => {
    const api = resource('api', 'a', 'A', { basePath: '/a', version: 'v1', openapi: { info: { description: 'set ${secret:token} in your client' } } });
    const { resources, problems } = resolveSecrets([api], box);
    assert.deepEqual(problems, []);
    assert.deepEqual(resources[0]!.body, api.body);
  });

  it('generates a key once in the data folder, readable only by its owner, unless one is given', () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-key-'));
    const first = SecretBox.load(dir, {});
    const sealed = first.seal('v', 't', 'n');
    assert.equal(SecretBox.load(dir, {}).open(sealed, 't', 'n'), 'v', 'the same key on the next start');
    assert.equal(statSync(join(dir, 'secret.key')).mode & 0o777, 0o600);
    const key = randomBytes(32).toString('base64');
    const fromEnv = SecretBox.load(dir, { WEIR_SECRET_KEY: key });
    assert.throws(() => fromEnv.open(sealed, 't', 'n'));
    assert.throws(() => SecretBox.load(undefined, {}), /WEIR_SECRET_KEY/);
    assert.throws(() => SecretBox.load(undefined, { WEIR_SECRET_KEY: 'c2hvcnQ=' }), /32 bytes/);
  });

  it('opens HMAC credentials for the key tables, and leaves out what this key cannot open or was moved', () => {
    const sealed = (id: string, team = 't1') => box.seal('weir_hs_secret', team, hmacSealName(id)).sealed;
    const credentials = [
      resource('credential', 'c1', 't1', { consumer: 'app', type: 'hmac', keyId: 'k1', sealed: sealed('c1'), expiresAt: null }),
      resource('credential', 'c2', 't1', { consumer: 'app', type: 'hmac', keyId: 'k2', sealed: sealed('c1'), expiresAt: null }),
      resource('credential', 'c3', 't2', { consumer: 'app', type: 'hmac', keyId: 'k3', sealed: sealed('c3'), expiresAt: null }),
    ];
    const secretOf = (out: Resource[]) => out.map((r) => r.body['secret'] ?? null);
    const opened = resolveSecrets(credentials, box);
    assert.deepEqual(opened.problems, []);
    assert.deepEqual(secretOf(opened.resources), ['weir_hs_secret', null, null], 'a ciphertext copied to another credential or team does not open');
    assert.deepEqual(secretOf(resolveSecrets(credentials, new SecretBox(randomBytes(32))).resources), [null, null, null], 'another key');
    assert.deepEqual(secretOf(resolveSecrets(credentials, undefined).resources), [null, null, null], 'no key');
  });
});
