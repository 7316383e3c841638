/**
 * Data masking: one rule set, compiled once per config version, applied to what Weir logs
 * (`global.masking`) and, per route, to response bodies and headers (the `mask` plugin).
 *
 * Rules are built-in detectors (email, phone, card, national-id, iban — see detectors.ts), user
 * regexes, and JSON paths (Weir's own subset, json-path.ts); styles are full, partial and hash
 * (HMAC-SHA256, keyed, so equal values correlate but cannot be looked up in a dictionary).
 * Credentials (URL passwords, `?api_key=`, Authorization, Cookie, API-key headers) are redacted
 * in logs whatever the rules say (credentials.ts).
 *
 * Contract for anything that records requests (the call log in particular): every path, query
 * string, header set and body it keeps goes through the LogMasker of the config version that
 * served the request — `ProxySettings.logMasker` / `FlowSettings.logMasker`, never a masker of
 * its own — before it is stored or sent anywhere:
 *
 *   const m = settings.logMasker;
 *   record.path = m.text(path);              // query included: "/u/a***@x.com?token=***"
 *   record.requestHeaders = m.headers(headers); // credentials → "***", the rest through the rules
 *   record.responseHeaders = m.rawHeaders(res.headers.raw); // the same for a flat name/value list
 *   record.requestBody = m.body(bytes, contentType); // JSON walked (paths too), text scanned, others as-is
 *
 * Log lines need nothing: the data plane's logger masks the fields that carry user data by name
 * (MASKED_LOG_FIELDS, via pino serializers), so a new log line with `url`, `path`, `headers`,
 * `body`, `err` … is masked without anyone remembering to.
 */
export { compileMasker, bodyKind, FULL_MASK, type Masker } from './masker.js';
export { compileLogMasker, logSerializers, DEFAULT_LOG_MASKER, MASKED_LOG_FIELDS, type LogMasker, type LogMaskingSettings, type HeaderValues } from './log.js';
export { MaskingRule, maskingFields, maskingProblems, hashKeyOf, MASK_STYLES, DEFAULT_HASH_KEY_ENV, type MaskingSettings, type MaskingRuleConfig, type MaskStyle } from './rules.js';
export { CREDENTIAL_HEADERS, isCredentialHeader, redactCredentials } from './credentials.js';
export { DETECTORS, NATIONAL_IDS, DETECTOR_NAMES, luhnValid, type Detector } from './detectors.js';
