/**
 * Operations on people: signing in and out, the caller's own profile and access tokens, users
 * (system admins), teams and their members (team admins).
 */
import { randomUUID } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import { AlreadyExistsError, WRITABLE_KINDS, TEAM_ROLES, type ConfigStore, type Team, type WritableKind } from '../../store/config-store.js';
import { Principal } from './access.js';
import { Authenticator, SESSION_COOKIE, SESSION_MS, hashPassword, newAccessToken } from './auth.js';
import { ApiError, Page, PageQuery, pageOf, type ApiRequest, type Operation } from './kit.js';

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: 'Lower-case letters, digits, ".", "_" and "-"; 1–63 characters.' });
const UserView = Type.Object({ id: Type.String(), username: Type.String(), systemAdmin: Type.Boolean(), createdAt: Type.String({ format: 'date-time' }) }, { $id: 'User' });
const TeamView = Type.Object({ id: Type.String(), name: Type.String(), description: Type.String(), createdAt: Type.String({ format: 'date-time' }) }, { $id: 'Team' });
const RoleSchema = Type.Union(TEAM_ROLES.map((r) => Type.Literal(r)));
const KindSchema = Type.Union(WRITABLE_KINDS.map((k) => Type.Literal(k)));
const MemberView = Type.Object({ username: Type.String(), role: RoleSchema, writes: Type.Array(KindSchema) }, { $id: 'Member' });
const TokenView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    prefix: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { $id: 'AccessToken' },
);
const Me = Type.Object({
  user: UserView,
  teams: Type.Array(Type.Object({ team: Type.String(), role: RoleSchema, writes: Type.Array(KindSchema) })),
  csrfToken: Type.Union([Type.String(), Type.Null()], { description: 'Send it in X-CSRF-Token with unsafe requests made with the session cookie.' }),
});

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
export const userView = (u: { id: string; username: string; systemAdmin: boolean; createdAt: number }) => ({ id: u.id, username: u.username, systemAdmin: u.systemAdmin, createdAt: iso(u.createdAt)! });
export const teamView = (t: Team) => ({ id: t.id, name: t.name, description: t.description, createdAt: iso(t.createdAt)! });

/**
 * The teams a listing covers: those the caller may read, or only the one `?team=` names (none
 * when the caller may not read it, as if it did not exist).
 */
export async function teamsToList(store: ConfigStore, principal: Principal, query: URLSearchParams): Promise<string[] | null> {
  const only = query.get('team');
  if (only === null) return principal.readableTeams();
  const team = await store.teamByName(only);
  return team === undefined || !principal.canRead(team.id) ? [] : [team.id];
}

/** The team named in the path, if the caller may see it (others' teams are 404, as if absent). */
export async function visibleTeam(store: ConfigStore, principal: Principal, name: string): Promise<Team> {
  const team = await store.teamByName(name);
  if (team === undefined || !principal.canRead(team.id)) throw new ApiError('WEIR_NOT_FOUND', `no team "${name}"`);
  return team;
}

