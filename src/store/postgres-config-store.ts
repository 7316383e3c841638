/**
 * ConfigStore in PostgreSQL, shared by every node. Each write runs in one transaction with its
 * audit entry. A resource write first locks the resource's row (`SELECT … FOR UPDATE`): a second
 * writer of the same resource waits there and then reads the row as the first one committed it,
 * so its version check sees the new version; a create of a name nobody holds yet is an
 * `INSERT … ON CONFLICT DO NOTHING`, of which exactly one of two racing creators inserts. Every
 * resource write then bumps the one revision row (which also orders them) and sends
 * `NOTIFY weir_config, '<revision>'`, delivered when the transaction commits; `onRevision`
 * listens for it on a connection of its own.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
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
import { closePostgres, DEFAULT_SCHEMA, inTransaction, openPostgres, POSTGRES_MIGRATIONS } from './postgres.js';
import { auditEntryOf, jsonOrNull, membershipOf, paged, planResourceWrite, resourceOf, tokenOf, userOf, type AuditRow, type MembershipRow, type ResourceRow, type TokenRow, type UserRow } from './rows.js';

export interface PostgresConfigStoreOptions {
  /** The schema (default `weir`); created and migrated on open. */
  schema?: string;
  /** Connections in the pool (default 10). */
  max?: number;
}

/** The channel resource writes notify with the new revision as payload. */
export const REVISION_CHANNEL = 'weir_config';

/** Reconnect delays of a revision listener whose connection dropped: doubling up to the last. */
const RECONNECT_MS = { first: 100, max: 10_000 };

const TEAM_COLUMNS = 'id, name, description, created_at AS "createdAt"';

type Query = Pick<pg.PoolClient, 'query'>;

/** An optional team list as a parameter of `= ANY($n)`; null when there is no filter. */
const teamList = (teams: readonly string[] | null | undefined): string[] | null => (teams === null || teams === undefined ? null : [...teams]);

export class PostgresConfigStore implements ConfigStore {
  private readonly listeners = new Set<() => Promise<void>>();

  private constructor(
    private readonly pool: pg.Pool,
    private readonly url: string,
    private readonly schema: string,
  ) {}

  /** Opens a pool on `url` and migrates the schema before the store is used. */
  static async open(url: string, options: PostgresConfigStoreOptions = {}): Promise<PostgresConfigStore> {
    const pool = await openPostgres(url, { ...options, migrations: POSTGRES_MIGRATIONS });
    return new PostgresConfigStore(pool, url, options.schema ?? DEFAULT_SCHEMA);
  }

