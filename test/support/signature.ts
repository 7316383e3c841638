import { createHash, createHmac } from 'node:crypto';

/**
 * Signs a request as an RFC 9421 client would, with node:crypto only — independent of the
 * library Weir verifies with, so tests prove wire compatibility. Returns the headers to send.
 */
export function signRequest(options: {
  method: string;
  url: string;
  keyId: string;
  secret: string;
  body?: string | Buffer;
  /** Covered components (default "@method" "@target-uri", plus content-digest with a body). */
  components?: string[];
  /** Seconds since the epoch (default now); null leaves `created` out. */
  created?: number | null;
  expires?: number;
  nonce?: string;
  alg?: string | null;
  label?: string;
  /** Extra headers the signature may cover. */
  headers?: Record<string, string>;
}): Record<string, string> {
  const url = new URL(options.url);
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.body !== undefined && headers['content-digest'] === undefined) headers['content-digest'] = contentDigest(options.body);
  const components = options.components ?? ['@method', '@target-uri', ...(options.body === undefined ? [] : ['content-digest'])];
  const value = (component: string): string => {
    switch (component) {
      case '@method': return options.method.toUpperCase();
      case '@target-uri': return url.href;
      case '@authority': return url.host;
      case '@path': return url.pathname;
      case '@query': return url.search === '' ? '?' : url.search;
      default: {
        const v = headers[component];
        if (v === undefined) throw new Error(`no header ${component} to sign`);
        return v;
      }
    }
  };
  let params = `(${components.map((c) => `"${c}"`).join(' ')})`;
  const created = options.created === undefined ? Math.floor(Date.now() / 1000) : options.created;
  if (created !== null) params += `;created=${created}`;
  if (options.expires !== undefined) params += `;expires=${options.expires}`;
  if (options.nonce !== undefined) params += `;nonce="${options.nonce}"`;
  params += `;keyid="${options.keyId}"`;
  const alg = options.alg === undefined ? 'hmac-sha256' : options.alg;
  if (alg !== null) params += `;alg="${alg}"`;
  const base = [...components.map((c) => `"${c}": ${value(c)}`), `"@signature-params": ${params}`].join('\n');
  const label = options.label ?? 'sig1';
  const signature = createHmac('sha256', options.secret).update(base).digest('base64');
  return { ...headers, 'signature-input': `${label}=${params}`, signature: `${label}=:${signature}:` };
}

/** RFC 9530 Content-Digest with sha-256. */
export function contentDigest(body: string | Buffer): string {
  return `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
}