export function identityOperations(store: ConfigStore, auth: Authenticator): Operation[] {
  const me = async (principal: Principal) => {
    const memberships = await store.membershipsOf(principal.user.id);
    const teams = await Promise.all(memberships.map(async (m) => ({ team: (await store.teamById(m.teamId))!.name, role: m.role, writes: m.writes })));
    return { user: userView(principal.user), teams, csrfToken: principal.csrf ?? null };
  };
  const body = <T>(r: ApiRequest) => r.body as T;

  return [
    {
      method: 'POST',
      path: '/api/v1/auth/login',
      operationId: 'login',
      summary: 'Sign in: sets the session cookie (HttpOnly, SameSite=Strict) and returns the CSRF token.',
      tag: 'auth',
      auth: 'public',
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 200 }), password: Type.String({ minLength: 1, maxLength: 1000 }) }),
      response: Me,
      errors: ['WEIR_UNAUTHENTICATED', 'WEIR_LOGIN_THROTTLED'],
      async handle(r) {
        const { username, password } = body<{ username: string; password: string }>(r);
        const user = await auth.signIn(r.req, username, password);
        const session = await auth.startSession(user.id);
        const principal = new Principal(user, await store.membershipsOf(user.id), 'session', session.csrf);
        return {
          status: 200,
          body: await me(principal),
          headers: { 'set-cookie': `${SESSION_COOKIE}=${session.sessionId}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}` },
        };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/auth/logout',
      operationId: 'logout',
      summary: 'Sign out: ends the session.',
      tag: 'auth',
      auth: 'user',
      status: 204,
      async handle(r) {
        await auth.endSession(r.req);
        return { status: 204, headers: { 'set-cookie': `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/me',
      operationId: 'getMe',
      summary: 'The caller: user, teams and roles, and (with a session) the CSRF token.',
      tag: 'auth',
      auth: 'user',
      response: Me,
      handle: async (r) => ({ status: 200, body: await me(r.principal) }),
    },
    {
      method: 'PUT',
      path: '/api/v1/me/password',
      operationId: 'changeMyPassword',
      summary: 'Changes the caller\'s password (the current one is required) and ends their other sessions.',
      tag: 'auth',
      auth: 'user',
      status: 204,
      body: Type.Object({ current: Type.String({ minLength: 1, maxLength: 1000 }), password: Type.String({ minLength: 12, maxLength: 1000, description: 'At least 12 characters.' }) }),
      errors: ['WEIR_UNAUTHENTICATED', 'WEIR_LOGIN_THROTTLED'],
      async handle(r) {
        const { current, password } = body<{ current: string; password: string }>(r);
        await auth.signIn(r.req, r.principal.user.username, current);
        await store.setPassword(r.principal.user.id, await hashPassword(password), r.principal.user.username, auth.sessionHashOf(r.req));
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/me/tokens',
      operationId: 'listMyTokens',
      summary: 'The caller\'s personal access tokens (never the tokens themselves).',
      tag: 'auth',
      auth: 'user',
      response: Type.Object({ items: Type.Array(TokenView) }),
      async handle(r) {
        const tokens = await store.listTokens(r.principal.user.id);
        return { status: 200, body: { items: tokens.map((t) => ({ id: t.id, name: t.name, prefix: t.prefix, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), lastUsedAt: iso(t.lastUsedAt) })) } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/me/tokens',
      operationId: 'createMyToken',
      summary: 'Creates a personal access token for automation; the token is in this answer only.',
      tag: 'auth',
      auth: 'user',
      status: 201,
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100 }), expiresInDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })) }),
      response: Type.Object({ id: Type.String(), name: Type.String(), prefix: Type.String(), token: Type.String({ description: 'Send as `Authorization: Bearer <token>`. Shown once.' }), expiresAt: Type.Union([Type.String(), Type.Null()]) }),
      async handle(r) {
        const { name, expiresInDays } = body<{ name: string; expiresInDays?: number }>(r);
        const { token, prefix, hash } = newAccessToken();
        const now = Date.now();
        const expiresAt = expiresInDays === undefined ? null : now + expiresInDays * 86_400_000;
        const id = randomUUID();
        await store.createToken({ id, userId: r.principal.user.id, name, prefix, tokenHash: hash, createdAt: now, expiresAt, lastUsedAt: null });
        return { status: 201, body: { id, name, prefix, token, expiresAt: iso(expiresAt) } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/me/tokens/{id}',
      operationId: 'deleteMyToken',
      summary: 'Revokes one of the caller\'s access tokens.',
      tag: 'auth',
      auth: 'user',
      status: 204,
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        if (!(await store.deleteToken(r.principal.user.id, r.params['id']!))) throw new ApiError('WEIR_NOT_FOUND', `no token "${r.params['id']}"`);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/users',
      operationId: 'listUsers',
      summary: 'Users (system admins only).',
      tag: 'users',
      auth: 'user',
      query: PageQuery,
      response: Page(UserView),
      errors: ['WEIR_FORBIDDEN'],
      async handle(r) {
        r.principal.requireSystemAdmin('list users');
        const page = await store.listUsers(pageOf(r.query));
        return { status: 200, body: { items: page.items.map(userView), next: page.next } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/users',
      operationId: 'createUser',
      summary: 'Creates a user (system admins only).',
      tag: 'users',
      auth: 'user',
      status: 201,
      body: Type.Object({ username: Name, password: Type.String({ minLength: 12, maxLength: 1000, description: 'At least 12 characters.' }), systemAdmin: Type.Optional(Type.Boolean()) }),
      response: UserView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS'],
      async handle(r) {
        r.principal.requireSystemAdmin('create users');
        const { username, password, systemAdmin } = body<{ username: string; password: string; systemAdmin?: boolean }>(r);
        const user = await store.createUser({ username, passwordHash: await hashPassword(password), systemAdmin: systemAdmin ?? false }, r.principal.user.username).catch(conflict(`user "${username}"`));
        return { status: 201, body: userView(user), headers: { location: `/api/v1/users/${username}` } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/users/{username}',
      operationId: 'deleteUser',
      summary: 'Deletes a user, their memberships, sessions and tokens (system admins; not themselves).',
      tag: 'users',
      auth: 'user',
      status: 204,
      errors: ['WEIR_FORBIDDEN', 'WEIR_NOT_FOUND', 'WEIR_IN_USE'],
      async handle(r) {
        r.principal.requireSystemAdmin('delete users');
        const user = await store.userByName(r.params['username']!);
        if (user === undefined) throw new ApiError('WEIR_NOT_FOUND', `no user "${r.params['username']}"`);
        if (user.id === r.principal.user.id) throw new ApiError('WEIR_IN_USE', 'you cannot delete yourself; another system admin can');
        await store.deleteUser(user.id, r.principal.user.username);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/teams',
      operationId: 'listTeams',
      summary: 'The teams the caller belongs to (all of them for system admins).',
      tag: 'teams',
      auth: 'user',
      query: PageQuery,
      response: Page(TeamView),
      async handle(r) {
        const page = await store.listTeams(pageOf(r.query), r.principal.readableTeams());
        return { status: 200, body: { items: page.items.map(teamView), next: page.next } };
      },
    },
    {
      method: 'POST',
      path: '/api/v1/teams',
      operationId: 'createTeam',
      summary: 'Creates a team (system admins only).',
      tag: 'teams',
      auth: 'user',
      status: 201,
      body: Type.Object({ name: Name, description: Type.Optional(Type.String({ maxLength: 1000 })) }),
      response: TeamView,
      errors: ['WEIR_FORBIDDEN', 'WEIR_ALREADY_EXISTS'],
      async handle(r) {
        r.principal.requireSystemAdmin('create teams');
        const { name, description } = body<{ name: string; description?: string }>(r);
        const team = await store.createTeam({ name, description: description ?? '' }, r.principal.user.username).catch(conflict(`team "${name}"`));
        return { status: 201, body: teamView(team), headers: { location: `/api/v1/teams/${name}` } };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/teams/{team}',
      operationId: 'getTeam',
      summary: 'One team.',
      tag: 'teams',
      auth: 'user',
      response: TeamView,
      errors: ['WEIR_NOT_FOUND'],
      handle: async (r) => ({ status: 200, body: teamView(await visibleTeam(store, r.principal, r.params['team']!)) }),
    },
    {
      method: 'DELETE',
      path: '/api/v1/teams/{team}',
      operationId: 'deleteTeam',
      summary: 'Deletes a team that owns no resources (system admins only).',
      tag: 'teams',
      auth: 'user',
      status: 204,
      errors: ['WEIR_FORBIDDEN', 'WEIR_NOT_FOUND', 'WEIR_IN_USE'],
      async handle(r) {
        r.principal.requireSystemAdmin('delete teams');
        const team = await visibleTeam(store, r.principal, r.params['team']!);
        if (!(await store.deleteTeam(team.id, r.principal.user.username))) throw new ApiError('WEIR_IN_USE', `team "${team.name}" still owns services, routes or flows: move or delete them first`);
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: '/api/v1/teams/{team}/members',
      operationId: 'listMembers',
      summary: 'The team\'s members and their roles.',
      tag: 'teams',
      auth: 'user',
      response: Type.Object({ items: Type.Array(MemberView) }),
      errors: ['WEIR_NOT_FOUND'],
      async handle(r) {
        const team = await visibleTeam(store, r.principal, r.params['team']!);
        const members = await store.membersOf(team.id);
        return { status: 200, body: { items: members.map((m) => ({ username: m.username, role: m.role, writes: m.writes })) } };
      },
    },
    {
      method: 'PUT',
      path: '/api/v1/teams/{team}/members/{username}',
      operationId: 'setMember',
      summary: 'Adds a user to the team or changes their role (team admins). `writes`: what a member may change.',
      tag: 'teams',
      auth: 'user',
      body: Type.Object({ role: RoleSchema, writes: Type.Optional(Type.Array(KindSchema, { uniqueItems: true })) }),
      response: MemberView,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const team = await visibleTeam(store, r.principal, r.params['team']!);
        if (!r.principal.canManage(team.id)) throw new ApiError('WEIR_FORBIDDEN', `only an admin of team "${team.name}" may change its members`);
        const user = await store.userByName(r.params['username']!);
        if (user === undefined) throw new ApiError('WEIR_NOT_FOUND', `no user "${r.params['username']}"`);
        const { role, writes } = body<{ role: 'admin' | 'member' | 'viewer'; writes?: WritableKind[] }>(r);
        const allowed = role === 'member' ? (writes ?? []) : [];
        await store.setMembership({ teamId: team.id, userId: user.id, role, writes: allowed }, r.principal.user.username);
        return { status: 200, body: { username: user.username, role, writes: allowed } };
      },
    },
    {
      method: 'DELETE',
      path: '/api/v1/teams/{team}/members/{username}',
      operationId: 'removeMember',
      summary: 'Removes a user from the team (team admins).',
      tag: 'teams',
      auth: 'user',
      status: 204,
      errors: ['WEIR_NOT_FOUND', 'WEIR_FORBIDDEN'],
      async handle(r) {
        const team = await visibleTeam(store, r.principal, r.params['team']!);
        if (!r.principal.canManage(team.id)) throw new ApiError('WEIR_FORBIDDEN', `only an admin of team "${team.name}" may change its members`);
        const user = await store.userByName(r.params['username']!);
        if (user === undefined || !(await store.removeMembership(team.id, user.id, r.principal.user.username))) {
          throw new ApiError('WEIR_NOT_FOUND', `"${r.params['username']}" is not a member of team "${team.name}"`);
        }
        return { status: 204 };
      },
    },
  ];
}

/** AlreadyExistsError → 409 problem. */
export function conflict(what: string) {
  return (err: unknown): never => {
    if (err instanceof AlreadyExistsError) throw new ApiError('WEIR_ALREADY_EXISTS', `${what} exists`);
    throw err;
  };
}
