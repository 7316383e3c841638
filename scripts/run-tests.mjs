// Runs every *.test.ts under src/, test/ and examples/ with node's test runner (TypeScript through tsx).
// Node 20's --test takes no globs, so the files are listed here. Pass paths to narrow the run.
// A test over 60 s fails, and the run exits when the tests are done even if a failed setup left a
// server open, so CI can never hang on one.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const args = process.argv.slice(2);
const files = args.length > 0 ? args : ['src', 'test', 'examples'].flatMap((d) => collect(d, []));
files.sort();
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=60000', '--test-force-exit', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
