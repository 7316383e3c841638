/**
 * Who is calling: a session cookie (the console; unsafe methods must also carry the session's
 * CSRF token in `X-CSRF-Token`) or a personal access token (`Authorization: Bearer weir_pat_…`,
 * for automation; no CSRF, since a browser never sends it by itself). Passwords are hashed with
 * scrypt (node:crypto, asynchronous so hashing never blocks the event loop); session ids and
 * tokens are random and stored only as SHA-256 hashes. Failed sign-ins are throttled per client
 * and user name.
 */
import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { ConfigStore } from '../../store/config-store.js';
import type { Logger } from '../../observability/logger.js';
import { Principal } from './access.js';
import { ApiError } from './kit.js';

export const SESSION_COOKIE = 'weir_session';
export const SESSION_MS = 12 * 3600_000;
const TOKEN_PREFIX = 'weir_pat_';
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

function scryptAsync(password: string, salt: Buffer, params: typeof SCRYPT): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, params.keylen, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$hash` (base64url), so the parameters can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || hash === undefined) return false;
  const expected = Buffer.from(hash, 'base64url');
  const key = await scryptAsync(password, Buffer.from(salt!, 'base64url'), { N: Number(n), r: Number(r), p: Number(p), keylen: expected.length });
  return timingSafeEqual(key, expected);
}

/** Checked against when the user does not exist, so a wrong name takes as long as a wrong password. */
let decoy: Promise<string> | undefined;

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('base64url');

export function newAccessToken(): { token: string; prefix: string; hash: string } {
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, prefix: token.slice(0, TOKEN_PREFIX.length + 6), hash: sha256(token) };
}

/**
 * Failed sign-ins per client address and user name: after 5, each further failure doubles a
 * wait (1 s, 2 s, … up to 15 min) during which sign-ins are refused with 429. A success clears it.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; until: number }>();

  check(key: string, now = Date.now()): void {
    const entry = this.failures.get(key);
    if (entry !== undefined && entry.until > now) {
      const seconds = Math.ceil((entry.until - now) / 1000);
      throw new ApiError('WEIR_LOGIN_THROTTLED', `too many failed sign-ins; try again in ${seconds} s`, {}, { 'retry-after': String(seconds) });
    }
  }

  failed(key: string, now = Date.now()): void {
    const entry = this.failures.get(key) ?? { count: 0, until: 0 };
    entry.count++;
    if (entry.count >= 5) entry.until = now + Math.min(15 * 60_000, 1000 * 2 ** (entry.count - 5));
    this.failures.set(key, entry);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  succeeded(key: string): void {
    this.failures.delete(key);
  }
}

export class Authenticator {
  readonly throttle = new LoginThrottle();

  constructor(private readonly store: ConfigStore) {}

  /** Checks a user name and password; throttled. Returns the user or throws 401/429. */
  async signIn(req: IncomingMessage, username: string, password: string) {
    const key = `${req.socket.remoteAddress ?? ''}|${username.toLowerCase()}`;
    this.throttle.check(key);
    const user = await this.store.userByName(username);
    const ok = user === undefined ? (await verifyPassword(password, await (decoy ??= hashPassword(randomBytes(16).toString('hex')))), false) : await verifyPassword(password, user.passwordHash);
    if (!ok || user === undefined) {
      this.throttle.failed(key);
      throw new ApiError('WEIR_UNAUTHENTICATED', 'wrong user name or password');
    }
    this.throttle.succeeded(key);
    const { passwordHash: _, ...plain } = user;
    return plain;
  }

  /** A new session: the cookie value (to set) and its CSRF token. */
  async startSession(userId: string): Promise<{ sessionId: string; csrf: string; expiresAt: number }> {
    const sessionId = randomBytes(32).toString('base64url');
    const csrf = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + SESSION_MS;
    await this.store.createSession(sha256(sessionId), { userId, csrf, expiresAt });
    return { sessionId, csrf, expiresAt };
  }

  /** The hash of the request's session id, if it came with one. */
  sessionHashOf(req: IncomingMessage): string | undefined {
    const sessionId = cookieOf(req, SESSION_COOKIE);
    return sessionId === undefined ? undefined : sha256(sessionId);
  }

  async endSession(req: IncomingMessage): Promise<void> {
    const sessionId = cookieOf(req, SESSION_COOKIE);
    if (sessionId !== undefined) await this.store.deleteSession(sha256(sessionId));
  }

  /** The caller, or a 401 / 403 (CSRF) refusal. */
  async principal(req: IncomingMessage): Promise<Principal> {
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      const token = match === null ? undefined : await this.store.useToken(sha256(match[1]!), Date.now());
      if (token === undefined) throw new ApiError('WEIR_UNAUTHENTICATED', 'the access token is unknown, revoked or expired', {}, { 'www-authenticate': 'Bearer' });
      return this.principalOf(token.userId, 'token');
    }
    const sessionId = cookieOf(req, SESSION_COOKIE);
    const session = sessionId === undefined ? undefined : await this.store.sessionByHash(sha256(sessionId), Date.now());
    if (session === undefined) throw new ApiError('WEIR_UNAUTHENTICATED', 'sign in (POST /api/v1/auth/login) or send an access token', {}, { 'www-authenticate': 'Bearer' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || sent.length !== session.csrf.length || !timingSafeEqual(Buffer.from(sent), Buffer.from(session.csrf))) {
        throw new ApiError('WEIR_CSRF_FAILED', 'send the CSRF token from sign-in (or GET /api/v1/me) in X-CSRF-Token');
      }
    }
    return this.principalOf(session.userId, 'session', session.csrf);
  }

  private async principalOf(userId: string, via: 'session' | 'token', csrf?: string): Promise<Principal> {
    const user = await this.store.userById(userId);
    if (user === undefined) throw new ApiError('WEIR_UNAUTHENTICATED', 'the user no longer exists');
    return new Principal(user, await this.store.membershipsOf(userId), via, csrf);
  }
}

export function cookieOf(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The first start with nobody to sign in: creates `admin` with WEIR_ADMIN_PASSWORD, or with a
 * random password printed once to the log.
 */
export async function ensureFirstAdmin(store: ConfigStore, log: Logger, password = process.env['WEIR_ADMIN_PASSWORD']): Promise<void> {
  if ((await store.countUsers()) > 0) return;
  const chosen = password !== undefined && password !== '';
  const secret = chosen ? password : randomBytes(18).toString('base64url');
  await store.createUser({ username: 'admin', passwordHash: await hashPassword(secret), systemAdmin: true }, 'weir');
  if (chosen) log.info({ username: 'admin' }, 'created the first admin with the password in WEIR_ADMIN_PASSWORD');
  else log.warn({ username: 'admin', password: secret }, 'created the first admin; this password is shown only once: sign in and change it');
}
