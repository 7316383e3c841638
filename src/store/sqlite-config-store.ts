/**
 * ConfigStore in the node's SQLite file. Each resource write and its audit entry run in one
 * IMMEDIATE transaction (the write lock taken first), so a version check and the write it guards
 * cannot interleave with another process's.
 */
import { randomUUID } from 'node:crypto';
import { openDatabase, type SqliteDatabase } from './sqlite.js';
import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import {
  AlreadyExistsError,
  VersionConflictError,
  type AccessToken,
  type AuditEntry,
  type ConfigStore,
  type Membership,
  type Page,
  type PageQuery,
  type Resource,
  type ResourceKind,
  type ResourceWrite,
  type Session,
  type Team,
  type User,
  type UserWithSecret,
} from './config-store.js';

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  system_admin: number;
  created_at: number;
}
interface ResourceRow {
  kind: ResourceKind;
  name: string;
  team_id: string;
  version: number;
  body: string;
  created_at: number;
  updated_at: number;
  updated_by: string;
}
interface TokenRow {
  id: string;
  user_id: string;
  name: string;
  prefix: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}
interface AuditRow {
  id: number;
  at: number;
  actor: string;
  team_id: string | null;
  action: AuditEntry['action'];
  kind: string;
  name: string;
  before: string | null;
  after: string | null;
}

const user = (row: UserRow): User => ({ id: row.id, username: row.username, systemAdmin: row.system_admin === 1, createdAt: row.created_at });
const resource = (row: ResourceRow): Resource => ({
  kind: row.kind,
  name: row.name,
  teamId: row.team_id,
  version: row.version,
  body: JSON.parse(row.body) as Record<string, unknown>,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  updatedBy: row.updated_by,
});
const token = (row: TokenRow): AccessToken => ({
  id: row.id,
  userId: row.user_id,
  name: row.name,
  prefix: row.prefix,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastUsedAt: row.last_used_at,
});
const json = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));
const parsed = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

/** Keyset pagination: fetch one more than asked to know whether a next page exists. */
function paged<T>(rows: T[], limit: number, cursorOf: (row: T) => string): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  return { items, next: more ? cursorOf(items[items.length - 1]!) : null };
}

/** `IN (…)` filter text and values for an optional team list (null/undefined: no filter). */
function teamFilter(teams: readonly string[] | null | undefined, column: string): { sql: string; values: string[] } {
  if (teams === null || teams === undefined) return { sql: '', values: [] };
  if (teams.length === 0) return { sql: ' AND 0', values: [] };
  return { sql: ` AND ${column} IN (${teams.map(() => '?').join(', ')})`, values: [...teams] };
}

export class SqliteConfigStore implements ConfigStore {
  private readonly db: SqliteDatabase;

  constructor(dataDir: string) {
    this.db = openDatabase(dataDir, SQLITE_MIGRATIONS);
  }

