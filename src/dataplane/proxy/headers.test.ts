import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { requestIdFor, uuidV7 } from './headers.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test('generated request ids are UUIDv7: RFC 9562 layout, the time in their first 48 bits', () => {
  const at = Date.UTC(2026, 10, 22, 7, 40, 0, 123);
  const id = uuidV7(at);
  assert.match(id, UUID_V7);
  assert.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), at);
});

test('request ids sort by time, so the call log appends them at the end of its index', () => {
  const ids = [0, 1, 2, 1_000, 86_400_000].map((offset) => uuidV7(1_700_000_000_000 + offset));
  assert.deepEqual([...ids].sort(), ids);
  assert.notEqual(uuidV7(5), uuidV7(5), 'the rest is random');
});

test('a trusted client id is kept; otherwise one is generated', () => {
  const req = (id?: string) => ({ headers: id === undefined ? {} : { 'x-request-id': id } }) as IncomingMessage;
  const settings = { trustRequestId: true, requestIdHeader: 'x-request-id' };
  assert.equal(requestIdFor(req('abc-123'), settings), 'abc-123');
  assert.match(requestIdFor(req('bad id\r\n'), settings), UUID_V7);
  assert.match(requestIdFor(req('abc-123'), { ...settings, trustRequestId: false }), UUID_V7);
  assert.match(requestIdFor(req(), undefined), UUID_V7);
});
