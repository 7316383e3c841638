import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request as undiciRequest, Agent } from 'undici';
import { parseConfig } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { startSingleProcess } from '../../src/runtime/single.js';

export interface TestWeir {
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly node: Awaited<ReturnType<typeof startSingleProcess>>;
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** Rewrites the config file and reloads (as SIGHUP would). */
  rewrite(yaml: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Weir in this process, serving `yaml` (written to a temp file) on random ports, keeping its state
 * in a fresh data folder unless `dataDir` names one (to restart on the same state).
 */
export async function startWeir(yaml: string, options: { dataDir?: string } = {}): Promise<TestWeir> {
  const dir = mkdtempSync(join(tmpdir(), 'weir-test-'));
  const configPath = join(dir, 'weir.yaml');
  writeFileSync(configPath, yaml);
  const { log, lines: logs } = capturingLogger('debug');
  const node = await startSingleProcess({ configPath, port: 0, adminPort: 0, host: '127.0.0.1', adminHost: '127.0.0.1', dataDir: options.dataDir ?? join(dir, 'data'), adminPassword: ADMIN_PASSWORD, log });
  return {
    url: `http://127.0.0.1:${node.port}`,
    port: node.port,
    adminUrl: `http://127.0.0.1:${node.adminPort}`,
    configPath,
    dataDir: options.dataDir ?? join(dir, 'data'),
    node,
    logs,
    async rewrite(text) {
      writeFileSync(configPath, text);
      await node.reload();
    },
    async close() {
      await node.close();
    },
  };
}

/** A real logger (createLogger) whose lines are parsed into `lines` as they are written. */
export function capturingLogger(level = 'info'): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { log: createLogger({ level, destination }), lines };
}

/** The first admin's password in every test node (user `admin`). */
export const ADMIN_PASSWORD = 'test-admin-password';

/** Calls the admin API of `adminUrl` with an access token; bodies are JSON. */
export type AdminCall = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Reply>;

/** Signs in as `username` and returns a caller using a fresh personal access token. */
export async function adminClient(adminUrl: string, username = 'admin', password = ADMIN_PASSWORD): Promise<AdminCall> {
  const login = await call(`${adminUrl}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (login.status !== 200) throw new Error(`sign-in as ${username} failed: ${login.status} ${login.body}`);
  const cookie = String(login.headers['set-cookie']).split(';')[0]!;
  const created = await call(`${adminUrl}/api/v1/me/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie, 'x-csrf-token': login.json().csrfToken },
    body: JSON.stringify({ name: 'tests' }),
  });
  const token = created.json().token as string;
  return (method, path, body, headers = {}) =>
    call(`${adminUrl}${path}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/** A client with its own connection pool, so tests do not share keep-alive sockets. */
export function client(): Agent {
  return new Agent({ keepAliveTimeout: 1000 });
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json<T = any>(): T;
}

/** One request through undici; the whole body read as text. */
export async function call(url: string, options: Parameters<typeof undiciRequest>[1] = {}): Promise<Reply> {
  const res = await undiciRequest(url, options);
  const body = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    body,
    json: () => JSON.parse(body),
  };
}

/** YAML for one service with the given targets plus extra service keys, and routes. */
export function serviceYaml(name: string, urls: string[], extra = ''): string {
  const targets = urls.map((u) => `      - url: ${u}`).join('\n');
  return `  ${name}:\n    targets:\n${targets}\n${extra.replace(/^/gm, '    ')}`;
}

/** The problems `parseConfig` finds in `yaml`, each as "line: /json/pointer: message" ([] when valid). */
export function configProblems(yaml: string): string[] {
  const result = parseConfig(yaml, 'weir.yaml');
  return result.ok ? [] : result.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
}

/**
 * A config with one service `s` (nothing listens there) and `flows` after `flows:` — for load-time
 * checks. The flows start on line 5.
 */
export function withFlows(flows: string): string {
  return `services:\n  s: { targets: [{ url: http://127.0.0.1:1 }] }\nroutes: []\nflows:\n${flows}`;
}
