/**
 * The behaviour every FlowStateStore must have, as a test suite to run against each
 * implementation (`*.conformance.ts` is left out of the build). `open` gives a store on fresh
 * state; `openAgain` a second handle on the same state, as another process would have.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowStateStore, StoredResponse } from './flow-state.js';

export interface StoreFactory {
  open(): Promise<{ store: FlowStateStore; openAgain: () => Promise<FlowStateStore> }>;
}

const RESPONSE: StoredResponse = { status: 201, headers: { 'content-type': 'application/json' }, body: '{"id":1}' };
const T = 1_000_000;

export function flowStateConformance(name: string, factory: StoreFactory): void {
  describe(`${name}: flow state store`, () => {
    it('claims a key once; a repeat sees it running, then done with the response', async () => {
      const { store } = await factory.open();
      assert.deepEqual(await store.claimKey('s', 'k', 'fp', 'a', T + 100, T), { kind: 'claimed' });
      assert.deepEqual(await store.claimKey('s', 'k', 'fp', 'b', T + 100, T + 1), { kind: 'running', fingerprint: 'fp' });
      await store.completeKey('s', 'k', 'a', RESPONSE, T + 10_000);
      assert.deepEqual(await store.claimKey('s', 'k', 'other', 'b', T + 100, T + 2), { kind: 'done', fingerprint: 'fp', response: RESPONSE });
      assert.deepEqual(await store.claimKey('s2', 'k', 'fp', 'b', T + 100, T + 2), { kind: 'claimed' }, 'scopes are apart');
      await store.close();
    });

    it('lets a key go when its owner releases it, its lease runs out, or its record expires', async () => {
      const { store } = await factory.open();
      await store.claimKey('s', 'released', 'fp', 'a', T + 100, T);
      await store.releaseKey('s', 'released', 'not-the-owner');
      assert.equal((await store.claimKey('s', 'released', 'fp', 'b', T + 100, T)).kind, 'running', 'only the owner releases');
      await store.releaseKey('s', 'released', 'a');
      assert.equal((await store.claimKey('s', 'released', 'fp', 'b', T + 100, T)).kind, 'claimed');

      await store.claimKey('s', 'crashed', 'fp', 'a', T + 100, T);
      assert.equal((await store.claimKey('s', 'crashed', 'fp', 'b', T + 300, T + 101)).kind, 'claimed', 'a lapsed lease is taken over');
      await store.completeKey('s', 'crashed', 'a', RESPONSE, T + 10_000);
      assert.equal((await store.claimKey('s', 'crashed', 'fp', 'c', T + 300, T + 102)).kind, 'running', 'the old owner cannot complete a key it lost');

      await store.claimKey('s', 'old', 'fp', 'a', T + 100, T);
      await store.completeKey('s', 'old', 'a', RESPONSE, T + 500);
      assert.equal((await store.claimKey('s', 'old', 'fp', 'b', T + 700, T + 501)).kind, 'claimed', 'an expired record is gone');
      await store.close();
    });

    it('gives a contested key to exactly one of two handles', async () => {
      const { store, openAgain } = await factory.open();
      const other = await openAgain();
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? store : other).claimKey('s', 'race', 'fp', `owner-${i}`, T + 100, T)),
      );
      assert.equal(claims.filter((c) => c.kind === 'claimed').length, 1);
      await other.close();
      await store.close();
    });

    it('keeps a job, renews its lease only for its owner, and finishes it', async () => {
      const { store } = await factory.open();
      await store.createJob({ id: 'j1', flow: 'f', request: { path: '/x', body: { a: 1 } }, requestId: 'r1', callbackUrl: null }, 'a', T + 100, T);
      const job = await store.getJob('j1');
      assert.equal(job?.state, 'running');
      assert.deepEqual(job?.request, { path: '/x', body: { a: 1 } });
      assert.equal(job?.runs, 1);
      assert.equal(await store.renewJob('j1', 'b', T + 200), false);
      assert.equal(await store.renewJob('j1', 'a', T + 200), true);
      await store.finishJob('j1', 'a', { state: 'succeeded', response: RESPONSE, error: null }, T + 50, T + 10_000);
      const done = await store.getJob('j1');
      assert.equal(done?.state, 'succeeded');
      assert.deepEqual(done?.response, RESPONSE);
      assert.equal(done?.finishedAt, T + 50);
      assert.equal(done?.callback.state, 'none');
      assert.equal(await store.getJob('nope'), undefined);
      await store.close();
    });

    it('hands an abandoned job to one other owner, counting the run', async () => {
      const { store, openAgain } = await factory.open();
      const other = await openAgain();
      await store.createJob({ id: 'j2', flow: 'f', request: {}, requestId: 'r2', callbackUrl: null }, 'a', T + 100, T);
      assert.equal(await other.claimAbandonedJob('b', T + 300, T + 50), undefined, 'a live lease is respected');
      const [first, second] = await Promise.all([other.claimAbandonedJob('b', T + 300, T + 101), store.claimAbandonedJob('c', T + 300, T + 101)]);
      const taken = [first, second].filter((j) => j !== undefined);
      assert.equal(taken.length, 1);
      assert.equal(taken[0]!.runs, 2);
      assert.equal(await store.renewJob('j2', 'a', T + 400), false, 'the old owner lost it');
      await other.close();
      await store.close();
    });

    it('makes a finished job\'s callback due, leases it to one deliverer, and records the outcome', async () => {
      const { store } = await factory.open();
      await store.createJob({ id: 'j3', flow: 'f', request: {}, requestId: 'r3', callbackUrl: 'http://127.0.0.1:1/hook' }, 'a', T + 100, T);
      assert.equal(await store.claimDueCallback('a', T + 1000, T), undefined, 'nothing is due while the job runs');
      await store.finishJob('j3', 'a', { state: 'failed', response: null, error: 'boom' }, T + 10, T + 10_000);
      const due = await store.claimDueCallback('a', T + 1000, T + 10);
      assert.equal(due?.id, 'j3');
      assert.equal(due?.callback.attempts, 1);
      assert.equal(await store.claimDueCallback('b', T + 1000, T + 11), undefined, 'leased to the first deliverer');
      await store.recordCallback('j3', { state: 'pending', nextAt: T + 500, error: 'answered 500' });
      assert.equal(await store.claimDueCallback('b', T + 1000, T + 499), undefined, 'not before its next time');
      assert.equal((await store.claimDueCallback('b', T + 1000, T + 500))?.callback.attempts, 2);
      await store.recordCallback('j3', { state: 'delivered', nextAt: 0, error: null });
      const job = await store.getJob('j3');
      assert.deepEqual(job?.callback, { state: 'delivered', attempts: 2, error: null });
      assert.equal(job?.error, 'boom');
      await store.close();
    });

    it('keeps failed compensations for an operator, newest first', async () => {
      const { store } = await factory.open();
      await store.addCompensationFailure({ at: T, flow: 'book', requestId: 'r1', step: 'booking', call: { method: 'DELETE', path: '/b/1' }, error: { code: 'X' } });
      await store.addCompensationFailure({ at: T + 1, flow: 'book', requestId: 'r2', step: 'payment', call: null, error: null });
      const list = await store.listCompensationFailures(10);
      assert.deepEqual(list.map((f) => [f.requestId, f.step]), [['r2', 'payment'], ['r1', 'booking']]);
      assert.deepEqual(list[1]!.call, { method: 'DELETE', path: '/b/1' });
      await store.close();
    });

    it('purges expired keys and finished jobs, never running ones or undelivered callbacks', async () => {
      const { store } = await factory.open();
      await store.claimKey('s', 'k', 'fp', 'a', T + 100, T);
      await store.completeKey('s', 'k', 'a', RESPONSE, T + 200);
      await store.createJob({ id: 'running', flow: 'f', request: {}, requestId: 'r', callbackUrl: null }, 'a', T + 100, T);
      await store.createJob({ id: 'done', flow: 'f', request: {}, requestId: 'r', callbackUrl: null }, 'a', T + 100, T);
      await store.finishJob('done', 'a', { state: 'succeeded', response: RESPONSE, error: null }, T, T + 200);
      await store.createJob({ id: 'calling', flow: 'f', request: {}, requestId: 'r', callbackUrl: 'http://h/' }, 'a', T + 100, T);
      await store.finishJob('calling', 'a', { state: 'succeeded', response: RESPONSE, error: null }, T, T + 200);
      assert.equal(await store.purgeExpired(T + 1000), 2);
      assert.equal(await store.getJob('done'), undefined);
      assert.notEqual(await store.getJob('running'), undefined);
      assert.notEqual(await store.getJob('calling'), undefined);
      await store.close();
    });
  });
}
