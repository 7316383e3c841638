/**
 * The processes bench/flows.ts starts: pinned with taskset, stopped by their own pid (all of them
 * killed if the bench dies), ready when they say so; and their CPU time, from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const CORES = availableParallelism(); // before this process pins itself to one core
export const PIN = CORES >= 2 && hasTaskset();
const children = new Set<ChildProcess>();

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function pinned(core: number, argv: string[]): string[] {
  return PIN ? ['taskset', '-c', String(core), ...argv] : argv;
}

export function startProcess(argv: string[], log: string, options: { env?: NodeJS.ProcessEnv; stdoutPipe?: boolean; group?: boolean } = {}): ChildProcess {
  const fd = openSync(log, 'a');
  const child = spawn(argv[0]!, argv.slice(1), {
    env: options.env ?? process.env,
    // stdin is a pipe the helpers watch: when this process dies, they stop too.
    stdio: ['pipe', options.stdoutPipe ? 'pipe' : fd, fd],
    detached: options.group ?? false,
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

export async function stopProcess(child: ChildProcess, group = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const inTime = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!inTime) {
    try {
      if (group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      else child.kill('SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}

function killAll(): void {
  for (const child of children) {
    try {
      if (child.pid !== undefined) child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping everything the bench started`);
    killAll();
    process.exit(130);
  });
}

/** Moves this process (every thread) to `core`. */
export function pinSelf(core: number): void {
  if (PIN) execFileSync('taskset', ['-a', '-cp', String(core), String(process.pid)], { stdio: 'ignore' });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The first line the child prints on stdout. */
export function firstLine(child: ChildProcess, what: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${what} printed nothing within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buffer.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}) before it was ready`));
    });
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface RunningWeir {
  proc: ChildProcess;
  url: string;
  log: string;
  stop(): Promise<void>;
}

/**
 * `node bin/weir.js start --workers 1` (from the current directory) pinned to `core`, ready when
 * /readyz answers 2xx; its log and data go to `dir`. `nodeArgs` reach the worker too: node:cluster
 * forks it with the primary's execArgv.
 */
export async function startWeir(config: string, label: string, options: { dir: string; core: number; nodeArgs?: string[] }): Promise<RunningWeir> {
  const { dir, core, nodeArgs = [] } = options;
  const [port, adminPort] = [await freePort(), await freePort()];
  const log = join(dir, `${label}.log`);
  const argv = [process.execPath, ...nodeArgs, 'bin/weir.js', 'start', '--config', config, '--workers', '1', '--port', String(port), '--admin-port', String(adminPort), '--data', join(dir, 'weir-data'), '--no-watch'];
  const proc = startProcess(pinned(core, argv), log, { group: true });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`weir (${label}) exited with ${proc.exitCode} before it was ready:\n${tail(log)}`);
    if (Date.now() > deadline) {
      await stopProcess(proc, true);
      throw new Error(`weir (${label}) was not ready within 30 s:\n${tail(log)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return { proc, url: `http://127.0.0.1:${port}`, log, stop: () => stopProcess(proc, true) };
}

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc: per process tree, and per core

export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function procStat(pid: number): { ppid: number; ticks: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the command: state(0) ppid(1) … utime(11) stime(12)
    return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** The pid and all its descendants. */
export function processTree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat) parent.set(Number(name), stat.ppid);
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [pid, ppid] of parent) if (ppid === tree[i]) tree.push(pid);
  return tree;
}

export function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + (procStat(pid)?.ticks ?? 0), 0) / CLK_TCK;
}

export interface CoreTimes {
  busy: number;
  steal: number;
  total: number;
}
export function coreTimes(): Map<string, CoreTimes> {
  const out = new Map<string, CoreTimes>();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const m = /^(cpu\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2]!.split(/\s+/).map(Number) as number[];
    const busy = user! + nice! + system! + irq! + softirq!;
    out.set(m[1]!, { busy, steal: steal ?? 0, total: busy + idle! + iowait! + (steal ?? 0) });
  }
  return out;
}
export function coreUse(before: Map<string, CoreTimes>, after: Map<string, CoreTimes>, core: number): { busy: number; steal: number } {
  const a = before.get(`cpu${core}`);
  const b = after.get(`cpu${core}`);
  if (!a || !b || b.total === a.total) return { busy: NaN, steal: NaN };
  const total = b.total - a.total;
  return { busy: (100 * (b.busy - a.busy)) / total, steal: (100 * (b.steal - a.steal)) / total };
}
