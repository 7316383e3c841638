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
import { auditEntryOf, jsonOrNull, membershipOf, paged, planResourceWrite, resourceOf, tokenOf, userOf, type AuditRow, type MembershipRow, type ResourceRow, type TokenRow, type UserRow } from './rows.js';

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
      .run(Date.now(), entry.actor, entry.teamId, entry.action, entry.kind, entry.name, jsonOrNull(entry.before), jsonOrNull(entry.after));
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
        return userOf(row);
      })
      .immediate();
  }

  async userByName(username: string): Promise<UserWithSecret | undefined> {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as UserRow | undefined;
    return row === undefined ? undefined : { ...userOf(row), passwordHash: row.password_hash };
  }

  async userById(id: string): Promise<User | undefined> {
    const row = this.db.prepare('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return row === undefined ? undefined : userOf(row);
  }

  async listUsers(page: PageQuery): Promise<Page<User>> {
    const rows = this.db.prepare('SELECT * FROM users WHERE username > ? ORDER BY username LIMIT ?').all(page.after ?? '', page.limit + 1) as UserRow[];
    const result = paged(rows, page.limit, (r) => r.username);
    return { items: result.items.map(userOf), next: result.next };
  }

  async setPassword(userId: string, passwordHash: string, actor: string, keepSession?: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT username FROM users WHERE id = ?').get(userId) as { username: string } | undefined;
        if (row === undefined) return false;
        this.db.prepare('UPDATE users SET password_hash = ? WHERE id = ?').run(passwordHash, userId);
        this.db.prepare('DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?').run(userId, keepSession ?? '');
        this.audit({ actor, teamId: null, action: 'update', kind: 'user', name: row.username, before: { password: 'changed' }, after: { password: 'changed' } });
        return true;
      })
      .immediate();
  }

  async deleteUser(userId: string, actor: string): Promise<boolean> {
    return this.db
      .transaction(() => {
        const row = this.db.prepare('SELECT username, system_admin FROM users WHERE id = ?').get(userId) as { username: string; system_admin: number } | undefined;
        if (row === undefined) return false;
        this.db.prepare('DELETE FROM users WHERE id = ?').run(userId);
        this.audit({ actor, teamId: null, action: 'delete', kind: 'user', name: row.username, before: { username: row.username, systemAdmin: row.system_admin === 1 }, after: null });
        return true;
      })
      .immediate();
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
    return tokenOf({ ...row, last_used_at: now });
  }

  async listTokens(userId: string): Promise<AccessToken[]> {
    return (this.db.prepare('SELECT * FROM access_tokens WHERE user_id = ? ORDER BY created_at').all(userId) as TokenRow[]).map(tokenOf);
  }

  async deleteToken(userId: string, id: string): Promise<boolean> {
    return this.db.prepare('DELETE FROM access_tokens WHERE user_id = ? AND id = ?').run(userId, id).changes === 1;
  }

  async createTeam(input: { name: string; description: string; id?: string }, actor: string): Promise<Team> {
    const team: Team = { id: input.id ?? randomUUID(), name: input.name, description: input.description, createdAt: Date.now() };
    return this.db
      .transaction(() => {
        if (this.db.prepare('SELECT 1 FROM teams WHERE name = ? OR id = ?').get(input.name, team.id) !== undefined) throw new AlreadyExistsError(`team "${input.name}" (or its id) exists`);
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
    return (this.db.prepare('SELECT team_id, user_id, role, writes FROM memberships WHERE user_id = ?').all(userId) as MembershipRow[]).map(membershipOf);
  }

  async membersOf(teamId: string): Promise<Array<Membership & { username: string }>> {
    const rows = this.db
      .prepare('SELECT m.team_id, m.user_id, m.role, m.writes, u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = ? ORDER BY u.username')
      .all(teamId) as Array<MembershipRow & { username: string }>;
    return rows.map((r) => ({ ...membershipOf(r), username: r.username }));
  }

  async listResources(kind: ResourceKind, page: PageQuery, teams?: readonly string[] | null): Promise<Page<Resource>> {
    const filter = teamFilter(teams, 'team_id');
    const rows = this.db
      .prepare(`SELECT * FROM resources WHERE kind = ? AND name > ?${filter.sql} ORDER BY name LIMIT ?`)
      .all(kind, page.after ?? '', ...filter.values, page.limit + 1) as ResourceRow[];
    const result = paged(rows, page.limit, (r) => r.name);
    return { items: result.items.map(resourceOf), next: result.next };
  }

  async getResource(kind: ResourceKind, name: string): Promise<Resource | undefined> {
    const row = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(kind, name) as ResourceRow | undefined;
    return row === undefined ? undefined : resourceOf(row);
  }

  async allResources(): Promise<Resource[]> {
    return (this.db.prepare('SELECT * FROM resources ORDER BY kind, name').all() as ResourceRow[]).map(resourceOf);
  }

  async writeResource(write: ResourceWrite, actor: string): Promise<Resource | null> {
    return this.db
      .transaction((): Resource | null => {
        const row = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(write.kind, write.name) as ResourceRow | undefined;
        const { next, audit } = planResourceWrite(write, row, actor, Date.now());
        if (next === null) {
          this.db.prepare('DELETE FROM resources WHERE kind = ? AND name = ?').run(write.kind, write.name);
        } else {
          this.db
            .prepare(
              `INSERT INTO resources (kind, name, team_id, version, body, created_at, updated_at, updated_by)
               VALUES (@kind, @name, @team_id, @version, @body, @created_at, @updated_at, @updated_by)
               ON CONFLICT (kind, name) DO UPDATE SET team_id = excluded.team_id, version = excluded.version, body = excluded.body,
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
            )
            .run(next);
        }
        this.db.prepare('UPDATE config_revision SET revision = revision + 1 WHERE id = 1').run();
        this.audit(audit);
        return next === null ? null : resourceOf(next);
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
      items: result.items.map(auditEntryOf),
      next: result.next,
    };
  }

  async close(): Promise<void> {
    this.db.close();
  }
}
