import type { ApiRole } from './tokens.ts';

/*
 * Who is calling, below both the reach table (reach.ts) and the checks that
 * use it (viewer.ts), so that neither imports the other's caller.
 */

/**
 * A person signed in through OpenID Connect (src/auth/oidc.ts): the token's
 * issuer and subject, and when it expires (its streams are cut then).
 */
export interface Person {
  issuer: string;
  subject: string;
  expiresAt: Date;
}

/**
 * Who is calling: the platform operator, an organization's API token, or
 * nobody. A person signed in through OpenID Connect is a `token` viewer with
 * `person` set: `tokenId` then names that one JWT (`oidc_…`), no API token row.
 */
export type Viewer =
  | { kind: 'operator' }
  | { kind: 'token'; tokenId: string; organizationId: string; role: ApiRole; person?: Person }
  | { kind: 'anonymous' };

/** Who a caller is, for the reach table: the operator, a token's role, or nobody. */
export type Principal = 'OPERATOR' | ApiRole | 'ANONYMOUS';

export const PRINCIPALS: readonly Principal[] = ['OPERATOR', 'ADMIN', 'SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT', 'ANONYMOUS'];

/**
 * The caller as the reach table names it.
 *
 * @example
 * principalOf({ kind: 'operator' }); // 'OPERATOR'
 */
export function principalOf(viewer: Viewer): Principal {
  return viewer.kind === 'operator' ? 'OPERATOR' : viewer.kind === 'token' ? viewer.role : 'ANONYMOUS';
}
