/**
 * Secrets — upstream credentials, provider keys, webhook secrets — are stored encrypted
 * (AES-256-GCM, a random 96-bit nonce per value, the team and name bound in as associated data so
 * a ciphertext cannot be moved to another secret) and never returned by the API. Resources use
 * them by reference: `${secret:billing-token}` anywhere in a string of a service, route, flow or
 * API spec is replaced by the value when the gateway config is composed — and only by a secret of
 * the same team, so no team can read another's through a header it sends upstream.
 *
 * The key: WEIR_SECRET_KEY (32 bytes, base64), or the file WEIR_SECRET_KEY_FILE names, or else a
 * key generated once into the data folder (`secret.key`, mode 600) — back it up with the data;
 * nodes sharing a PostgreSQL store must share the key through the environment or a file.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Resource } from '../store/config-store.js';

export interface SealedSecret {
  /** base64 of nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes). */
  sealed: string;
  /** The last characters, so people can tell values apart without seeing them. */
  hint: string;
}

export class SecretBox {
  constructor(private readonly key: Buffer) {
    if (key.length !== 32) throw new Error(`a secret key is 32 bytes (got ${key.length})`);
  }

  /** The key a node would use, without making one: undefined when there is none yet. */
  static existing(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): SecretBox | undefined {
    if (env['WEIR_SECRET_KEY'] || env['WEIR_SECRET_KEY_FILE']) return SecretBox.load(dataDir, env);
    return dataDir !== undefined && existsSync(join(dataDir, 'secret.key')) ? SecretBox.load(dataDir, env) : undefined;
  }

  /** The key from the environment, a key file, or one generated into `dataDir`. */
  static load(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): SecretBox {
    if (env['WEIR_SECRET_KEY']) return new SecretBox(Buffer.from(env['WEIR_SECRET_KEY'], 'base64'));
    if (env['WEIR_SECRET_KEY_FILE']) return new SecretBox(Buffer.from(readFileSync(env['WEIR_SECRET_KEY_FILE'], 'utf8').trim(), 'base64'));
    if (dataDir === undefined) throw new Error('secrets need a key: set WEIR_SECRET_KEY or WEIR_SECRET_KEY_FILE');
    const file = join(dataDir, 'secret.key');
    if (!existsSync(file)) {
      mkdirSync(dataDir, { recursive: true });
      // 'wx': two processes starting together cannot both write a key.
      try {
        writeFileSync(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    return new SecretBox(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  }

  seal(value: string, team: string, name: string): SealedSecret {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, nonce);
    cipher.setAAD(Buffer.from(`${team}/${name}`));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { sealed: Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64'), hint: value.length <= 8 ? '…' : `…${value.slice(-4)}` };
  }

  /** Throws when the value was not sealed with this key for this team and name. */
  open(secret: SealedSecret, team: string, name: string): string {
    const raw = Buffer.from(secret.sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(`${team}/${name}`));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  }
}

const REFERENCE = /\$\{secret:([A-Za-z0-9][A-Za-z0-9_.-]{0,127})\}/g;

/**
 * Where `${secret:…}` is only text: an API's (or a release's) imported OpenAPI documentation,
 * which never reaches the gateway.
 */
function isDocumentation(kind: Resource['kind'], path: readonly string[]): boolean {
  return (kind === 'api' && path.length === 1 && path[0] === 'openapi') || (kind === 'release' && path.length === 2 && path[0] === 'spec' && path[1] === 'openapi');
}

/** Secret names a value refers to. */
export function secretReferences(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') for (const m of value.matchAll(REFERENCE)) out.add(m[1]!);
  else if (Array.isArray(value)) for (const v of value) secretReferences(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) secretReferences(v, out);
  return out;
}

/**
 * The resources with every `${secret:…}` replaced by its value (secrets themselves left out), or
 * the problems: a reference to a secret that does not exist in the resource's team, or one that
 * cannot be opened with this key.
 */
export function resolveSecrets(resources: readonly Resource[], box: SecretBox | undefined): { resources: Resource[]; problems: string[] } {
  const secrets = new Map(resources.filter((r) => r.kind === 'secret').map((r) => [`${r.teamId}/${r.name}`, r]));
  const problems: string[] = [];
  const opened = new Map<string, string>();
  const valueOf = (owner: Resource, name: string): string | undefined => {
    const key = `${owner.teamId}/${name}`;
    if (opened.has(key)) return opened.get(key);
    const secret = secrets.get(key);
    if (secret === undefined) return void problems.push(`${owner.kind} "${owner.name}" uses \${secret:${name}}, but its team has no secret "${name}"`);
    if (box === undefined) return void problems.push(`${owner.kind} "${owner.name}" uses a secret, but this node has no secret key`);
    try {
      const value = box.open(secret.body as unknown as SealedSecret, secret.teamId, name);
      opened.set(key, value);
      return value;
    } catch {
      return void problems.push(`secret "${name}" cannot be opened with this node's key (WEIR_SECRET_KEY differs from the one it was stored with)`);
    }
  };
  let used = false;
  const substitute = (owner: Resource, value: unknown, path: string[]): unknown => {
    if (typeof value === 'string') {
      return value.replace(REFERENCE, (whole, name: string) => {
        used = true;
        return valueOf(owner, name) ?? whole;
      });
    }
    if (Array.isArray(value)) return value.map((v, i) => substitute(owner, v, [...path, String(i)]));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, isDocumentation(owner.kind, [...path, k]) ? v : substitute(owner, v, [...path, k])]));
    }
    return value;
  };
  const out = resources
    .filter((r) => r.kind !== 'secret')
    .map((r) => {
      if (r.kind === 'credential' && r.body['type'] === 'hmac') return openHmacCredential(r, box);
      if (secretReferences(r.body).size === 0) return r;
      used = false;
      const body = substitute(r, r.body, []) as Record<string, unknown>;
      return used ? { ...r, body } : r;
    });
  return { resources: out, problems };
}

/** What an HMAC credential's secret is sealed under: not a secret's name (those have no colon). */
export const hmacSealName = (credential: string): string => `credential:${credential}`;

/**
 * An HMAC credential with its secret opened (`secret`), for the data plane to recompute
 * signatures; as stored when this node cannot open it, which leaves it out of the key tables.
 */
function openHmacCredential(credential: Resource, box: SecretBox | undefined): Resource {
  if (box === undefined) return credential;
  try {
    const secret = box.open({ sealed: String(credential.body['sealed']), hint: '' }, credential.teamId, hmacSealName(credential.name));
    return { ...credential, body: { ...credential.body, secret } };
  } catch {
    return credential;
  }
}
