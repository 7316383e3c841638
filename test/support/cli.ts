import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The built CLI (`npm test` builds before running tests). */
export const WEIR_BIN = fileURLToPath(new URL('../../bin/weir.js', import.meta.url));

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `weir ARGS` to completion. */
export function runWeir(args: string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WEIR_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface WeirProcess {
  child: ChildProcess;
  port: number;
  adminPort: number;
  /** Parsed JSON log lines of the primary and its workers, as they arrive. */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/**
 * Starts `weir start ARGS` and resolves once it logs that it is serving. Without `--data` or
 * `--store` it gets a fresh temporary data folder — never the checkout's `.weir`, which tests
 * running side by side would share and `npm start` would then find.
 */
export function startWeirProcess(args: string[]): Promise<WeirProcess> {
  if (!args.includes('--data') && !args.includes('--store')) args = [...args, '--data', mkdtempSync(join(tmpdir(), 'weir-process-'))];
  return new Promise((resolve, reject) => {
    // The first admin of a fresh data folder gets the tests' password (see ADMIN_PASSWORD).
    const env = { ...process.env, WEIR_ADMIN_PASSWORD: process.env['WEIR_ADMIN_PASSWORD'] ?? 'test-admin-password' };
    const child = spawn(process.execPath, [WEIR_BIN, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const logs: Array<Record<string, unknown>> = [];
    let buffered = '';
    let stderr = '';
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry.msg === 'weir is serving') {
            resolve({ child, port: entry.port as number, adminPort: entry.adminPort as number, logs, exited });
          }
        } catch {
          // not a log line
        }
      }
    });
    void exited.then((code) => reject(new Error(`weir exited (${code}) before serving: ${stderr}`)));
  });
}

export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
