/**
 * The control plane's store: users, sessions and access tokens, teams and their members, the
 * gateway resources teams own (services, routes, flows), and the audit log of every change.
 * One interface, implemented over SQLite (one node) and PostgreSQL (many nodes); every method is
 * async for the latter. Writes of resources carry the version the writer last read (ETag), and
 * each write and its audit entry commit together or not at all.
 */

export type TeamRole = 'admin' | 'member' | 'viewer';
export const TEAM_ROLES: readonly TeamRole[] = ['admin', 'member', 'viewer'];

/**
 * consumer: an application of a team that calls APIs; credential: one of its API keys (hashed,
 * `<id>`); subscription: a consumer's access to an API (`<consumer>@<api>`, with its state);
 * settings: gateway-wide settings (`global:` of weir.yaml, the live part), one resource named
 * `global` owned by the system team;
 * secret: a sealed value resources refer to as `${secret:name}` (src/control/secrets.ts);
 * service, route, flow: as weir.yaml says them; api: routes and flows under a versioned base path;
 * release: an immutable snapshot of an api (`<api>#<n>`); api-status: an api's lifecycle state;
 * check: a synthetic check (src/checks/), run on a schedule against the team's routes and flows.
 */
export type ResourceKind = 'service' | 'route' | 'flow' | 'api' | 'release' | 'api-status' | 'secret' | 'settings' | 'consumer' | 'credential' | 'subscription' | 'check';
export const RESOURCE_KINDS: readonly ResourceKind[] = ['service', 'route', 'flow', 'api', 'release', 'api-status', 'secret', 'settings', 'consumer', 'credential', 'subscription', 'check'];
/** The team that owns gateway-wide resources (settings); its members are the system admins' business. */
export const SYSTEM_TEAM = 'system';
/** The kinds people write directly (a member's `writes` lists some of these). */
export type WritableKind = 'service' | 'route' | 'flow' | 'api' | 'secret' | 'consumer' | 'check';
export const WRITABLE_KINDS: readonly WritableKind[] = ['service', 'route', 'flow', 'api', 'secret', 'consumer', 'check'];

export interface User {
  id: string;
  username: string;
  systemAdmin: boolean;
  createdAt: number;
}

export interface UserWithSecret extends User {
  passwordHash: string;
}

export interface Team {
  id: string;
  name: string;
  description: string;
  createdAt: number;
}

export interface Membership {
  teamId: string;
  userId: string;
  role: TeamRole;
  /** For members: the resource kinds the team admin lets them write. */
  writes: WritableKind[];
}

export interface Resource {
  kind: ResourceKind;
  name: string;
  teamId: string;
  /** Starts at 1, +1 per write: the ETag. */
  version: number;
  /** The resource as weir.yaml says it (a service's settings, a route, a flow), without its name. */
  body: Record<string, unknown>;
  createdAt: number;
  updatedAt: number;
  updatedBy: string;
}

export interface AuditEntry {
  id: number;
  at: number;
  /** Username of who did it. */
  actor: string;
  teamId: string | null;
  action: 'create' | 'update' | 'delete';
  /** What was changed: a resource kind, or team, membership, user, token. */
  kind: string;
  name: string;
  before: unknown;
  after: unknown;
}

export interface Session {
  userId: string;
  csrf: string;
  expiresAt: number;
}

export interface AccessToken {
  id: string;
  userId: string;
  name: string;
  /** The token's first characters, shown so a user can tell tokens apart. */
  prefix: string;
  createdAt: number;
  expiresAt: number | null;
  lastUsedAt: number | null;
}

export interface Page<T> {
  items: T[];
  /** Pass as `after` for the next page; null on the last one. */
  next: string | null;
}

export interface PageQuery {
  /** Resume after this cursor. */
  after?: string | null;
  limit: number;
}

/** A write's base version did not match: someone else changed the resource in between. */
export class VersionConflictError extends Error {
  constructor(readonly current: number | null) {
    super(current === null ? 'it does not exist (any more)' : `it is at version ${current}`);
  }
}

/** A create whose name is taken. */
export class AlreadyExistsError extends Error {}

export interface ResourceWrite {
  kind: ResourceKind;
  name: string;
  teamId: string;
  /** null: delete. */
  body: Record<string, unknown> | null;
  /** null: must not exist (create); a number: must be at that version; undefined: any. */
  expectedVersion: number | null | undefined;
}

export interface ConfigStore {
  countUsers(): Promise<number>;
  createUser(user: { username: string; passwordHash: string; systemAdmin: boolean }, actor: string): Promise<User>;
  userByName(username: string): Promise<UserWithSecret | undefined>;
  userById(id: string): Promise<User | undefined>;
  listUsers(page: PageQuery): Promise<Page<User>>;
  /** Changes a password and ends the user's sessions (other than `keepSession`, a session hash); false if no such user. */
  setPassword(userId: string, passwordHash: string, actor: string, keepSession?: string): Promise<boolean>;
  /** Deletes a user with their memberships, sessions and tokens; false if no such user. */
  deleteUser(userId: string, actor: string): Promise<boolean>;

  createSession(tokenHash: string, session: Session): Promise<void>;
  sessionByHash(tokenHash: string, now: number): Promise<Session | undefined>;
  deleteSession(tokenHash: string): Promise<void>;

  createToken(token: AccessToken & { tokenHash: string }): Promise<void>;
  /** The live token with this hash (not expired), its last use recorded. */
  useToken(tokenHash: string, now: number): Promise<AccessToken | undefined>;
  listTokens(userId: string): Promise<AccessToken[]>;
  deleteToken(userId: string, id: string): Promise<boolean>;

  /**
   * `id` keeps a team's identity when a backup is restored (sealed secrets are bound to it);
   * a new id is made when absent. A name or id already taken is AlreadyExistsError.
   */
  createTeam(team: { name: string; description: string; id?: string }, actor: string): Promise<Team>;
  teamByName(name: string): Promise<Team | undefined>;
  teamById(id: string): Promise<Team | undefined>;
  listTeams(page: PageQuery, only?: readonly string[] | null): Promise<Page<Team>>;
  /** Refused (false) while the team still owns resources. */
  deleteTeam(id: string, actor: string): Promise<boolean>;

  setMembership(membership: Membership, actor: string): Promise<void>;
  removeMembership(teamId: string, userId: string, actor: string): Promise<boolean>;
  membershipsOf(userId: string): Promise<Membership[]>;
  membersOf(teamId: string): Promise<Array<Membership & { username: string }>>;

  /** Resources of a kind by name, optionally only those of some teams. */
  listResources(kind: ResourceKind, page: PageQuery, teams?: readonly string[] | null): Promise<Page<Resource>>;
  getResource(kind: ResourceKind, name: string): Promise<Resource | undefined>;
  /** Every resource, for composing the gateway's config. */
  allResources(): Promise<Resource[]>;
  /** Creates, updates or deletes a resource and records it in the audit log, atomically. */
  writeResource(write: ResourceWrite, actor: string): Promise<Resource | null>;
  /** Bumped by every resource write: the data plane reloads when it changes. */
  revision(): Promise<number>;

  listAudit(page: PageQuery, filter: { teams?: readonly string[] | null; kind?: string }): Promise<Page<AuditEntry>>;

  close(): Promise<void>;
}
