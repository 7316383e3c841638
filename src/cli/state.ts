/**
 * `weir export` and `weir apply`: the store's contents (users, teams and members, services,
 * routes and flows) as one YAML document, and back. Apply shows what it would change — and
 * changes nothing — unless `--yes` is given; with `--yes` it first checks that the gateway config
 * (the config file plus the new resources) loads, then applies, each change audited as "weir
 * apply". A running node picks the changes up within a second.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { CORE_SCHEMA, load } from 'js-yaml';
import { stringify } from 'yaml';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { loadComposed } from '../control/compose.js';
import { hmacSealName, resolveSecrets, SecretBox } from '../control/secrets.js';
import { RESOURCE_KINDS, TEAM_ROLES, WRITABLE_KINDS, type ConfigStore, type Resource, type ResourceKind } from '../store/config-store.js';
import { openConfigStore } from '../store/index.js';

const Kind = Type.Union(RESOURCE_KINDS.map((k) => Type.Literal(k)));
const Writable = Type.Union(WRITABLE_KINDS.map((k) => Type.Literal(k)));
const StateDocument = Type.Object(
  {
    weir: Type.Literal('state/v1'),
    users: Type.Array(Type.Object({ username: Type.String(), systemAdmin: Type.Boolean(), passwordHash: Type.String() }, { additionalProperties: false })),
    teams: Type.Array(
      Type.Object(
        {
          name: Type.String(),
          id: Type.Optional(Type.String({ description: 'Kept on restore: sealed secrets and HMAC credentials are bound to it.' })),
          description: Type.String(),
          members: Type.Array(Type.Object({ user: Type.String(), role: Type.Union(TEAM_ROLES.map((r) => Type.Literal(r))), writes: Type.Array(Writable) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    resources: Type.Array(Type.Object({ kind: Kind, name: Type.String(), team: Type.String(), spec: Type.Record(Type.String(), Type.Unknown()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
type State = Static<typeof StateDocument>;
const checkState = TypeCompiler.Compile(StateDocument);

/** Everything in the store, in a stable order (so exports of equal stores are equal text). */
export async function exportState(store: ConfigStore): Promise<State> {
  const users = await all((after) => store.listUsers({ after, limit: 500 }));
  const teams = await all((after) => store.listTeams({ after, limit: 500 }));
  const names = new Map(teams.map((t) => [t.id, t.name]));
  const resources = (await store.allResources()).map((r) => ({ kind: r.kind, name: r.name, team: names.get(r.teamId)!, spec: r.body }));
  return {
    weir: 'state/v1',
    users: await Promise.all(users.map(async (u) => ({ username: u.username, systemAdmin: u.systemAdmin, passwordHash: (await store.userByName(u.username))!.passwordHash }))),
    teams: await Promise.all(
      teams.map(async (t) => ({ name: t.name, id: t.id, description: t.description, members: (await store.membersOf(t.id)).map((m) => ({ user: m.username, role: m.role, writes: m.writes })) })),
    ),
    resources,
  };
}

async function all<T>(page: (after: string | null) => Promise<{ items: T[]; next: string | null }>): Promise<T[]> {
  const out: T[] = [];
  for (let after: string | null = null; ; ) {
    const result = await page(after);
    out.push(...result.items);
    if (result.next === null) return out;
    after = result.next;
  }
}

export interface Change {
  sign: '+' | '-' | '~';
  what: string;
  apply: (store: ConfigStore) => Promise<void>;
}

const ACTOR = 'weir apply';

