import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { maskedLogger } from '../observability/logger.js';
import { capturingLogger } from '../../test/support/weir.js';
import { compileLogMasker } from './log.js';

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('masking what Weir logs', () => {
  it('every logger redacts credentials in URLs, headers and errors, with no masking configured', async () => {
    const { log, lines } = capturingLogger();
    log.error(
      {
        url: '/admin/x?api_key=abc123&page=2',
        headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1', 'x-api-key': 'k-1', accept: 'application/json' },
        err: new Error('connect to redis://app:hunter2@cache:6379 failed'),
      },
      'request failed',
    );
    await settle();
    const line = lines[0]!;
    assert.equal(line['url'], '/admin/x?api_key=***&page=2');
    assert.deepEqual(line['headers'], { authorization: '***', cookie: '***', 'x-api-key': '***', accept: 'application/json' });
    const err = line['err'] as Record<string, string>;
    assert.equal(err['message'], 'connect to redis://app:***@cache:6379 failed');
    assert.equal(err['type'], 'Error');
    assert.equal(err['stack']!.includes('hunter2'), false);
  });

  it('a masked logger applies global.masking rules to the fields that carry user data, and leaves the rest', async () => {
    const { log, lines } = capturingLogger();
    const masked = maskedLogger(log, compileLogMasker({ rules: [{ detector: 'email', style: 'partial' }, { detector: 'card', style: 'partial' }], redactHeaders: ['x-session'] }));
    masked.warn({ call: { service: 'billing', method: 'DELETE', path: '/cards/4111111111111111?owner=ada@example.com' }, headers: { 'x-session': 's-1', 'x-user': 'ada@example.com' }, flow: 'ada@example.com' }, 'compensation failed');
    await settle();
    const line = lines[0]!;
    assert.deepEqual(line['call'], { service: 'billing', method: 'DELETE', path: '/cards/************1111?owner=a***@example.com' });
    assert.deepEqual(line['headers'], { 'x-session': '***', 'x-user': 'a***@example.com' });
    // Names chosen in the config (a flow's name) are not user data and are not scanned.
    assert.equal(line['flow'], 'ada@example.com');
  });

  it('the call-log contract: headers, paths and bodies masked as copies, the originals untouched', () => {
    const masker = compileLogMasker({ rules: [{ path: '$.card.number', style: 'partial' }, { detector: 'email' }] });
    const headers = { authorization: 'Basic YWRhOnB3', 'x-user': 'ada@example.com', 'content-length': 12 };
    assert.deepEqual(masker.headers(headers), { authorization: '***', 'x-user': '****', 'content-length': 12 });
    assert.equal(headers.authorization, 'Basic YWRhOnB3');
    assert.deepEqual(masker.rawHeaders(['Authorization', 'Bearer t', 'X-User', 'ada@example.com', 'Set-Cookie', 'sid=1']), ['Authorization', '***', 'X-User', '****', 'Set-Cookie', '***']);
    assert.equal(masker.text('/users/ada@example.com?access_token=t0k'), '/users/****?access_token=***');
    assert.equal(masker.body(Buffer.from('{"card":{"number":"4111111111111111"},"to":"ada@example.com"}'), 'application/json'), '{"card":{"number":"************1111"},"to":"****"}');
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    assert.equal(masker.body(png, 'image/png'), png);
  });
});
