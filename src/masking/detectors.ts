/**
 * Built-in detectors: a pattern that finds candidates in text, then a check that throws out the
 * look-alikes (a Luhn check for cards, invalid ranges for SSNs, mod 97 for IBANs). They are tuned
 * to miss rather than to over-mask: a masked order id or timestamp breaks clients, so a plain run
 * of digits is never a phone number and a number without a card network's prefix is never a card.
 *
 * Every pattern starts at a token boundary (a lookbehind), so scanning is linear in the text.
 */

export interface Detector {
  readonly name: string;
  /** Finds candidates; global (`g`). */
  readonly pattern: RegExp;
  /** A cheap test every match passes (an `@`, a digit), so most strings skip the pattern. */
  readonly mayContain: (text: string) => boolean;
  /** Whether a candidate really is one. */
  valid(candidate: string): boolean;
  /**
   * For a candidate that is not valid: the length of its longest valid prefix, 0 for none —
   * a card followed by its CVV (`4111 1111 1111 1111 123`) is read as one long candidate first.
   */
  validPrefix?(candidate: string): number;
  /** The `partial` style: what stays visible of a match given `keep`. */
  partial(match: string, keep: number): string;
  /** What `keep` is when a rule does not say. */
  readonly keep: number;
  /** The form that is hashed, so `4111 1111 …` and `41111111…` hash alike. */
  canonical(match: string): string;
}

const digitsOf = (s: string): string => s.replace(/\D/g, '');
const DIGIT = /[0-9]/;
const hasDigit = (s: string): boolean => DIGIT.test(s);

/**
 * Every character `counts` accepts, but the last `keep` of them, replaced by `*`; the others
 * (separators) stay, so the shape stays readable: `**** **** **** 1111`.
 */
function keepLast(match: string, keep: number, counts: RegExp): string {
  let visible = keep;
  let out = '';
  for (let i = match.length - 1; i >= 0; i--) {
    const c = match[i]!;
    if (counts.test(c)) {
      out = (visible > 0 ? c : '*') + out;
      visible--;
    } else {
      out = c + out;
    }
  }
  return out;
}

const keepLastDigits = (match: string, keep: number): string => keepLast(match, keep, /[0-9]/);
const keepLastAlnum = (match: string, keep: number): string => keepLast(match, keep, /[A-Za-z0-9]/);

/** The Luhn (mod 10) checksum every payment card number carries. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/**
 * Lengths a card network issues for a number's prefix (Visa, Mastercard, Amex, Diners, JCB,
 * Discover, UnionPay, Maestro); none starts with 0, 1, 7, 8 or 9, which is what keeps
 * millisecond timestamps (1…) and most ids out.
 */
function cardLengthFits(digits: string): boolean {
  const n = digits.length;
  const two = Number(digits.slice(0, 2));
  const four = Number(digits.slice(0, 4));
  if (digits[0] === '4') return n === 13 || n === 16 || n === 19;
  if ((two >= 51 && two <= 55) || (four >= 2221 && four <= 2720)) return n === 16;
  if (two === 34 || two === 37) return n === 15;
  if (two === 36 || two === 38 || (Number(digits.slice(0, 3)) >= 300 && Number(digits.slice(0, 3)) <= 305)) return n === 14 || n === 16;
  if (four >= 3528 && four <= 3589) return n >= 16 && n <= 19;
  if (digits[0] === '6' || two === 50 || (two >= 56 && two <= 58)) return n >= 13 && n <= 19;
  return false;
}

const email: Detector = {
  name: 'email',
  pattern: /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9-])/g,
  mayContain: (s) => s.includes('@'),
  valid: (s) => !s.startsWith('.') && !s.includes('..'),
  // First character of the local part and the whole domain: enough to tell users apart in a log.
  partial: (s) => `${s[0]}***${s.slice(s.indexOf('@'))}`,
  keep: 1,
  canonical: (s) => s.toLowerCase(),
};

/**
 * International numbers written with `+` (E.164, with or without spaces, dots, dashes or a
 * bracketed area code), North American `(555) 123-4567` / `555-123-4567` / `555.123.4567`, and
 * national numbers with a trunk `0` written in groups (`020 7946 0958`, `06-12345678`). Never a
 * bare run of digits: those are ids, amounts and timestamps far more often than phone numbers.
 */
