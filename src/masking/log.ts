import { stdSerializers } from 'pino';
import { isCredentialHeader, isCredentialName, redactCredentials, REDACTED } from './credentials.js';
import { compileMasker, type Masker } from './masker.js';
import type { MaskingSettings } from './rules.js';

/** `global.masking`: the rule set plus headers to treat as credentials on top of the built-in list. */
export interface LogMaskingSettings extends MaskingSettings {
  redactHeaders?: string[];
}

/** Header values as node and the call log hold them. */
export type HeaderValues = Record<string, string | string[] | number | undefined>;

/**
 * What Weir writes about a request (log lines, and the call log) passed through the config's
 * masking rules, with credentials always redacted. Every method returns a copy: the values
 * logged are often live objects the request still uses.
 */
export interface LogMasker {
  /** Free text: a path with its query, a URL, an error message. */
  text(text: string): string;
  /** Headers: credential headers (Authorization, Cookie, API keys, `redactHeaders`) → `***`, others through the rules. */
  headers(headers: HeaderValues): HeaderValues;
  /** The same for a flat `[name, value, name, value …]` list (HeaderList.raw, node's rawHeaders). */
  rawHeaders(raw: readonly string[]): string[];
  /** A captured body: JSON walked, text scanned, other types unchanged (the same Buffer). */
  body(bytes: Buffer, contentType: string | undefined): Buffer | string;
  /** Any log field value: strings masked, credential-named keys (`password`, `token` …) redacted, errors made plain. */
  value(value: unknown): unknown;
}

/**
 * Compiles `global.masking` (null: none) into a LogMasker, once per config version.
 *
 * @example
 * const masker = compileLogMasker({ rules: [{ detector: 'email', style: 'partial' }] });
 * masker.text('/users/ada@example.com?token=abc') // '/users/a***@example.com?token=***'
 */
export function compileLogMasker(settings: LogMaskingSettings | null): LogMasker {
  const rules: Masker | null = settings === null || settings.rules.length === 0 ? null : compileMasker(settings);
  const extra = new Set((settings?.redactHeaders ?? []).map((h) => h.toLowerCase()));
  const text = (input: string): string => {
    const redacted = redactCredentials(input);
    return rules === null ? redacted : rules.text(redacted);
  };
  const value = (input: unknown, depth = 0): unknown => {
    if (typeof input === 'string') return text(input);
    if (typeof input !== 'object' || input === null) return input;
    if (depth > 8) return '[nested too deep]';
    if (Buffer.isBuffer(input)) return `[${input.length} bytes]`;
    if (input instanceof Error) return value(stdSerializers.err(input), depth);
    if (Array.isArray(input)) return input.map((item) => value(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) out[k] = (typeof v === 'string' || typeof v === 'number') && (isCredentialName(k) || extra.has(k.toLowerCase())) ? REDACTED : value(v, depth + 1);
    return out;
  };
  return {
    text,
    value: (input) => value(input),
    headers(headers) {
      const out: HeaderValues = {};
      for (const [name, v] of Object.entries(headers)) {
        if (v === undefined) continue;
        if (isCredentialHeader(name, extra)) out[name] = REDACTED;
        else out[name] = typeof v === 'number' ? v : Array.isArray(v) ? v.map(text) : text(v);
      }
      return out;
    },
    rawHeaders(raw) {
      const out: string[] = [];
      for (let i = 0; i + 1 < raw.length; i += 2) out.push(raw[i]!, isCredentialHeader(raw[i]!, extra) ? REDACTED : text(raw[i + 1]!));
      return out;
    },
    body(bytes, contentType) {
      return rules?.body(bytes, contentType) ?? bytes;
    },
  };
}

/** Credentials only: what every log line gets when the config sets no `global.masking`. */
export const DEFAULT_LOG_MASKER: LogMasker = compileLogMasker(null);

/**
 * Log fields that can carry what a client or upstream sent (URLs, paths, headers, bodies, error
 * messages quoting them): pino runs the masker over these, by name, on every line.
 */
export const MASKED_LOG_FIELDS = ['err', 'error', 'errors', 'cause', 'call', 'compensations', 'url', 'path', 'query', 'headers', 'body', 'detail'] as const;

/** pino serializers that mask MASKED_LOG_FIELDS with `masker`. */
export function logSerializers(masker: LogMasker): Record<string, (value: unknown) => unknown> {
  const serialize = (value: unknown): unknown => masker.value(value);
  return Object.fromEntries(MASKED_LOG_FIELDS.map((field) => [field, serialize]));
}