/** What turns the store's state into `wanted`, in an order that respects references. */
export async function planChanges(store: ConfigStore, wanted: State): Promise<Change[]> {
  const current = await exportState(store);
  const changes: Change[] = [];
  const users = new Map(current.users.map((u) => [u.username, u]));
  for (const user of wanted.users) {
    const had = users.get(user.username);
    if (had === undefined) changes.push({ sign: '+', what: `user ${user.username}${user.systemAdmin ? ' (system admin)' : ''}`, apply: async (s) => void (await s.createUser(user, ACTOR)) });
    else if (had.passwordHash !== user.passwordHash || had.systemAdmin !== user.systemAdmin) {
      changes.push({ sign: '~', what: `user ${user.username}: password or admin flag differ (left as is: change users through the admin API)`, apply: async () => {} });
    }
  }
  const teams = new Map(current.teams.map((t) => [t.name, t]));
  const teamId = async (s: ConfigStore, name: string) => (await s.teamByName(name))!.id;
  const userId = async (s: ConfigStore, name: string) => (await s.userByName(name))!.id;
  for (const team of wanted.teams) {
    const had = teams.get(team.name);
    if (had?.id !== undefined && team.id !== undefined && had.id !== team.id) {
      changes.push({ sign: '~', what: `team ${team.name} exists here under another id: the file's sealed secrets and HMAC credentials of this team cannot be opened here (left as is)`, apply: async () => {} });
    }
    if (had === undefined) changes.push({ sign: '+', what: `team ${team.name}`, apply: async (s) => void (await s.createTeam({ name: team.name, description: team.description, ...(team.id === undefined ? {} : { id: team.id }) }, ACTOR)) });
    const members = new Map((had?.members ?? []).map((m) => [m.user, m]));
    for (const m of team.members) {
      const before = members.get(m.user);
      if (before !== undefined && before.role === m.role && sameSet(before.writes, m.writes)) continue;
      changes.push({
        sign: before === undefined ? '+' : '~',
        what: `member ${m.user} of team ${team.name}: ${m.role}${m.writes.length > 0 ? ` (writes ${m.writes.join(', ')})` : ''}`,
        apply: async (s) => s.setMembership({ teamId: await teamId(s, team.name), userId: await userId(s, m.user), role: m.role, writes: m.writes }, ACTOR),
      });
    }
    for (const m of had?.members ?? []) {
      if (!team.members.some((w) => w.user === m.user)) {
        changes.push({ sign: '-', what: `member ${m.user} of team ${team.name}`, apply: async (s) => void (await s.removeMembership(await teamId(s, team.name), await userId(s, m.user), ACTOR)) });
      }
    }
  }
  const key = (r: { kind: string; name: string }) => `${r.kind} ${r.name}`;
  const resources = new Map(current.resources.map((r) => [key(r), r]));
  // Services first so routes and flows find them; deletions last, routes and flows before services.
  const order: Record<ResourceKind, number> = { settings: -2, secret: -1, service: 0, route: 1, flow: 2, api: 3, release: 4, 'api-status': 5, consumer: 6, credential: 7, subscription: 8, check: 9 };
  for (const r of [...wanted.resources].sort((a, b) => order[a.kind] - order[b.kind])) {
    const had = resources.get(key(r));
    if (had !== undefined && had.team === r.team && JSON.stringify(had.spec) === JSON.stringify(r.spec)) continue;
    changes.push({
      sign: had === undefined ? '+' : '~',
      what: `${key(r)} (team ${r.team})${had !== undefined && had.team !== r.team ? ` moved from team ${had.team}` : ''}`,
      apply: async (s) => void (await s.writeResource({ kind: r.kind, name: r.name, teamId: await teamId(s, r.team), body: r.spec, expectedVersion: undefined }, ACTOR)),
    });
  }
  const gone = current.resources.filter((r) => !wanted.resources.some((w) => key(w) === key(r))).sort((a, b) => order[b.kind] - order[a.kind]);
  for (const r of gone) {
    changes.push({ sign: '-', what: key(r), apply: async (s) => void (await s.writeResource({ kind: r.kind, name: r.name, teamId: await teamId(s, r.team), body: null, expectedVersion: undefined }, ACTOR)) });
  }
  for (const team of current.teams) {
    if (!wanted.teams.some((t) => t.name === team.name)) changes.push({ sign: '-', what: `team ${team.name}`, apply: async (s) => void (await s.deleteTeam(await teamId(s, team.name), ACTOR)) });
  }
  return changes;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/**
 * Whether the file's sealed values (secrets, HMAC credentials) open with the key this node would
 * use — bound to their team's id, which the file carries (older exports without ids are not
 * checked). Never creates a key.
 */
function sealedProblems(wanted: State, dataDir: string | undefined): string[] {
  const ids = new Map(wanted.teams.map((t) => [t.name, t.id]));
  const sealed = wanted.resources.filter((r) => (r.kind === 'secret' || (r.kind === 'credential' && r.spec['type'] === 'hmac')) && ids.get(r.team) !== undefined);
  if (sealed.length === 0) return [];
  const box = SecretBox.existing(dataDir);
  if (box === undefined) return [`${sealed.length} sealed value(s), and this node has no secret key yet`];
  const resources = wanted.resources.filter((r) => ids.get(r.team) !== undefined).map((r) => ({ ...resourceOf(r), teamId: ids.get(r.team)! }));
  const problems = resolveSecrets(resources, box).problems;
  for (const r of sealed.filter((s) => s.kind === 'credential')) {
    try {
      box.open({ sealed: String(r.spec['sealed']), hint: '' }, ids.get(r.team)!, hmacSealName(r.name));
    } catch {
      problems.push(`HMAC credential "${r.name}" (team ${r.team}) cannot be opened with this node's key`);
    }
  }
  return problems;
}

/** The resources `wanted` describes, as the config composer takes them. */
function resourcesOf(wanted: State): Resource[] {
  return wanted.resources.map(resourceOf);
}

function resourceOf(r: State['resources'][number]): Resource {
  return { kind: r.kind, name: r.name, teamId: r.team, version: 1, body: r.spec, createdAt: 0, updatedAt: 0, updatedBy: '' };
}

const OPTIONS = {
  data: { type: 'string', default: '.weir' },
  store: { type: 'string', default: process.env['WEIR_STORE'] },
  'store-schema': { type: 'string', default: process.env['WEIR_STORE_SCHEMA'] },
  config: { type: 'string', short: 'c', default: 'weir.yaml' },
  output: { type: 'string', short: 'o' },
  yes: { type: 'boolean', default: false },
} as const;

function argsOf(command: string, args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`weir ${command}: ${(err as Error).message}`);
    return null;
  }
}

