/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per area
 * (Weir's own code, undici, JMESPath, node core modules, GC …), as a share of the busy time
 * (everything but `(idle)`). bench/flows.ts uses it for Weir's worker; it runs on its own too:
 *
 *   node --import tsx bench/flows/profile-summary.ts FILE.cpuprofile [TOP]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  /** `inclusiveMs`: time with the function anywhere on the stack (counted once per sample, so recursion does not double it). */
  functions: Array<{ name: string; where: string; area: string; selfMs: number; inclusiveMs: number }>;
  areas: Array<{ area: string; selfMs: number }>;
}

/** `dist/flows/run.js`, `undici/lib/dispatcher/client-h1.js`, `node:_http_server` … */
function shortUrl(url: string): string {
  if (url === '') return '';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + '/node_modules/'.length);
  const dist = path.lastIndexOf('/dist/');
  if (dist >= 0) return path.slice(dist + 1);
  const src = path.lastIndexOf('/src/');
  if (src >= 0) return path.slice(src + 1);
  return path;
}

function areaOf(name: string, url: string): string {
  if (url === '') {
    if (name === '(garbage collector)') return 'GC';
    if (name === '(idle)') return '(idle)';
    if (name === '(program)') return '(program: native, not attributed to JS)';
    return `native: ${name || '(anonymous)'}`;
  }
  const short = shortUrl(url);
  if (short.startsWith('node:')) {
    const mod = short.slice(5);
    if (mod.startsWith('internal/')) return `node core: ${mod.split('/').slice(0, 2).join('/')}`;
    return `node core: ${mod}`;
  }
  if (url.includes('/node_modules/')) {
    const parts = short.split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (short.startsWith('dist/') || short.startsWith('src/')) return `weir: ${short}`;
  const bench = short.lastIndexOf('/bench/');
  if (bench >= 0) return short.slice(bench + 1);
  return short;
}

export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // timeDeltas[i] is the gap before sample i; the time until the next sample belongs to sample i.
    const us = i + 1 < timeDeltas.length ? timeDeltas[i + 1]! : 0;
    if (us > 0) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + us);
  }
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const fns = new Map<string, ProfileSummary['functions'][number]>();
  const entryOf = (node: ProfileNode): ProfileSummary['functions'][number] => {
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const where = url === '' ? '' : `${shortUrl(url)}:${lineNumber + 1}`;
    const key = `${name}\u0000${where}`;
    let entry = fns.get(key);
    if (entry === undefined) fns.set(key, (entry = { name, where, area: areaOf(name, url), selfMs: 0, inclusiveMs: 0 }));
    return entry;
  };
  const areas = new Map<string, number>();
  let idleMs = 0;
  let totalMs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const ms = us / 1000;
    totalMs += ms;
    const entry = entryOf(node);
    if (entry.area === '(idle)') {
      idleMs += ms;
      continue;
    }
    entry.selfMs += ms;
    areas.set(entry.area, (areas.get(entry.area) ?? 0) + ms);
    const onStack = new Set<object>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = entryOf(byId.get(at)!);
      if (!onStack.has(frame)) (onStack.add(frame), (frame.inclusiveMs += ms));
    }
  }
  fns.forEach((entry, key) => entry.area === '(idle)' && fns.delete(key));
  return {
    totalMs,
    idleMs,
    busyMs: totalMs - idleMs,
    functions: [...fns.values()].sort((a, b) => b.selfMs - a.selfMs),
    areas: [...areas].map(([area, selfMs]) => ({ area, selfMs })).sort((a, b) => b.selfMs - a.selfMs),
  };
}

/** The summary as text: the `top` functions and areas by self time, in % of the busy time. */
export function formatSummary(summary: ProfileSummary, top = 25): string {
  const pct = (ms: number) => `${((100 * ms) / (summary.busyMs || 1)).toFixed(1).padStart(5)}%`;
  const lines = [
    `profiled ${(summary.totalMs / 1000).toFixed(1)} s, busy ${(summary.busyMs / 1000).toFixed(1)} s (idle ${(summary.idleMs / 1000).toFixed(1)} s); shares are of the busy time`,
    '',
    'self time by area:',
    ...summary.areas.slice(0, top).map((a) => `  ${pct(a.selfMs)} ${a.selfMs.toFixed(0).padStart(7)} ms  ${a.area}`),
    '',
    `top ${top} functions by self time:`,
    ...summary.functions.slice(0, top).map((f) => `  ${pct(f.selfMs)} ${f.selfMs.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`),
    '',
    `top ${top} of Weir's functions by inclusive time (self time in brackets; asynchronous continuations count from where they resume):`,
    ...summary.functions
      .filter((f) => f.area.startsWith('weir: '))
      .sort((a, b) => b.inclusiveMs - a.inclusiveMs)
      .slice(0, top)
      .map((f) => `  ${pct(f.inclusiveMs)} ${f.inclusiveMs.toFixed(0).padStart(7)} ms  (${pct(f.selfMs).trim()})  ${f.name}  ${f.where}`),
  ];
  return lines.join('\n');
}

/**
 * Self time per flow, by area, side by side: the profiles of servers that answered `flows` flows
 * each in their lives (start-up included, so a few % of module loading count too).
 */
export function formatComparison(runs: Array<{ label: string; summary: ProfileSummary; flows: number }>, top = 20): string {
  const perFlow = (ms: number, flows: number) => (ms * 1000) / Math.max(1, flows);
  const first = runs[0]!;
  const names = new Set<string>();
  for (const r of runs) for (const a of r.summary.areas.slice(0, top)) names.add(a.area);
  const rows = [...names].map((area) => ({
    area,
    values: runs.map((r) => perFlow(r.summary.areas.find((a) => a.area === area)?.selfMs ?? 0, r.flows)),
  }));
  rows.sort((a, b) => b.values[0]! - a.values[0]! || b.values[1]! - a.values[1]!);
  const cell = (v: number) => v.toFixed(0).padStart(12);
  return [
    `CPU self time per flow, µs, by area (${runs.map((r) => `${r.label}: ${r.flows} flows`).join(', ')}; the areas in either top ${top}):`,
    `${''.padEnd(48)}${runs.map((r) => r.label.padStart(12)).join('')}`,
    `${'all busy time'.padEnd(48)}${runs.map((r) => cell(perFlow(r.summary.busyMs, r.flows))).join('')}`,
    ...rows.map((row) => `${row.area.slice(0, 47).padEnd(48)}${row.values.map(cell).join('')}`),
    `(sorted by ${first.label})`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (file === undefined) {
    console.error('usage: node --import tsx bench/flows/profile-summary.ts FILE.cpuprofile [TOP]');
    process.exit(2);
  }
  console.log(formatSummary(summarizeProfile(file), Number(process.argv[3] ?? 25)));
}
