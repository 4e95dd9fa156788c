import { allows } from '../auth/reach.ts';
import { requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import { badInput } from '../errors.ts';
import { isId } from '../ids.ts';
import { type ApiToken, tokensByIds } from '../tokens/tokens.repository.ts';
import type { ConfigurationGroup, Organization, Site, Team, User } from './domain.ts';
import * as repo from './tenancy.repository.ts';
import { MAX_NODE_IDS } from './validate.ts';

export { MAX_NODE_IDS };

/** An object found by its id alone, with the name of its GraphQL type. */
export type FoundNode =
  | { typename: 'Organization'; row: Organization }
  | { typename: 'Site'; row: Site }
  | { typename: 'ConfigurationGroup'; row: ConfigurationGroup }
  | { typename: 'Team'; row: Team }
  | { typename: 'User'; row: User }
  | { typename: 'ApiToken'; row: ApiToken };

/**
 * The objects with these ids (UUIDs, unique over every table), in the order
 * asked, null where none is found. Only the tables the caller may read are
 * looked in, and only within the caller's organization (the operator: any):
 * an object of another organization is null like an unknown id (R-SEC-2), and
 * an API token is looked for only by a caller that may read tokens (ADMIN and
 * the operator). One query per table, whatever the number of ids (R-API-4).
 */
export async function findNodes(ctx: Context, ids: readonly string[], field: string): Promise<(FoundNode | null)[]> {
  requireAuthenticated(ctx.viewer);
  if (ids.length > MAX_NODE_IDS) throw badInput(field, `at most ${MAX_NODE_IDS} ids per request`, 'R-SEC-3');
  const wanted = [...new Set(ids.filter(isId))];
  if (wanted.length === 0) return ids.map(() => null);
  const scope = viewerOrganization(ctx.viewer);
  const mine =
    <T>(organizationIdOf: (row: T) => string) =>
    (row: T) =>
      scope === null || organizationIdOf(row) === scope;
  const [orgs, sites, groups, teams, users, tokens] = await Promise.all([
    repo.organizationsByIds(ctx.db, wanted),
    repo.sitesByIds(ctx.db, wanted),
    repo.groupsByIds(ctx.db, wanted),
    repo.teamsByIds(ctx.db, wanted),
    repo.usersByIds(ctx.db, wanted),
    allows(ctx.viewer, 'admin') ? tokensByIds(ctx.db, wanted) : Promise.resolve([]),
  ]);
  const found = new Map<string, FoundNode>();
  for (const row of orgs.filter(mine((o) => o.id))) found.set(row.id, { typename: 'Organization', row });
  for (const row of sites.filter(mine((s) => s.organization_id))) found.set(row.id, { typename: 'Site', row });
  for (const row of groups.filter(mine((g) => g.organization_id))) found.set(row.id, { typename: 'ConfigurationGroup', row });
  for (const row of teams.filter(mine((t) => t.organization_id))) found.set(row.id, { typename: 'Team', row });
  for (const row of users.filter(mine((u) => u.organization_id))) found.set(row.id, { typename: 'User', row });
  for (const row of tokens.filter(mine((k) => k.organizationId))) found.set(row.id, { typename: 'ApiToken', row });
  return ids.map((id) => found.get(id) ?? null);
}
