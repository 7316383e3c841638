import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCacheControl, storability, type StoreRules } from './policy.js';

const rules: StoreRules = { defaultTtlMs: 60_000, defaultSwrMs: 0, authorized: false, keyedByConsumer: false };
const headers = (h: Record<string, string>) => (name: string) => h[name];

describe('Cache-Control parsing', () => {
  it('reads names case-insensitively, quoted values, and keeps the first of a repeated directive', () => {
    const d = parseCacheControl('Public, MAX-AGE="30", max-age=99, s-maxage=5 , stale-while-revalidate=7');
    assert.deepEqual([d.public, d.maxAge, d.sMaxAge, d.staleWhileRevalidate], [true, 30, 5, 7]);
  });
  it('a malformed or negative number counts as 0 (stale)', () => {
    assert.equal(parseCacheControl('max-age=abc').maxAge, 0);
    assert.equal(parseCacheControl('max-age=-5').maxAge, 0);
    assert.equal(parseCacheControl('max-age').maxAge, 0);
  });
  it('ignores unknown directives and empty parts', () => {
    const d = parseCacheControl(',, immutable, foo=bar,');
    assert.equal(d.maxAge, -1);
    assert.equal(d.noStore, false);
  });
});

describe('storability', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('s-maxage wins over max-age, which wins over Expires', () => {
    const v = storability(headers({ 'cache-control': 'max-age=10, s-maxage=20', expires: 'Thu, 01 Jan 2026 01:00:00 GMT' }), rules, now);
    assert.deepEqual(v, { store: true, freshMs: 20_000, staleMs: 0, ageSeconds: 0 });
    const e = storability(headers({ expires: 'Thu, 01 Jan 2026 00:00:30 GMT', date: 'Thu, 01 Jan 2026 00:00:00 GMT' }), rules, now);
    assert.equal(e.store && e.freshMs, 30_000);
  });
  it('Age is subtracted; stale-while-revalidate from the response, else the default, never with must-revalidate', () => {
    const v = storability(headers({ 'cache-control': 'max-age=60, stale-while-revalidate=5', age: '15' }), rules, now);
    assert.deepEqual(v, { store: true, freshMs: 45_000, staleMs: 5_000, ageSeconds: 15 });
    const d = storability(headers({ 'cache-control': 'max-age=60' }), { ...rules, defaultSwrMs: 9_000 }, now);
    assert.equal(d.store && d.staleMs, 9_000);
    const m = storability(headers({ 'cache-control': 'max-age=60, must-revalidate' }), { ...rules, defaultSwrMs: 9_000 }, now);
    assert.equal(m.store && m.staleMs, 0);
  });
  it('Authorization: public, s-maxage or must-revalidate allow storing; so does a consumer key', () => {
    const auth = { ...rules, authorized: true };
    assert.equal(storability(headers({ 'cache-control': 'max-age=60' }), auth, now).store, false);
    for (const cc of ['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate']) assert.equal(storability(headers({ 'cache-control': cc }), auth, now).store, true, cc);
    assert.equal(storability(headers({ 'cache-control': 'max-age=60' }), { ...auth, keyedByConsumer: true }, now).store, true);
  });
  it('refuses no-store, private, no-cache, Vary: *, Set-Cookie and what is already stale', () => {
    const refused: Array<Record<string, string>> = [{ 'cache-control': 'no-store' }, { 'cache-control': 'private' }, { 'cache-control': 'no-cache' }, { vary: 'accept, *' }, { 'set-cookie': 'a=b' }, { 'cache-control': 'max-age=5', age: '5' }];
    for (const h of refused) {
      assert.equal(storability(headers(h), rules, now).store, false, JSON.stringify(h));
    }
  });
});
