import { forbidden, notFound, unauthenticated } from '../errors.ts';
import type { Viewer } from './principal.ts';
import { LEVELS, type Reach } from './reach.ts';
import { API_ROLES, type ApiRole } from './tokens.ts';

export type { Viewer } from './principal.ts';

/** What an operation needs. Each is a level of the reach table (reach.ts), which says who has it. */
export type Permission = 'read' | 'write' | 'sessions' | 'subscribe';

const LEVEL: Record<Permission, Reach> = { read: 'read', subscribe: 'read', write: 'admin', sessions: 'sessions' };

const rolesOf = (level: Reach): readonly ApiRole[] => API_ROLES.filter((role) => (LEVELS[level] as readonly string[]).includes(role));
const ROLES: Record<Permission, readonly ApiRole[]> = {
  read: rolesOf(LEVEL.read),
  subscribe: rolesOf(LEVEL.subscribe),
  write: rolesOf(LEVEL.write),
  sessions: rolesOf(LEVEL.sessions),
};

/** How the event log records the actor. */
export function actorOf(viewer: Viewer): { actor: string; apiTokenId: string | null } {
  switch (viewer.kind) {
    case 'operator':
      return { actor: 'operator', apiTokenId: null };
    case 'token':
      // A person has no API token row: the actor names the issuer's subject instead.
      if (viewer.person) return { actor: `oidc:${viewer.person.subject}@${viewer.person.issuer}`, apiTokenId: null };
      return { actor: `token:${viewer.tokenId}`, apiTokenId: viewer.tokenId };
    case 'anonymous':
      return { actor: 'anonymous', apiTokenId: null };
  }
}

export function requireAuthenticated(viewer: Viewer): asserts viewer is Exclude<Viewer, { kind: 'anonymous' }> {
  if (viewer.kind === 'anonymous') throw unauthenticated();
}

export function requireOperator(viewer: Viewer): void {
  requireAuthenticated(viewer);
  if (viewer.kind !== 'operator') throw forbidden('only the platform operator (OPERATOR_TOKEN) may do this');
}

/**
 * Checks that the viewer may act on `organizationId` with `permission`.
 * A token of another organization gets NOT_FOUND, exactly as for an id that
 * does not exist (R-SEC-2); a token of this organization with too small a
 * role gets FORBIDDEN.
 */
export function authorize(viewer: Viewer, organizationId: string, permission: Permission, what: string, id: string): void {
  requireAuthenticated(viewer);
  if (viewer.kind === 'operator') return;
  if (viewer.organizationId !== organizationId) throw notFound(what, id);
  if (!ROLES[permission].includes(viewer.role)) {
    throw forbidden(
      `role ${viewer.role} may not ${permission === 'read' ? 'read this' : permission === 'write' ? 'change this' : permission === 'sessions' ? 'manage sessions' : 'subscribe'}; needs ${ROLES[permission].join(' or ')}`,
    );
  }
}

/** The organization a token is bound to, or null for the operator. */
export function viewerOrganization(viewer: Viewer): string | null {
  return viewer.kind === 'token' ? viewer.organizationId : null;
}
