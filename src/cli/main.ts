import { accessSync, constants, mkdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { explain } from './explain.js';
import { applyCommand, exportCommand } from './state.js';
import { formatIssues, loadConfigFile } from '../config/load.js';
import { createLogger, flushLogger } from '../observability/logger.js';
import { InvalidConfigError } from '../runtime/config-watcher.js';
import { startCluster } from '../runtime/primary.js';
import { startSingleProcess, type RunningNode } from '../runtime/single.js';

const USAGE = `Usage:
  weir start [--config FILE] [--data DIR] [--store URL] [--workers N] [--port N] [--admin-port N] [--host ADDR] [--no-watch]
  weir validate FILE
  weir explain [FLOW] [--config FILE] [--latency STEP=MS ...]
  weir export [--data DIR | --store URL] [-o FILE]
  weir apply FILE [--data DIR | --store URL] [--config FILE] [--yes]
  weir version

start     Serve traffic (default port 8080) and the admin API (default port 9080).
          --workers N   data-plane processes (default: one per core; 0 = a single process)
          --config      the weir.yaml to serve (default: ./weir.yaml); edits are applied live
          --data        where Weir keeps its state (default: ./.weir)
          --store URL   keep the control plane and flow state in PostgreSQL (postgres://…), shared
                        by every node (also WEIR_STORE; --store-schema / WEIR_STORE_SCHEMA, default weir)
          --no-watch    reload only on SIGHUP, not when the file changes
validate  Check a config file; lists every problem with its line, exit 1 if any.
explain   Show each flow's steps level by level and its critical path.
export    Write the store (users, teams, members, services, routes, flows) as YAML: a backup.
apply     Show what FILE (an export) would change in the store; --yes applies it.
version   Print the version.`;

/** The `weir` command. Returns the process exit code (start resolves once serving). */
export async function main(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'start':
      return start(rest);
    case 'validate':
      return validate(rest);
    case 'explain':
      return explain(rest);
    case 'export':
      return exportCommand(rest);
    case 'apply':
      return applyCommand(rest);
    case 'version':
    case '--version':
    case '-v':
      console.log(`weir ${version()} (node ${process.version})`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 1 : 0;
    default:
      console.error(`weir: unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function validate(args: string[]): Promise<number> {
  const file = args[0];
  if (file === undefined) {
    console.error('weir validate: name the config file to check, e.g. weir validate weir.yaml');
    return 2;
  }
  const result = await loadConfigFile(file);
  if (!result.ok) {
    console.error(formatIssues(result.issues, file));
    console.error(`\n${result.issues.length} problem${result.issues.length === 1 ? '' : 's'} in ${file}`);
    return 1;
  }
  const { config } = result;
  console.log(`${file}: ok — ${config.services.size} services, ${config.routes.length} routes (version ${config.version})`);
  return 0;
}

async function start(args: string[]): Promise<number | undefined> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c', default: 'weir.yaml' },
        data: { type: 'string', default: '.weir' },
        store: { type: 'string', default: process.env['WEIR_STORE'] },
        'store-schema': { type: 'string', default: process.env['WEIR_STORE_SCHEMA'] },
        workers: { type: 'string', short: 'w' },
        port: { type: 'string', short: 'p' },
        'admin-port': { type: 'string' },
        host: { type: 'string' },
        'log-level': { type: 'string' },
        'no-watch': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`weir start: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
  const port = optionalPort(values.port);
  const adminPort = optionalPort(values['admin-port']);
  if (!Number.isInteger(workers) || workers < 0 || port === null || adminPort === null) {
    console.error('weir start: --workers must be a whole number ≥ 0, ports whole numbers from 0 to 65535');
    return 2;
  }
  // A config file that cannot be read fails before anything is created (the data folder, the store).
  try {
    accessSync(values.config, constants.R_OK);
  } catch (err) {
    const issue = { path: '', line: 0, column: 0, message: `cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    console.error(`weir start: ${values.config} is not valid:\n${formatIssues([issue], values.config)}`);
    return 1;
  }
  mkdirSync(values.data, { recursive: true });
  const log = createLogger({ level: values['log-level'] });
  const common = {
    configPath: values.config,
    watch: !values['no-watch'],
    host: values.host,
    port,
    adminPort,
    dataDir: values.data,
    storeUrl: values.store,
    storeSchema: values['store-schema'],
    log,
  };
  let node: RunningNode;
  try {
    node = workers === 0 ? await startSingleProcess(common) : await startCluster({ ...common, workers });
  } catch (err) {
    flushLogger(log);
    if (err instanceof InvalidConfigError) console.error(`weir start: ${values.config} is not valid:\n${formatIssues(err.issues, values.config)}`);
    else console.error(`weir start: ${(err as Error).message}`);
    return 1;
  }
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    node.close().then(
      (inTime) => {
        log.info({ drainedInTime: inTime }, 'stopped');
        flushLogger(log);
        setTimeout(() => process.exit(0), 20);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        flushLogger(log);
        setTimeout(() => process.exit(1), 20);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void node.reload());
  return undefined;
}

/** undefined when not given, null when invalid. */
function optionalPort(value: string | undefined): number | undefined | null {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : null;
}
