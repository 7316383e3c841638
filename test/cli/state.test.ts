import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runWeir } from '../support/cli.js';
import { startUpstream } from '../support/upstream.js';
import { adminClient, call, startWeir } from '../support/weir.js';

// One key for this process and the CLI runs it starts: secrets sealed here open after a restore.
process.env['WEIR_SECRET_KEY'] = randomBytes(32).toString('base64');

describe('weir export / weir apply', () => {
  it('round-trips the store losslessly, dry-run first, and reports nothing to do after', async () => {
    const upstream = await startUpstream();
    const weir = await startWeir('services: {}\nroutes: []\n');
    const admin = await adminClient(weir.adminUrl);
    await admin('POST', '/api/v1/teams', { name: 'shop', description: 'the shop' });
    await admin('POST', '/api/v1/users', { username: 'alice', password: 'alice-password-1' });
    await admin('PUT', '/api/v1/teams/shop/members/alice', { role: 'member', writes: ['route'] });
    await admin('POST', '/api/v1/services', { name: 'catalog', team: 'shop', spec: { targets: [{ url: upstream.url }], timeouts: { read: '2s' } } });
    await admin('POST', '/api/v1/secrets', { name: 'catalog-token', team: 'shop', value: 'the-catalog-token' });
    const secretRoute = { path: '/catalog/*', service: 'catalog', methods: ['GET'], plugins: [{ name: 'headers', config: { request: { set: { 'x-token': '${secret:catalog-token}' } } } }] };
    assert.equal((await admin('POST', '/api/v1/routes', { name: 'catalog', team: 'shop', spec: secretRoute })).status, 201);
    await admin('POST', '/api/v1/flows', { name: 'one', team: 'shop', spec: { path: '/one', steps: { c: { service: 'catalog', path: '/c', cache: { ttl: '1s' } } }, response: '{{ steps.c.body }}' } });
    await weir.close();
    await upstream.close();

    const dir = mkdtempSync(join(tmpdir(), 'weir-state-'));
    const exported = await runWeir(['export', '--data', weir.dataDir]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /weir: state\/v1/);
    assert.match(exported.stdout, /passwordHash: scrypt\$/);
    const file = join(dir, 'state.yaml');
    writeFileSync(file, exported.stdout);

    const fresh = join(dir, 'fresh');
    const dry = await runWeir(['apply', file, '--data', fresh, '--config', join(dir, 'none.yaml')]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^\+ user admin \(system admin\)$/m);
    assert.match(dry.stdout, /^\+ member alice of team shop: member \(writes route\)$/m);
    assert.match(dry.stdout, /^\+ route catalog \(team shop\)$/m);
    assert.match(dry.stdout, /not applied \(dry run\)/);
    assert.equal((await runWeir(['export', '--data', fresh])).stdout.includes('catalog'), false, 'the dry run changed nothing');

    // Another key cannot open the sealed secret: refused before anything changes.
    const key = process.env['WEIR_SECRET_KEY'];
    process.env['WEIR_SECRET_KEY'] = randomBytes(32).toString('base64');
    const wrongKey = await runWeir(['apply', file, '--data', join(dir, 'other'), '--config', join(dir, 'none.yaml'), '--yes']);
    process.env['WEIR_SECRET_KEY'] = key;
    assert.equal(wrongKey.code, 1);
    assert.match(wrongKey.stderr, /sealed values this node could not open; nothing was changed/);
    assert.match(wrongKey.stderr, /secret "catalog-token" cannot be opened/);
    assert.equal((await runWeir(['export', '--data', join(dir, 'other')])).stdout.includes('catalog'), false);

    const applied = await runWeir(['apply', file, '--data', fresh, '--config', join(dir, 'none.yaml'), '--yes']);
    assert.equal(applied.code, 0, applied.stderr);
    // 8 changes, the sealed secret among them: the route using it loaded in the fresh store, as
    // the team kept its id (the secret is bound to it) and the key is the same.
    assert.match(applied.stdout, /applied 8 changes/);
    assert.equal((await runWeir(['export', '--data', fresh])).stdout, exported.stdout, 'export → apply → export is the same text');
    assert.match((await runWeir(['apply', file, '--data', fresh, '--config', join(dir, 'none.yaml')])).stdout, /^no changes$/m);
    // A node on the restored store serves the route with the secret opened.
    const upstream2 = await startUpstream(undefined, new URL(upstream.url).port === '' ? 0 : Number(new URL(upstream.url).port));
    const restored = await startWeir('services: {}\nroutes: []\n', { dataDir: fresh });
    try {
      const res = await call(`${restored.url}/catalog/x`);
      assert.equal(res.status, 200, res.body);
      assert.equal(upstream2.requests.at(-1)!.headers['x-token'], 'the-catalog-token');
    } finally {
      await restored.close();
      await upstream2.close();
    }

    // Dropping a route from the file deletes it (shown first, applied only with --yes).
    writeFileSync(file, readFileSync(file, 'utf8').replace(/  - kind: route\n(    .*\n)+?(?=  - |$)/, ''));
    const prune = await runWeir(['apply', file, '--data', fresh, '--config', join(dir, 'none.yaml')]);
    assert.match(prune.stdout, /^- route catalog$/m);
  });

  it('refuses a file that is not a state export, or that would break the gateway config, changing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'weir-state-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'weir: state/v1\nusers: []\nteams: []\nresources: [{ kind: gadget, name: x, team: t, spec: {} }]\n');
    const shape = await runWeir(['apply', bad, '--data', join(dir, 'data'), '--yes']);
    assert.equal(shape.code, 1);
    assert.match(shape.stderr, /\/resources\/0\/kind/);
    const dangling = join(dir, 'dangling.yaml');
    writeFileSync(dangling, 'weir: state/v1\nusers: []\nteams: [{ name: t, description: "", members: [] }]\nresources: [{ kind: route, name: r, team: t, spec: { path: /r, service: nowhere } }]\n');
    const broken = await runWeir(['apply', dangling, '--data', join(dir, 'data'), '--config', join(dir, 'none.yaml'), '--yes']);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /would not load; nothing was changed/);
    assert.match(broken.stderr, /nowhere/);
    assert.match((await runWeir(['export', '--data', join(dir, 'data')])).stdout, /teams: \[\]/);
    assert.equal((await runWeir(['apply'])).code, 2);
    assert.equal((await runWeir(['export', '--bogus'])).code, 2);
  });
});