/** `weir export [--data DIR | --store URL] [-o FILE]` */
export async function exportCommand(args: string[]): Promise<number> {
  const parsed = argsOf('export', args);
  if (parsed === null) return 2;
  const { values } = parsed;
  const store = await openConfigStore({ dataDir: values.data, storeUrl: values.store, schema: values['store-schema'] });
  try {
    const text = `# Weir state (users with password hashes: keep this file private)\n${stringify(await exportState(store), { lineWidth: 0 })}`;
    if (values.output === undefined) process.stdout.write(text);
    else await writeFile(values.output, text, { mode: 0o600 });
    return 0;
  } finally {
    await store.close();
  }
}

/** `weir apply FILE [--data DIR | --store URL] [--config FILE] [--yes]` */
export async function applyCommand(args: string[]): Promise<number> {
  const parsed = argsOf('apply', args);
  if (parsed === null) return 2;
  const { values, positionals } = parsed;
  const file = positionals[0];
  if (file === undefined) {
    console.error('weir apply: name the state file, e.g. weir apply state.yaml (add --yes to change anything)');
    return 2;
  }
  let wanted: unknown;
  try {
    wanted = load(await readFile(file, 'utf8'), { schema: CORE_SCHEMA });
  } catch (err) {
    console.error(`weir apply: cannot read ${file}: ${(err as Error).message}`);
    return 1;
  }
  if (!checkState.Check(wanted)) {
    for (const e of [...checkState.Errors(wanted)].slice(0, 10)) console.error(`${file}: ${e.path || '/'}: ${e.message}`);
    return 1;
  }
  const fileText = await readFile(values.config, 'utf8').catch(() => '');
  const composed = loadComposed(fileText || 'services: {}\nroutes: []\n', resourcesOf(wanted), `${values.config} + ${file}`);
  if (!composed.result.ok) {
    console.error(`weir apply: with ${file} the gateway config would not load; nothing was changed:`);
    for (const issue of composed.result.issues) console.error(`  ${issue.path}: ${issue.message}`);
    return 1;
  }
  const unopenable = sealedProblems(wanted, values.store === undefined ? values.data : undefined);
  if (unopenable.length > 0) {
    console.error(`weir apply: ${file} holds sealed values this node could not open; nothing was changed:`);
    for (const problem of unopenable) console.error(`  ${problem}`);
    console.error('  (a restore needs the key they were sealed with: WEIR_SECRET_KEY, WEIR_SECRET_KEY_FILE, or the old data folder\'s secret.key)');
    return 1;
  }
  const store = await openConfigStore({ dataDir: values.data, storeUrl: values.store, schema: values['store-schema'] });
  try {
    const changes = await planChanges(store, wanted);
    if (changes.length === 0) {
      console.log('no changes');
      return 0;
    }
    for (const c of changes) console.log(`${c.sign} ${c.what}`);
    if (!values.yes) {
      console.log(`\n${changes.length} change${changes.length === 1 ? '' : 's'} not applied (dry run): run again with --yes to apply`);
      return 0;
    }
    for (const c of changes) await c.apply(store);
    console.log(`\napplied ${changes.length} change${changes.length === 1 ? '' : 's'}`);
    return 0;
  } finally {
    await store.close();
  }
}