  private audit(entry: Omit<AuditEntry, 'id' | 'at'>): void {
    this.db
      .prepare('INSERT INTO audit_log (at, actor, team_id, action, kind, name, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(Date.now(), entry.actor, entry.teamId, entry.action, entry.kind, entry.name, json(entry.before), json(entry.after));
  }

  async countUsers(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  async createUser(input: { username: string; passwordHash: string; systemAdmin: boolean }, actor: string): Promise<User> {
    const row: UserRow = { id: randomUUID(), username: input.username, password_hash: input.passwordHash, system_admin: input.systemAdmin ? 1 : 0, created_at: Date.now() };
    return this.db
      .transaction(() => {
        if (this.db.prepare('SELECT 1 FROM users WHERE username = ?').get(input.username) !== undefined) throw new AlreadyExistsError(`user "${input.username}" exists`);
        this.db.prepare('INSERT INTO users (id, username, password_hash, system_admin, created_at) VALUES (@id, @username, @password_hash, @system_admin, @created_at)').run(row);
        this.audit({ actor, teamId: null, action: 'create', kind: 'user', name: input.username, before: null, after: { username: input.username, systemAdmin: input.systemAdmin } });
        return user(row);
      })
      .immediate();
  }

  async userByName(username: string): Promise<UserWithSecret | undefined> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return row === undefined ? undefined : { ...user(row), passwordHash: row.password_hash };
  }

  async userById(id: string): Promise<User | undefined> {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row === undefined ? undefined : user(row);
  }

  async listUsers(page: PageQuery): Promise<Page<User>> {
    const rows = this.db.prepare('SELECT * FROM users WHERE username > ? ORDER BY username LIMIT ?').all(page.after ?? '', page.limit + 1) as UserRow[];
    const result = paged(rows, page.limit, (r) => r.username);
    return { items: result.items.map(user), next: result.next };
  }

  async createSession(tokenHash: string, session: Session): Promise<void> {
    this.db.prepare('INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES (?, ?, ?, ?)').run(tokenHash, session.userId, session.csrf, session.expiresAt);
  }

  async sessionByHash(tokenHash: string, now: number): Promise<Session | undefined> {
    const row = this.db.prepare('SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = ? AND expires_at > ?').get(tokenHash, now) as
      | { user_id: string; csrf: string; expires_at: number }
      | undefined;
    return row === undefined ? undefined : { userId: row.user_id, csrf: row.csrf, expiresAt: row.expires_at };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(tokenHash);
  }

  async createToken(t: AccessToken & { tokenHash: string }): Promise<void> {
    this.db
      .prepare('INSERT INTO access_tokens (id, user_id, name, prefix, token_hash, created_at, expires_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)')
      .run(t.id, t.userId, t.name, t.prefix, t.tokenHash, t.createdAt, t.expiresAt);
  }

  async useToken(tokenHash: string, now: number): Promise<AccessToken | undefined> {
    const row = this.db.prepare('SELECT * FROM access_tokens WHERE token_hash = ? AND (expires_at IS NULL OR expires_at > ?)').get(tokenHash, now) as TokenRow | undefined;
    if (row === undefined) return undefined;
    this.db.prepare('UPDATE access_tokens SET last_used_at = ? WHERE id = ?').run(now, row.id);
    return token({ ...row, last_used_at: now });
  }

  async listTokens(userId: string): Promise<AccessToken[]> {
    return (this.db.prepare('SELECT * FROM access_tokens WHERE user_id = ? ORDER BY created_at').all(userId) as TokenRow[]).map(token);
  }

  async deleteToken(userId: string, id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM access_tokens WHERE user_id = ? AND id = ?').run(userId, id).changes === 1;
  }

  async createTeam(input: { name: string; description: string }, actor: string): Promise<Team> {
    const team: Team = { id: randomUUID(), name: input.name, description: input.description, createdAt: Date.now() };
    return this.db
      .transaction(() => {
        if (this.db.prepare('SELECT 1 FROM teams WHERE name = ?').get(input.name) !== undefined) throw new AlreadyExistsError(`team "${input.name}" exists`);
        this.db.prepare('INSERT INTO teams (id, name, description, created_at) VALUES (@id, @name, @description, @createdAt)').run(team);
        this.audit({ actor, teamId: team.id, action: 'create', kind: 'team', name: team.name, before: null, after: { name: team.name, description: team.description } });
        return team;
      })
      .immediate();
  }

  async teamByName(name: string): Promise<Team | undefined> {
    return this.db.prepare('SELECT id, name, description, created_at AS createdAt FROM teams WHERE name = ?').get(name) as Team | undefined;
  }

  async teamById(id: string): Promise<Team | undefined> {
    return this.db.prepare('SELECT id, name, description, created_at AS createdAt FROM teams WHERE id = ?').get(id) as Team | undefined;
  }

  async listTeams(page: PageQuery, only?: readonly string[] | null): Promise<Page<Team>> {
    const filter = teamFilter(only, 'id');
    const rows = this.db
      .prepare(`SELECT id, name, description, created_at AS createdAt FROM teams WHERE name > ?${filter.sql} ORDER BY name LIMIT ?`)
      .all(page.after ?? '', ...filter.values, page.limit + 1) as Team[];
    return paged(rows, page.limit, (t) => t.name);
  }

  async deleteTeam(id: string, actor: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const team = this.db.prepare('SELECT name, description FROM teams WHERE id = ?').get(id) as { name: string; description: string } | undefined;
        if (team === undefined) return false;
        if (this.db.prepare('SELECT 1 FROM resources WHERE team_id = ? LIMIT 1').get(id) !== undefined) return false;
        this.db.prepare('DELETE FROM teams WHERE id = ?').run(id);
        this.audit({ actor, teamId: id, action: 'delete', kind: 'team', name: team.name, before: team, after: null });
        return true;
      })
      .immediate();
  }

  async setMembership(m: Membership, actor: string): Promise<void> {
    this.db
      .transaction(() => {
        const before = this.db.prepare('SELECT role, writes FROM memberships WHERE team_id = ? AND user_id = ?').get(m.teamId, m.userId) as
          | { role: string; writes: string }
          | undefined;
        this.db
          .prepare('INSERT INTO memberships (team_id, user_id, role, writes) VALUES (?, ?, ?, ?) ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role, writes = excluded.writes')
          .run(m.teamId, m.userId, m.role, JSON.stringify(m.writes));
        const name = (this.db.prepare('SELECT username FROM users WHERE id = ?').get(m.userId) as { username: string }).username;
        this.audit({
          actor,
          teamId: m.teamId,
          action: before === undefined ? 'create' : 'update',
          kind: 'membership',
          name,
          before: before === undefined ? null : { role: before.role, writes: JSON.parse(before.writes) as unknown },
          after: { role: m.role, writes: m.writes },
        });
      })
      .immediate();
  }

  async removeMembership(teamId: string, userId: string, actor: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const row = this.db
          .prepare('SELECT m.role, m.writes, u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? AND m.user_id = ?')
          .get(teamId, userId) as { role: string; writes: string; username: string } | undefined;
        if (row === undefined) return false;
        this.db.prepare('DELETE FROM memberships WHERE team_id = ? AND user_id = ?').run(teamId, userId);
        this.audit({ actor, teamId, action: 'delete', kind: 'membership', name: row.username, before: { role: row.role, writes: JSON.parse(row.writes) as unknown }, after: null });
        return true;
      })
      .immediate();
  }

  async membershipsOf(userId: string): Promise<Membership[]> {
    const rows = this.db.prepare('SELECT team_id, user_id, role, writes FROM memberships WHERE user_id = ?').all(userId) as Array<{ team_id: string; user_id: string; role: Membership['role']; writes: string }>;
    return rows.map((r) => ({ teamId: r.team_id, userId: r.user_id, role: r.role, writes: JSON.parse(r.writes) as ResourceKind[] }));
  }

  async membersOf(teamId: string): Promise<Array<Membership & { username: string }>> {
    const rows = this.db
      .prepare('SELECT m.team_id, m.user_id, m.role, m.writes, u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.username')
      .all(teamId) as Array<{ team_id: string; user_id: string; role: Membership['role']; writes: string; username: string }>;
    return rows.map((r) => ({ teamId: r.team_id, userId: r.user_id, role: r.role, writes: JSON.parse(r.writes) as ResourceKind[], username: r.username }));
  }

  async listResources(kind: ResourceKind, page: PageQuery, teams?: readonly string[] | null): Promise<Page<Resource>> {
    const filter = teamFilter(teams, 'team_id');
    const rows = this.db
      .prepare(`SELECT * FROM resources WHERE kind = ? AND name > ?${filter.sql} ORDER BY name LIMIT ?`)
      .all(kind, page.after ?? '', ...filter.values, page.limit + 1) as ResourceRow[];
    const result = paged(rows, page.limit, (r) => r.name);
    return { items: result.items.map(resource), next: result.next };
  }

  async getResource(kind: ResourceKind, name: string): Promise<Resource | undefined> {
    const row = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(kind, name) as ResourceRow | undefined;
    return row === undefined ? undefined : resource(row);
  }

  async allResources(): Promise<Resource[]> {
    return (this.db.prepare('SELECT * FROM resources ORDER BY kind, name').all() as ResourceRow[]).map(resource);
  }

  async writeResource(write: ResourceWrite, actor: string): Promise<Resource | null> {
    return this.db
      .transaction((): Resource | null => {
        const row = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(write.kind, write.name) as ResourceRow | undefined;
        const current = row === undefined ? null : row.version;
        if (write.expectedVersion === null && current !== null) throw new AlreadyExistsError(`${write.kind} "${write.name}" exists`);
        if (typeof write.expectedVersion === 'number' && write.expectedVersion !== current) throw new VersionConflictError(current);
        if (write.body === null && row === undefined) throw new VersionConflictError(null);
        const now = Date.now();
        const before = row === undefined ? null : (JSON.parse(row.body) as unknown);
        let result: Resource | null = null;
        if (write.body === null) {
          this.db.prepare('DELETE FROM resources WHERE kind = ? AND name = ?').run(write.kind, write.name);
        } else {
          const next: ResourceRow = {
            kind: write.kind,
            name: write.name,
            team_id: write.teamId,
            version: (current ?? 0) + 1,
            body: JSON.stringify(write.body),
            created_at: row?.created_at ?? now,
            updated_at: now,
            updated_by: actor,
          };
          this.db
            .prepare(
              `INSERT INTO resources (kind, name, team_id, version, body, created_at, updated_at, updated_by)
               VALUES (@kind, @name, @team_id, @version, @body, @created_at, @updated_at, @updated_by)
               ON CONFLICT (kind, name) DO UPDATE SET team_id = excluded.team_id, version = excluded.version, body = excluded.body,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
            )
            .run(next);
          result = resource(next);
        }
        this.db.prepare('UPDATE config_revision SET revision = revision + 1 WHERE id = 1').run();
        const action = write.body === null ? 'delete' : row === undefined ? 'create' : 'update';
        this.audit({ actor, teamId: write.teamId, action, kind: write.kind, name: write.name, before, after: write.body });
        return result;
      })
      .immediate();
  }

  async revision(): Promise<number> {
    return (this.db.prepare('SELECT revision FROM config_revision WHERE id = 1').get() as { revision: number }).revision;
  }

  async listAudit(page: PageQuery, filter: { teams?: readonly string[] | null; kind?: string }): Promise<Page<AuditEntry>> {
    const teams = teamFilter(filter.teams, 'team_id');
    const kind = filter.kind === undefined ? '' : ' AND kind = ?';
    const values: Array<string | number> = [page.after === undefined || page.after === null ? Number.MAX_SAFE_INTEGER : Number(page.after), ...teams.values];
    if (filter.kind !== undefined) values.push(filter.kind);
    const rows = this.db.prepare(`SELECT * FROM audit_log WHERE id < ?${teams.sql}${kind} ORDER BY id DESC LIMIT ?`).all(...values, page.limit + 1) as AuditRow[];
    const result = paged(rows, page.limit, (r) => String(r.id));
    return {
      items: result.items.map((r) => ({ id: r.id, at: r.at, actor: r.actor, teamId: r.team_id, action: r.action, kind: r.kind, name: r.name, before: parsed(r.before), after: parsed(r.after) })),
      next: result.next,
    };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
