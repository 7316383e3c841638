/**
 * The behaviour every ConfigStore must have, as a test suite to run against each implementation
 * (`*.conformance.ts` is left out of the build). `open` gives a store on fresh state.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AlreadyExistsError, VersionConflictError, type ConfigStore } from './config-store.js';

export interface ConfigStoreFactory {
  open(): Promise<ConfigStore>;
}

export function configStoreConformance(name: string, factory: ConfigStoreFactory): void {
  describe(`${name}: config store`, () => {
    it('keeps users with unique names, their password hashes only for the login check', async () => {
      const store = await factory.open();
      assert.equal(await store.countUsers(), 0);
      const ada = await store.createUser({ username: 'ada', passwordHash: 'h1', systemAdmin: true }, 'system');
      await store.createUser({ username: 'bob', passwordHash: 'h2', systemAdmin: false }, 'ada');
      await assert.rejects(store.createUser({ username: 'ada', passwordHash: 'x', systemAdmin: false }, 'ada'), AlreadyExistsError);
      assert.equal(await store.countUsers(), 2);
      assert.equal((await store.userByName('ada'))?.passwordHash, 'h1');
      assert.deepEqual(await store.userById(ada.id), ada);
      assert.equal('passwordHash' in (await store.userById(ada.id))!, false);
      const first = await store.listUsers({ limit: 1 });
      assert.deepEqual(first.items.map((u) => u.username), ['ada']);
      const second = await store.listUsers({ limit: 1, after: first.next });
      assert.deepEqual(second.items.map((u) => u.username), ['bob']);
      assert.equal(second.next, null);
      await store.close();
    });

    it('changes a password (ending other sessions) and deletes a user with what was theirs', async () => {
      const store = await factory.open();
      const ada = await store.createUser({ username: 'ada', passwordHash: 'old', systemAdmin: false }, 'system');
      const team = await store.createTeam({ name: 't', description: '' }, 'root');
      await store.setMembership({ teamId: team.id, userId: ada.id, role: 'viewer', writes: [] }, 'root');
      await store.createSession('mine', { userId: ada.id, csrf: 'c', expiresAt: 9e12 });
      await store.createSession('stolen', { userId: ada.id, csrf: 'c', expiresAt: 9e12 });
      await store.createToken({ id: 't1', userId: ada.id, name: 'ci', prefix: 'p', tokenHash: 'tok', createdAt: 1, expiresAt: null, lastUsedAt: null });
      assert.equal(await store.setPassword(ada.id, 'new', 'ada', 'mine'), true);
      assert.equal((await store.userByName('ada'))?.passwordHash, 'new');
      assert.notEqual(await store.sessionByHash('mine', 1), undefined, 'the session that changed it stays');
      assert.equal(await store.sessionByHash('stolen', 1), undefined, 'every other session ends');
      assert.equal(await store.setPassword('nobody', 'x', 'ada'), false);
      assert.equal(await store.deleteUser(ada.id, 'root'), true);
      assert.equal(await store.userByName('ada'), undefined);
      assert.deepEqual(await store.membersOf(team.id), []);
      assert.equal(await store.useToken('tok', 2), undefined);
      assert.equal(await store.sessionByHash('mine', 1), undefined);
      assert.equal(await store.deleteUser(ada.id, 'root'), false);
      const audit = (await store.listAudit({ limit: 10 }, { kind: 'user' })).items.map((e) => `${e.action} ${e.name}`);
      assert.deepEqual(audit, ['delete ada', 'update ada', 'create ada']);
      await store.close();
    });

    it('finds sessions until they expire, and tokens until they expire or are deleted', async () => {
      const store = await factory.open();
      const ada = await store.createUser({ username: 'ada', passwordHash: 'h', systemAdmin: false }, 'system');
      await store.createSession('s-hash', { userId: ada.id, csrf: 'c', expiresAt: 2000 });
      assert.deepEqual(await store.sessionByHash('s-hash', 1000), { userId: ada.id, csrf: 'c', expiresAt: 2000 });
      assert.equal(await store.sessionByHash('s-hash', 2000), undefined);
      await store.deleteSession('s-hash');
      assert.equal(await store.sessionByHash('s-hash', 1000), undefined);

      await store.createToken({ id: 't1', userId: ada.id, name: 'ci', prefix: 'weir_pat_ab', tokenHash: 't-hash', createdAt: 1, expiresAt: 5000, lastUsedAt: null });
      assert.equal((await store.useToken('t-hash', 4000))?.lastUsedAt, 4000);
      assert.equal(await store.useToken('t-hash', 5000), undefined, 'expired');
      assert.deepEqual((await store.listTokens(ada.id)).map((t) => [t.id, t.lastUsedAt]), [['t1', 4000]]);
      assert.equal(await store.deleteToken('someone-else', 't1'), false);
      assert.equal(await store.deleteToken(ada.id, 't1'), true);
      assert.deepEqual(await store.listTokens(ada.id), []);
      await store.close();
    });

    it('keeps teams and memberships, and will not delete a team that owns resources', async () => {
      const store = await factory.open();
      const ada = await store.createUser({ username: 'ada', passwordHash: 'h', systemAdmin: false }, 'system');
      const shop = await store.createTeam({ name: 'shop', description: 'the shop' }, 'root');
      const travel = await store.createTeam({ name: 'travel', description: '' }, 'root');
      await assert.rejects(store.createTeam({ name: 'shop', description: '' }, 'root'), AlreadyExistsError);
      assert.deepEqual(await store.teamByName('shop'), shop);
      // A restored team keeps its id; an id already taken is refused like a name.
      const restored = await store.createTeam({ name: 'restored', description: '', id: '7c9e6679-7425-40de-944b-e07fc1f90ae7' }, 'root');
      assert.equal(restored.id, '7c9e6679-7425-40de-944b-e07fc1f90ae7');
      assert.equal((await store.teamByName('restored'))!.id, restored.id);
      await assert.rejects(store.createTeam({ name: 'other', description: '', id: shop.id }, 'root'), AlreadyExistsError);
      await store.deleteTeam(restored.id, 'root');
      assert.deepEqual((await store.listTeams({ limit: 10 })).items.map((t) => t.name), ['shop', 'travel']);
      assert.deepEqual((await store.listTeams({ limit: 10 }, [travel.id])).items.map((t) => t.name), ['travel']);
      assert.deepEqual((await store.listTeams({ limit: 10 }, [])).items, []);

      await store.setMembership({ teamId: shop.id, userId: ada.id, role: 'member', writes: ['service'] }, 'root');
      await store.setMembership({ teamId: shop.id, userId: ada.id, role: 'admin', writes: [] }, 'root');
      assert.deepEqual(await store.membershipsOf(ada.id), [{ teamId: shop.id, userId: ada.id, role: 'admin', writes: [] }]);
      assert.deepEqual((await store.membersOf(shop.id)).map((m) => [m.username, m.role]), [['ada', 'admin']]);
      assert.equal(await store.removeMembership(shop.id, ada.id, 'root'), true);
      assert.equal(await store.removeMembership(shop.id, ada.id, 'root'), false);

      await store.writeResource({ kind: 'service', name: 'orders', teamId: shop.id, body: { targets: [] }, expectedVersion: null }, 'root');
      assert.equal(await store.deleteTeam(shop.id, 'root'), false, 'it owns a service');
      assert.equal(await store.deleteTeam(travel.id, 'root'), true);
      assert.equal(await store.teamById(travel.id), undefined);
      await store.close();
    });

    it('versions resources: create once, update at the version read, refuse stale writes', async () => {
      const store = await factory.open();
      const team = await store.createTeam({ name: 'shop', description: '' }, 'root');
      const r0 = await store.revision();
      const created = await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { targets: [{ url: 'http://a' }] }, expectedVersion: null }, 'ada');
      assert.equal(created?.version, 1);
      assert.equal(created?.updatedBy, 'ada');
      await assert.rejects(store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: {}, expectedVersion: null }, 'ada'), AlreadyExistsError);
      const updated = await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { targets: [{ url: 'http://b' }] }, expectedVersion: 1 }, 'bob');
      assert.equal(updated?.version, 2);
      assert.deepEqual(updated?.body, { targets: [{ url: 'http://b' }] });
      await assert.rejects(
        store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: {}, expectedVersion: 1 }, 'ada'),
        (err: unknown) => err instanceof VersionConflictError && err.current === 2,
      );
      assert.deepEqual((await store.getResource('service', 'orders'))?.body, { targets: [{ url: 'http://b' }] }, 'the stale write changed nothing');
      assert.equal(await store.revision(), r0 + 2);
      assert.equal(await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: null, expectedVersion: 2 }, 'ada'), null);
      assert.equal(await store.getResource('service', 'orders'), undefined);
      await assert.rejects(store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: null, expectedVersion: undefined }, 'ada'), VersionConflictError);
      await store.close();
    });

    it('lists resources by kind and team, a page at a time', async () => {
      const store = await factory.open();
      const a = await store.createTeam({ name: 'a', description: '' }, 'root');
      const b = await store.createTeam({ name: 'b', description: '' }, 'root');
      for (const [name, team] of [['s1', a], ['s2', b], ['s3', a]] as const) {
        await store.writeResource({ kind: 'service', name, teamId: team.id, body: {}, expectedVersion: null }, 'root');
      }
      await store.writeResource({ kind: 'route', name: 'r1', teamId: a.id, body: {}, expectedVersion: null }, 'root');
      const page1 = await store.listResources('service', { limit: 2 });
      assert.deepEqual(page1.items.map((r) => r.name), ['s1', 's2']);
      const page2 = await store.listResources('service', { limit: 2, after: page1.next });
      assert.deepEqual(page2.items.map((r) => r.name), ['s3']);
      assert.equal(page2.next, null);
      assert.deepEqual((await store.listResources('service', { limit: 10 }, [a.id])).items.map((r) => r.name), ['s1', 's3']);
      assert.deepEqual((await store.allResources()).map((r) => `${r.kind}:${r.name}`).sort(), ['route:r1', 'service:s1', 'service:s2', 'service:s3']);
      await store.close();
    });

    it('audits every change with who, what, before and after, newest first, by team and kind', async () => {
      const store = await factory.open();
      const team = await store.createTeam({ name: 'shop', description: '' }, 'root');
      await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { v: 1 }, expectedVersion: null }, 'ada');
      await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: { v: 2 }, expectedVersion: 1 }, 'bob');
      await store.writeResource({ kind: 'service', name: 'orders', teamId: team.id, body: null, expectedVersion: 2 }, 'ada');
      const services = await store.listAudit({ limit: 10 }, { kind: 'service' });
      assert.deepEqual(
        services.items.map((e) => [e.actor, e.action, e.before, e.after]),
        [
          ['ada', 'delete', { v: 2 }, null],
          ['bob', 'update', { v: 1 }, { v: 2 }],
          ['ada', 'create', null, { v: 1 }],
        ],
      );
      const mine = await store.listAudit({ limit: 2 }, { teams: [team.id] });
      assert.equal(mine.items.length, 2);
      const rest = await store.listAudit({ limit: 2, after: mine.next }, { teams: [team.id] });
      assert.deepEqual(rest.items.map((e) => e.kind), ['service', 'team']);
      assert.deepEqual((await store.listAudit({ limit: 10 }, { teams: ['other'] })).items, []);
      await store.close();
    });
  });
}