const phone: Detector = {
  name: 'phone',
  pattern:
    /(?<![\w+.-])(?:\+[1-9]\d{0,3}(?:[ .-]?\(\d{1,5}\))?(?:[ .-]?\d){4,14}|\(\d{3}\) ?\d{3}[ .-]\d{4}|\d{3}([.-])\d{3}\1\d{4}|0\d{1,4}[ -]\d{2,8}(?:[ -]\d{2,6}){0,3})(?![\w]|[.-]\d)/g,
  mayContain: hasDigit,
  valid(s) {
    const n = digitsOf(s).length;
    // "+40.712776" is a latitude: a dotted international number has its groups all dotted.
    if (s.startsWith('+') && s.split('.').length === 2) return false;
    if (!s.startsWith('0')) return n >= 7 && n <= 15;
    // Trunk-0 numbers are 10–11 digits in one separator style; "01-15-2024" is a date.
    return n >= 10 && n <= 11 && new Set(s.replace(/\d/g, '')).size === 1;
  },
  partial: keepLastDigits,
  keep: 4,
  canonical: (s) => (s.startsWith('+') ? '+' : '') + digitsOf(s),
};

/** 13–19 digits, optionally grouped by single spaces or dashes, with a network prefix and a valid Luhn digit. */
const card: Detector = {
  name: 'card',
  pattern: /(?<![\w-])[2-6]\d{3}(?:[ -]?\d){9,15}(?![\w]|-\d)/g,
  mayContain: hasDigit,
  valid(s) {
    const digits = digitsOf(s);
    if (digits.length < 13 || digits.length > 19) return false;
    // Groups use one separator throughout: "4111 1111-1111 1111" is not how a card is written.
    const separators = new Set(s.replace(/\d/g, ''));
    if (separators.size > 1) return false;
    return cardLengthFits(digits) && luhnValid(digits);
  },
  validPrefix(s) {
    for (let end = s.length - 1; end > 0; end--) {
      if ((s[end] === ' ' || s[end] === '-') && card.valid(s.slice(0, end))) return end;
    }
    return 0;
  },
  partial: keepLastDigits,
  keep: 4,
  canonical: digitsOf,
};

/** US Social Security numbers, written 123-45-6789 or 123 45 6789; never-issued ranges excluded. */
const ssnUs: Detector = {
  name: 'national-id:us',
  pattern: /(?<![\w-])\d{3}([- ])\d{2}\1\d{4}(?![\w]|-\d)/g,
  mayContain: hasDigit,
  valid(s) {
    const d = digitsOf(s);
    const area = Number(d.slice(0, 3));
    if (area === 0 || area === 666 || area >= 900) return false;
    if (d.slice(3, 5) === '00' || d.slice(5) === '0000') return false;
    // Published in advertising (1938) and used as an example ever since.
    return d !== '078051120';
  },
  partial: keepLastDigits,
  keep: 4,
  canonical: digitsOf,
};

/** UK National Insurance numbers (AB 12 34 56 C), with the prefixes HMRC never issues excluded. */
const ninoGb: Detector = {
  name: 'national-id:gb',
  pattern: /(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])/g,
  mayContain: hasDigit,
  valid(s) {
    const prefix = s.slice(0, 2);
    return !['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ'].includes(prefix);
  },
  partial: keepLastAlnum,
  keep: 4,
  canonical: (s) => s.replace(/ /g, ''),
};

/**
 * National identity numbers by country code. To add a country, add its detector here (a pattern,
 * a validity check that throws out numbers never issued) and a test with its near-misses.
 */
export const NATIONAL_IDS: Readonly<Record<string, Detector>> = { us: ssnUs, gb: ninoGb };

/** IBANs (ISO 13616), grouped by spaces or not, checked with their mod-97 digits. */
const iban: Detector = {
  name: 'iban',
  pattern: /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])/g,
  mayContain: hasDigit,
  valid(s) {
    const compact = s.replace(/ /g, '');
    if (compact.length < 15 || compact.length > 34) return false;
    const rearranged = compact.slice(4) + compact.slice(0, 4);
    let remainder = 0;
    for (const c of rearranged) {
      const value = c >= 'A' ? String(c.charCodeAt(0) - 55) : c;
      for (const digit of value) remainder = (remainder * 10 + (digit.charCodeAt(0) - 48)) % 97;
    }
    return remainder === 1;
  },
  partial: keepLastAlnum,
  keep: 4,
  canonical: (s) => s.replace(/ /g, ''),
};

/** The detectors a rule can name, besides `national-id` (see NATIONAL_IDS). */
export const DETECTORS: Readonly<Record<string, Detector>> = { email, phone, card, iban };

/** Every name a `detector:` rule accepts. */
export const DETECTOR_NAMES: readonly string[] = [...Object.keys(DETECTORS), 'national-id'];

/** The detectors a rule names: `national-id` is one per country (all of them unless `countries`). */
export function detectorsFor(name: string, countries?: readonly string[]): Detector[] {
  if (name === 'national-id') return (countries ?? Object.keys(NATIONAL_IDS)).map((c) => NATIONAL_IDS[c]!);
  const detector = DETECTORS[name];
  return detector === undefined ? [] : [detector];
}
