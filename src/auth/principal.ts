import type { ApiRole } from './tokens.ts';

/*
 * Who is calling, below both the reach table (reach.ts) and the checks that
 * use it (viewer.ts), so that neither imports the other's caller.
 */

/** Who is calling: the platform operator, an organization's API token, or nobody. */
export type Viewer =
  | { kind: 'operator' }
  | { kind: 'token'; tokenId: string; organizationId: string; role: ApiRole }
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
