import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileMasker } from './masker.js';
import { luhnValid } from './detectors.js';

/** The text with one detector applied in the `full` style. */
function masked(detector: string, text: string, countries?: string[]): string {
  return compileMasker({ rules: [{ detector, ...(countries === undefined ? {} : { countries }) }] }).text(text);
}

/** Asserts every sample is masked entirely (and only it, inside a sentence). */
function assertMasks(detector: string, samples: string[]): void {
  for (const sample of samples) assert.equal(masked(detector, `see ${sample} here`), 'see **** here', `${detector} should mask ${JSON.stringify(sample)}`);
}

function assertLeaves(detector: string, samples: string[]): void {
  for (const sample of samples) assert.equal(masked(detector, `see ${sample} here`), `see ${sample} here`, `${detector} must not mask ${JSON.stringify(sample)}`);
}

describe('masking detectors', () => {
  it('email: addresses, not handles, versions or a bare domain', () => {
    assertMasks('email', ['ada@example.com', 'Ada.Lovelace+news@mail.example.co.uk', 'x_y-1@sub-domain.example.io']);
    assertLeaves('email', ['@ada', 'example.com', 'user@localhost', 'v1.2.3@4', 'a@b']);
  });

  it('phone: E.164 and written national formats, never a bare run of digits, a date or a time', () => {
    assertMasks('phone', ['+14155552671', '+1 415 555 2671', '+44 20 7946 0958', '+49 (30) 901820', '(415) 555-2671', '415-555-2671', '415.555.2671', '+1.415.555.2671', '020 7946 0958', '06 12 34 56 78']);
    assertLeaves('phone', [
      '4155552671', // an id as far as anyone can tell
      '1700000000000', // a timestamp in ms
      '2024-01-15',
      '01-15-2024', // a date, though it starts with a trunk 0
      '10:30:00',
      '192.168.100.12',
      '415-555-26710', // too long for the pattern
      '12345',
      '+1234', // too short
      'order 0042', // short, with a leading zero
      '2024-01-15T10:30:00+01:00',
      '+40.712776', // a latitude
    ]);
  });

  it('card: network prefix, 13–19 digits, one separator style and a valid Luhn digit', () => {
    assertMasks('card', ['4111111111111111', '4111 1111 1111 1111', '4111-1111-1111-1111', '5555555555554444', '378282246310005', '6011111111111117', '4222222222222']);
    assertLeaves('card', [
      '4111111111111112', // Luhn-invalid: an order number
      '4111 1111-1111 1111', // mixed separators
      '1700000000004', // a Luhn-valid millisecond timestamp: no network starts with 1
      '9999999999999995', // Luhn-valid, no network
      '411111111111', // 12 digits
      '41111111111111111111', // 20 digits
      '2024-01-15',
      'ord-4111111111111111', // part of an id
    ]);
    // A card followed by more digits (its CVV) is still found.
    assert.equal(masked('card', 'card 4111 1111 1111 1111 123 ok'), 'card **** 123 ok');
    assert.equal(luhnValid('79927398713'), true);

    assert.equal(luhnValid('79927398710'), false);
  });

  it('national-id us: SSNs with their separators, never-issued ranges left alone', () => {
    assertMasks('national-id', ['123-45-6789', '123 45 6789', '899-12-3456']);
    assertLeaves('national-id', ['000-12-3456', '666-12-3456', '900-12-3456', '123-00-4567', '123-45-0000', '078-05-1120', '123456789', '123-45-67890', '2024-01-15', '123-45 6789']);
  });

  it('national-id gb: National Insurance numbers, with the prefixes HMRC never issues left alone', () => {
    assertMasks('national-id', ['AB123456C', 'AB 12 34 56 C']);
    assertLeaves('national-id', ['GB123456A', 'DA123456C', 'AO123456C', 'AB123456E', 'ab123456c']);
    // `countries` narrows the detector to the listed ones.
    assert.equal(masked('national-id', 'AB123456C and 123-45-6789', ['us']), 'AB123456C and ****');
  });

  it('iban: mod-97 checked, grouped or compact', () => {
    assertMasks('iban', ['GB82 WEST 1234 5698 7654 32', 'GB82WEST12345698765432', 'DE89370400440532013000']);
    assertLeaves('iban', ['GB82 WEST 1234 5698 7654 33', 'DE89370400440532013001', 'AB12']);
  });
});
