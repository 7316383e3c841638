/**
 * Credentials Weir never writes to a log, whatever the masking config says: passwords in URLs,
 * credential-like query parameters, `Bearer …` tokens in text, and the values of headers that
 * carry credentials. Kept free of other imports so that logging a URL loads nothing else.
 */

/** Request and response headers whose values are credentials (lower case). */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api-key',
  'apikey',
  'x-auth-token',
  'x-access-token',
  'x-amz-security-token',
  'x-csrf-token',
  'x-xsrf-token',
]);

/** What a redacted credential is replaced with. */
export const REDACTED = '***';

/** Query parameters and object keys that name a credential (compared lower case, `-` as `_`). */
const CREDENTIAL_NAMES = [
  'api_key',
  'apikey',
  'key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'auth',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'signature',
  'sig',
  'x_amz_signature',
  'x_amz_security_token',
  'x_goog_signature',
];
const CREDENTIAL_NAME_SET = new Set(CREDENTIAL_NAMES);

// `scheme://user:password@` → the password; a query parameter named like a credential → its value.
const USERINFO_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]*@/gi;
const QUERY_CREDENTIAL = new RegExp(`([?&;](?:${CREDENTIAL_NAMES.map((n) => n.replace('_', '[_-]')).join('|')})=)[^&#\\s"']*`, 'gi');
const BEARER = /\b(Bearer|Basic|Token|ApiKey)\s+[A-Za-z0-9._~+/=-]{8,}/g;

/** True when a header carries a credential: the built-in list or one of `extra` (lower case). */
export function isCredentialHeader(name: string, extra?: ReadonlySet<string>): boolean {
  const lower = name.toLowerCase();
  return CREDENTIAL_HEADERS.has(lower) || extra?.has(lower) === true;
}

/** True when an object key (a log field, a JSON property) names a credential. */
export function isCredentialName(name: string): boolean {
  const key = name.toLowerCase().replace(/-/g, '_');
  // "key" and "sig" name credentials in a query string, but far too many other things in an object.
  return (CREDENTIAL_NAME_SET.has(key) && key !== 'key' && key !== 'sig') || CREDENTIAL_HEADERS.has(name.toLowerCase()) || key.endsWith('password') || key.endsWith('secret');
}

/**
 * `text` (a URL, a path with its query, an error message) with URL passwords, credential query
 * parameters and `Bearer`/`Basic` tokens replaced by `***`.
 *
 * @example
 * redactCredentials('redis://app:s3cret@cache:6379/0') // 'redis://app:***@cache:6379/0'
 * redactCredentials('/orders?api_key=abc&page=2')       // '/orders?api_key=***&page=2'
 */
export function redactCredentials(text: string): string {
  if (text.indexOf('=') === -1 && text.indexOf('@') === -1 && text.indexOf(' ') === -1) return text;
  return text.replace(USERINFO_PASSWORD, `$1${REDACTED}@`).replace(QUERY_CREDENTIAL, `$1${REDACTED}`).replace(BEARER, `$1 ${REDACTED}`);
}
