import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { answerErrorCode, cacheStatusOf, callSteps, consumerOf, stepsUpstreamMs } from './recorder.js';
import { csvField } from '../admin/api/calls.js';

describe('call log recorder helpers', () => {
  it('reads the consumer and the cache verdict plugins left in the request state', () => {
    assert.equal(consumerOf(new Map([['consumer', { id: 'acme', team: 't' }]])), 'acme');
    assert.equal(consumerOf(new Map()), null);
    assert.equal(consumerOf(undefined), null);
    assert.equal(cacheStatusOf(new Map([['cache', 'hit']])), 'hit');
    assert.equal(cacheStatusOf(new Map([['cache', { status: 'stale', key: 'k' }]])), 'stale');
    assert.equal(cacheStatusOf(new Map([['cache', { other: 1 }]])), null);
    assert.equal(cacheStatusOf(undefined), null);
  });

  it('takes the code of a problem answer only', () => {
    assert.equal(answerErrorCode('{"code":"WEIR_CREDENTIAL_MISSING"}', { 'content-type': 'application/problem+json' }), 'WEIR_CREDENTIAL_MISSING');
    assert.equal(answerErrorCode('{"code":"X"}', { 'content-type': 'application/json' }), undefined);
    assert.equal(answerErrorCode('not json', { 'content-type': 'application/problem+json' }), undefined);
    assert.equal(answerErrorCode('{}', undefined), undefined);
  });

  it("counts a flow's upstream time once where parallel steps overlap", () => {
    const steps = callSteps([
      { name: 'a', status: 'ok', startMs: 0, durationMs: 40, calls: 1, httpStatus: 200 },
      { name: 'b', status: 'ok', startMs: 0, durationMs: 10, calls: 1 },
      { name: 'c', status: 'ok', startMs: 40, durationMs: 5, calls: 2, coalesced: 1, cache: 'partial' },
      { name: 't', status: 'ok', startMs: 45, durationMs: 3, calls: 0 },
      { name: 'd', status: 'failed', startMs: 60, durationMs: 10, calls: 1, error: { code: 'WEIR_STEP_FAILED', message: 'x' } },
    ]);
    assert.equal(stepsUpstreamMs(steps), 55);
    assert.deepEqual(steps[2], { name: 'c', startMs: 40, durationMs: 5, status: 'ok', attempts: 2, coalesced: 1, cache: 'partial' });
    assert.equal(steps[4]!.errorCode, 'WEIR_STEP_FAILED');
  });

  it('writes CSV fields a spreadsheet reads as text', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField('=HYPERLINK("x")'), `"'=HYPERLINK(""x"")"`);
    assert.equal(csvField('-1'), "'-1");
    assert.equal(csvField(-1), '-1');
    assert.equal(csvField(null), '');
  });
});