  /** Runs `work` in a transaction on one connection: committed when it returns, rolled back when it throws. */
  private transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, work);
  }

  private async audit(client: Query, entry: Omit<AuditEntry, 'id' | 'at'>): Promise<void> {
    await client.query('INSERT INTO audit_log (at, actor, team_id, action, kind, name, before, after) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [
      Date.now(),
      entry.actor,
      entry.teamId,
      entry.action,
      entry.kind,
      entry.name,
      jsonOrNull(entry.before),
      jsonOrNull(entry.after),
    ]);
  }

  async countUsers(): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*) AS n FROM users');
    return rows[0]!.n;
  }

  async createUser(input: { username: string; passwordHash: string; systemAdmin: boolean }, actor: string): Promise<User> {
    const row: UserRow = { id: randomUUID(), username: input.username, password_hash: input.passwordHash, system_admin: input.systemAdmin, created_at: Date.now() };
    return this.transaction(async (client) => {
      const inserted = await client.query(
        'INSERT INTO users (id, username, password_hash, system_admin, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (username) DO NOTHING',
        [row.id, row.username, row.password_hash, row.system_admin, row.created_at],
      );
      if (inserted.rowCount !== 1) throw new AlreadyExistsError(`user "${input.username}" exists`);
      await this.audit(client, { actor, teamId: null, action: 'create', kind: 'user', name: input.username, before: null, after: { username: input.username, systemAdmin: input.systemAdmin } });
      return userOf(row);
    });
  }

  async userByName(username: string): Promise<UserWithSecret | undefined> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username = $1', [username]);
    return rows[0] === undefined ? undefined : { ...userOf(rows[0]), passwordHash: rows[0].password_hash };
  }

  async userById(id: string): Promise<User | undefined> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
    return rows[0] === undefined ? undefined : userOf(rows[0]);
  }

  async listUsers(page: PageQuery): Promise<Page<User>> {
    const { rows } = await this.pool.query<UserRow>('SELECT * FROM users WHERE username > $1 ORDER BY username LIMIT $2', [page.after ?? '', page.limit + 1]);
    const result = paged(rows, page.limit, (r) => r.username);
    return { items: result.items.map(userOf), next: result.next };
  }

  async setPassword(userId: string, passwordHash: string, actor: string, keepSession?: string): Promise<boolean> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ username: string }>('UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING username', [passwordHash, userId]);
      if (rows[0] === undefined) return false;
      await client.query('DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2', [userId, keepSession ?? '']);
      await this.audit(client, { actor, teamId: null, action: 'update', kind: 'user', name: rows[0].username, before: { password: 'changed' }, after: { password: 'changed' } });
      return true;
    });
  }

  async deleteUser(userId: string, actor: string): Promise<boolean> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ username: string; system_admin: boolean }>('DELETE FROM users WHERE id = $1 RETURNING username, system_admin', [userId]);
      if (rows[0] === undefined) return false;
      await this.audit(client, { actor, teamId: null, action: 'delete', kind: 'user', name: rows[0].username, before: { username: rows[0].username, systemAdmin: rows[0].system_admin }, after: null });
      return true;
    });
  }

  async createSession(tokenHash: string, session: Session): Promise<void> {
    await this.pool.query('INSERT INTO sessions (token_hash, user_id, csrf, expires_at) VALUES ($1, $2, $3, $4)', [tokenHash, session.userId, session.csrf, session.expiresAt]);
  }

  async sessionByHash(tokenHash: string, now: number): Promise<Session | undefined> {
    const { rows } = await this.pool.query<{ user_id: string; csrf: string; expires_at: number }>(
      'SELECT user_id, csrf, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > $2',
      [tokenHash, now],
    );
    return rows[0] === undefined ? undefined : { userId: rows[0].user_id, csrf: rows[0].csrf, expiresAt: rows[0].expires_at };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE token_hash = $1', [tokenHash]);
  }

  async createToken(t: AccessToken & { tokenHash: string }): Promise<void> {
    await this.pool.query(
      'INSERT INTO access_tokens (id, user_id, name, prefix, token_hash, created_at, expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)',
      [t.id, t.userId, t.name, t.prefix, t.tokenHash, t.createdAt, t.expiresAt],
    );
  }

  async useToken(tokenHash: string, now: number): Promise<AccessToken | undefined> {
    const { rows } = await this.pool.query<TokenRow>(
      'UPDATE access_tokens SET last_used_at = $2 WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2) RETURNING *',
      [tokenHash, now],
    );
    return rows[0] === undefined ? undefined : tokenOf(rows[0]);
  }

  async listTokens(userId: string): Promise<AccessToken[]> {
    const { rows } = await this.pool.query<TokenRow>('SELECT * FROM access_tokens WHERE user_id = $1 ORDER BY created_at, id', [userId]);
    return rows.map(tokenOf);
  }

  async deleteToken(userId: string, id: string): Promise<boolean> {
    return (await this.pool.query('DELETE FROM access_tokens WHERE user_id = $1 AND id = $2', [userId, id])).rowCount === 1;
  }

  async createTeam(input: { name: string; description: string; id?: string }, actor: string): Promise<Team> {
    const team: Team = { id: input.id ?? randomUUID(), name: input.name, description: input.description, createdAt: Date.now() };
    return this.transaction(async (client) => {
      const inserted = await client.query('INSERT INTO teams (id, name, description, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [
        team.id,
        team.name,
        team.description,
        team.createdAt,
      ]);
      if (inserted.rowCount !== 1) throw new AlreadyExistsError(`team "${input.name}" (or its id) exists`);
      await this.audit(client, { actor, teamId: team.id, action: 'create', kind: 'team', name: team.name, before: null, after: { name: team.name, description: team.description } });
      return team;
    });
  }

  async teamByName(name: string): Promise<Team | undefined> {
    return (await this.pool.query<Team>(`SELECT ${TEAM_COLUMNS} FROM teams WHERE name = $1`, [name])).rows[0];
  }

  async teamById(id: string): Promise<Team | undefined> {
    return (await this.pool.query<Team>(`SELECT ${TEAM_COLUMNS} FROM teams WHERE id = $1`, [id])).rows[0];
  }

  async listTeams(page: PageQuery, only?: readonly string[] | null): Promise<Page<Team>> {
    const { rows } = await this.pool.query<Team>(
      `SELECT ${TEAM_COLUMNS} FROM teams WHERE name > $1 AND ($2::text[] IS NULL OR id = ANY($2)) ORDER BY name LIMIT $3`,
      [page.after ?? '', teamList(only), page.limit + 1],
    );
    return paged(rows, page.limit, (t) => t.name);
  }

  async deleteTeam(id: string, actor: string): Promise<boolean> {
    return this.transaction(async (client) => {
      // The lock makes a resource being created for the team wait (its foreign key check), or
      // wait for it: either the check below sees the resource, or the resource's insert fails.
      const team = (await client.query<{ name: string; description: string }>('SELECT name, description FROM teams WHERE id = $1 FOR UPDATE', [id])).rows[0];
      if (team === undefined) return false;
      if ((await client.query('SELECT 1 FROM resources WHERE team_id = $1 LIMIT 1', [id])).rowCount !== 0) return false;
      await client.query('DELETE FROM teams WHERE id = $1', [id]);
      await this.audit(client, { actor, teamId: id, action: 'delete', kind: 'team', name: team.name, before: team, after: null });
      return true;
    });
  }

  async setMembership(m: Membership, actor: string): Promise<void> {
    await this.transaction(async (client) => {
      const writes = JSON.stringify(m.writes);
      // Insert, or else lock and update the row that is there: two racing first grants log one
      // create and one update, as they would one after the other.
      let before: { role: string; writes: string } | null | undefined;
      while (before === undefined) {
        const inserted = await client.query('INSERT INTO memberships (team_id, user_id, role, writes) VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, user_id) DO NOTHING', [
          m.teamId,
          m.userId,
          m.role,
          writes,
        ]);
        if (inserted.rowCount === 1) {
          before = null;
          break;
        }
        const { rows } = await client.query<{ role: string; writes: string }>(
          'SELECT role, writes FROM memberships WHERE team_id = $1 AND user_id = $2 FOR UPDATE',
          [m.teamId, m.userId],
        );
        before = rows[0]; // undefined: removed in between, insert again
      }
      if (before !== null) await client.query('UPDATE memberships SET role = $3, writes = $4 WHERE team_id = $1 AND user_id = $2', [m.teamId, m.userId, m.role, writes]);
      const name = (await client.query<{ username: string }>('SELECT username FROM users WHERE id = $1', [m.userId])).rows[0]!.username;
      await this.audit(client, {
        actor,
        teamId: m.teamId,
        action: before === null ? 'create' : 'update',
        kind: 'membership',
        name,
        before: before === null ? null : { role: before.role, writes: JSON.parse(before.writes) as unknown },
        after: { role: m.role, writes: m.writes },
      });
    });
  }

  async removeMembership(teamId: string, userId: string, actor: string): Promise<boolean> {
    return this.transaction(async (client) => {
      const { rows } = await client.query<{ role: string; writes: string; username: string }>(
        `WITH gone AS (DELETE FROM memberships WHERE team_id = $1 AND user_id = $2 RETURNING role, writes, user_id)
         SELECT gone.role, gone.writes, u.username FROM gone JOIN users u ON u.id = gone.user_id`,
        [teamId, userId],
      );
      const row = rows[0];
      if (row === undefined) return false;
      await this.audit(client, { actor, teamId, action: 'delete', kind: 'membership', name: row.username, before: { role: row.role, writes: JSON.parse(row.writes) as unknown }, after: null });
      return true;
    });
  }

  async membershipsOf(userId: string): Promise<Membership[]> {
    const { rows } = await this.pool.query<MembershipRow>('SELECT team_id, user_id, role, writes FROM memberships WHERE user_id = $1', [userId]);
    return rows.map(membershipOf);
  }

  async membersOf(teamId: string): Promise<Array<Membership & { username: string }>> {
    const { rows } = await this.pool.query<MembershipRow & { username: string }>(
      'SELECT m.team_id, m.user_id, m.role, m.writes, u.username FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1 ORDER BY u.username',
      [teamId],
    );
    return rows.map((r) => ({ ...membershipOf(r), username: r.username }));
  }

  async listResources(kind: ResourceKind, page: PageQuery, teams?: readonly string[] | null): Promise<Page<Resource>> {
    const { rows } = await this.pool.query<ResourceRow>(
      'SELECT * FROM resources WHERE kind = $1 AND name > $2 AND ($3::text[] IS NULL OR team_id = ANY($3)) ORDER BY name LIMIT $4',
      [kind, page.after ?? '', teamList(teams), page.limit + 1],
    );
    const result = paged(rows, page.limit, (r) => r.name);
    return { items: result.items.map(resourceOf), next: result.next };
  }

  async getResource(kind: ResourceKind, name: string): Promise<Resource | undefined> {
    const { rows } = await this.pool.query<ResourceRow>('SELECT * FROM resources WHERE kind = $1 AND name = $2', [kind, name]);
    return rows[0] === undefined ? undefined : resourceOf(rows[0]);
  }

  async allResources(): Promise<Resource[]> {
    return (await this.pool.query<ResourceRow>('SELECT * FROM resources ORDER BY kind, name')).rows.map(resourceOf);
  }

  async writeResource(write: ResourceWrite, actor: string): Promise<Resource | null> {
    return this.transaction(async (client) => {
      const now = Date.now();
      let plan: ReturnType<typeof planResourceWrite>;
      for (;;) {
        // Locked until commit; a writer that got here first is waited for, and its row (or its
        // deletion) is what this one then sees.
        const row = (await client.query<ResourceRow>('SELECT * FROM resources WHERE kind = $1 AND name = $2 FOR UPDATE', [write.kind, write.name])).rows[0];
        plan = planResourceWrite(write, row, actor, now);
        const next = plan.next;
        if (next === null) {
          await client.query('DELETE FROM resources WHERE kind = $1 AND name = $2', [write.kind, write.name]);
          break;
        }
        if (row !== undefined) {
          await client.query('UPDATE resources SET team_id = $3, version = $4, body = $5, updated_at = $6, updated_by = $7 WHERE kind = $1 AND name = $2', [
            next.kind,
            next.name,
            next.team_id,
            next.version,
            next.body,
            next.updated_at,
            next.updated_by,
          ]);
          break;
        }
        // Nothing to lock yet: of creators racing for the name, the insert of exactly one lands
        // (the others wait for it to commit, then insert nothing) and the others go round again
        // to see it, locked, as any later writer would.
        const inserted = await client.query(
          `INSERT INTO resources (kind, name, team_id, version, body, created_at, updated_at, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (kind, name) DO NOTHING`,
          [next.kind, next.name, next.team_id, next.version, next.body, next.created_at, next.updated_at, next.updated_by],
        );
        if (inserted.rowCount === 1) break;
      }
      const revision = (await client.query<{ revision: number }>('UPDATE config_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision')).rows[0]!.revision;
      await this.audit(client, plan.audit);
      await client.query('SELECT pg_notify($1, $2)', [REVISION_CHANNEL, String(revision)]);
      return plan.next === null ? null : resourceOf(plan.next);
    });
  }

  async revision(): Promise<number> {
    return (await this.pool.query<{ revision: number }>('SELECT revision FROM config_revision WHERE id = 1')).rows[0]!.revision;
  }

  async listAudit(page: PageQuery, filter: { teams?: readonly string[] | null; kind?: string }): Promise<Page<AuditEntry>> {
    const before = auditCursor(page.after);
    if (before === undefined) return { items: [], next: null };
    const { rows } = await this.pool.query<AuditRow>(
      `SELECT * FROM audit_log WHERE id < $1 AND ($2::text[] IS NULL OR team_id = ANY($2)) AND ($3::text IS NULL OR kind = $3)
       ORDER BY id DESC LIMIT $4`,
      [before, teamList(filter.teams), filter.kind ?? null, page.limit + 1],
    );
    const result = paged(rows, page.limit, (r) => String(r.id));
    return { items: result.items.map(auditEntryOf), next: result.next };
  }

  /**
   * Calls `listener` with the new revision whenever a resource write through any store on this
   * schema commits. It listens on a connection of its own (not one of the pool's), and when
   * that drops, connects again with growing pauses; a change made meanwhile is reported once it
   * is back. The revision is read from this schema's table whenever a notification arrives (the
   * channel is shared by every schema of the database), and the listener is called only when it
   * moved (a listener that throws is a bug: its error is left unhandled). Resolves once
   * listening, to the function that stops it; rejects when the first connection fails.
   */
  async onRevision(listener: (revision: number) => void): Promise<() => Promise<void>> {
    let stopped = false;
    let client: pg.Client | undefined;
    let timer: NodeJS.Timeout | undefined;
    let delay = RECONNECT_MS.first;
    let last: number | undefined;
    let checking: Promise<void> | undefined;
    let again = false;

    const read = async (from: pg.Client): Promise<number> =>
      Number((await from.query<{ revision: string }>(`SELECT revision FROM ${this.schema}.config_revision WHERE id = 1`)).rows[0]!.revision);

    // One read at a time; notifications that arrive during it cause one more read after it.
    const check = (from: pg.Client): void => {
      if (last === undefined) return; // the first connection's own read, still to come, counts it
      if (checking !== undefined) {
        again = true;
        return;
      }
      checking = (async () => {
        do {
          again = false;
          let revision: number;
          try {
            revision = await read(from);
          } catch {
            await from.end().catch(() => {}); // the connection broke: its 'end' reconnects
            return;
          }
          if (stopped || revision === last) continue;
          last = revision;
          listener(revision);
        } while (again && !stopped);
      })().finally(() => {
        checking = undefined;
      });
    };

    const connect = async (): Promise<void> => {
      // TCP keepalive: a connection the network silently lost ends (and is replaced) instead of
      // waiting forever for notifications.
      const next = new pg.Client({ connectionString: this.url, application_name: `weir listen ${this.schema}`, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
      client = next;
      let dropped = false;
      const drop = (): void => {
        if (dropped) return;
        dropped = true;
        next.end().catch(() => {});
        if (stopped || client !== next) return;
        client = undefined;
        timer = setTimeout(() => {
          timer = undefined;
          connect().catch(() => {}); // a failed attempt has scheduled the next through its drop
        }, delay);
        delay = Math.min(delay * 2, RECONNECT_MS.max);
      };
      next.on('error', drop);
      next.on('end', drop);
      next.on('notification', (message) => {
        if (message.channel === REVISION_CHANNEL) check(next);
      });
      try {
        await next.connect();
        await next.query(`LISTEN ${REVISION_CHANNEL}`);
        // Listening from here on. The first time, this is where changes are counted from; after
        // a reconnect, a change made while the connection was down is reported now.
        if (last === undefined) last = await read(next);
        else check(next);
      } catch (err) {
        drop();
        throw err;
      }
      delay = RECONNECT_MS.first;
    };

    const stop = async (): Promise<void> => {
      if (stopped) return;
      stopped = true;
      this.listeners.delete(stop);
      if (timer !== undefined) clearTimeout(timer);
      const open = client;
      client = undefined;
      await checking?.catch(() => {});
      await open?.end().catch(() => {});
    };
    try {
      await connect();
    } catch (err) {
      await stop(); // the first connection must work: no retrying behind the caller's back
      throw err;
    }
    this.listeners.add(stop);
    return stop;
  }

  async close(): Promise<void> {
    await Promise.all([...this.listeners].map((stop) => stop()));
    await closePostgres(this.pool);
  }
}

/**
 * The id an audit page resumes below: as SQLite compares its cursor (a number; text that is not
 * one matches nothing), undefined then.
 */
function auditCursor(after: string | null | undefined): number | undefined {
  if (after === undefined || after === null) return Number.MAX_SAFE_INTEGER;
  const id = Number(after);
  if (Number.isNaN(id)) return undefined;
  // Ids are integers: below 4.5 is below 5.
  return Math.max(Math.min(Math.ceil(id), Number.MAX_SAFE_INTEGER), Number.MIN_SAFE_INTEGER);
}
