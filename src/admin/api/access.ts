/**
 * Who is calling and what they may do. Roles: a system admin may do everything; in a team, an
 * admin may do everything to the team's resources and members, a member may read them and write
 * the kinds the team admin allows, a viewer may read. Nobody sees another team's resources:
 * they answer 404 as if they did not exist.
 */
import type { Membership, User, WritableKind } from '../../store/config-store.js';
import { ApiError } from './kit.js';

export class Principal {
  private readonly teams: Map<string, Membership>;

  constructor(
    readonly user: User,
    memberships: readonly Membership[],
    /** How the caller proved who they are. */
    readonly via: 'session' | 'token',
    /** The session's CSRF token (sessions only), for the console to read back. */
    readonly csrf?: string,
  ) {
    this.teams = new Map(memberships.map((m) => [m.teamId, m]));
  }

  get isSystemAdmin(): boolean {
    return this.user.systemAdmin;
  }

  /** The teams whose things the caller may read; null: all of them. */
  readableTeams(): string[] | null {
    return this.isSystemAdmin ? null : [...this.teams.keys()];
  }

  canRead(teamId: string): boolean {
    return this.isSystemAdmin || this.teams.has(teamId);
  }

  canWrite(teamId: string, kind: WritableKind): boolean {
    if (this.isSystemAdmin) return true;
    const m = this.teams.get(teamId);
    return m !== undefined && (m.role === 'admin' || (m.role === 'member' && m.writes.includes(kind)));
  }

  canManage(teamId: string): boolean {
    return this.isSystemAdmin || this.teams.get(teamId)?.role === 'admin';
  }

  requireSystemAdmin(what: string): void {
    if (!this.isSystemAdmin) throw new ApiError('WEIR_FORBIDDEN', `only a system admin may ${what}`);
  }
}
