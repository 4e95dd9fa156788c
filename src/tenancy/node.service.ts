import { allows } from '../auth/reach.ts';
import { requireAuthenticated, viewerOrganization } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import { badInput } from '../errors.ts';
import { isId } from '../ids.ts';
import type { LicenseEvent } from '../events/event.ts';
import { eventsByIds, eventsByIdsInAnyOrganization } from '../events/events.repository.ts';
import type { Session } from '../sessions/session.ts';
import { sessionsByIds } from '../sessions/sessions.repository.ts';
import { type ApiToken, tokensByIds } from '../tokens/tokens.repository.ts';
import { attemptsByIds, endpointsByIds, messagesByIds } from '../webhooks/webhooks.repository.ts';
import type { WebhookAttemptRow, WebhookEndpointRow, WebhookMessageRow } from '../webhooks/tables.ts';
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
  | { typename: 'ApiToken'; row: ApiToken }
  | { typename: 'Session'; row: Session }
  | { typename: 'LicenseEvent'; row: LicenseEvent }
  | { typename: 'WebhookEndpoint'; row: WebhookEndpointRow }
  | { typename: 'WebhookMessage'; row: WebhookMessageRow }
  | { typename: 'WebhookDelivery'; row: WebhookAttemptRow & { message: WebhookMessageRow } };

/**
 * The objects with these ids (UUIDs, unique over every table), in the order
 * asked, null where none is found. Only the tables the caller may read are
 * looked in, and only within the caller's organization (the operator: any):
 * an object of another organization is null like an unknown id (R-SEC-2).
 * What only ADMIN reads (reach `admin`: API tokens, webhook endpoints,
 * messages and deliveries) is looked for only by a caller with that reach
 * (ADMIN and the operator); sessions and events by every caller of
 * Query.node (reach `read`). One query per table, whatever the number of ids
 * (R-API-4).
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
  const admin = allows(ctx.viewer, 'admin');
  const none = Promise.resolve([]);
  const [orgs, sites, groups, teams, users, tokens, sessions, events, endpoints, messages, attempts] = await Promise.all([
    repo.organizationsByIds(ctx.db, wanted),
    repo.sitesByIds(ctx.db, wanted),
    repo.groupsByIds(ctx.db, wanted),
    repo.teamsByIds(ctx.db, wanted),
    repo.usersByIds(ctx.db, wanted),
    admin ? tokensByIds(ctx.db, wanted) : none,
    sessionsByIds(ctx.db, wanted, scope),
    scope === null ? eventsByIdsInAnyOrganization(ctx.db, wanted) : eventsByIds(ctx.db, scope, wanted),
    admin ? endpointsByIds(ctx.db, wanted, scope) : none,
    admin ? messagesByIds(ctx.db, wanted) : none,
    admin ? attemptsByIds(ctx.db, wanted, scope) : none,
  ]);
  // A delivery shows its message: one more query, for the messages of the deliveries found.
  const messageIds = [...new Set(attempts.map((a) => a.message_id))];
  const attemptMessages = new Map((messageIds.length > 0 ? await messagesByIds(ctx.db, messageIds) : []).map((m) => [m.id, m]));
  const found = new Map<string, FoundNode>();
  for (const row of orgs.filter(mine((o) => o.id))) found.set(row.id, { typename: 'Organization', row });
  for (const row of sites.filter(mine((s) => s.organization_id))) found.set(row.id, { typename: 'Site', row });
  for (const row of groups.filter(mine((g) => g.organization_id))) found.set(row.id, { typename: 'ConfigurationGroup', row });
  for (const row of teams.filter(mine((t) => t.organization_id))) found.set(row.id, { typename: 'Team', row });
  for (const row of users.filter(mine((u) => u.organization_id))) found.set(row.id, { typename: 'User', row });
  for (const row of tokens.filter(mine((k) => k.organizationId))) found.set(row.id, { typename: 'ApiToken', row });
  for (const row of sessions.filter(mine((x) => x.organization_id))) found.set(row.id, { typename: 'Session', row });
  for (const row of events.filter(mine((e) => e.organization_id))) found.set(row.id, { typename: 'LicenseEvent', row });
  for (const row of endpoints.filter(mine((e) => e.organization_id))) found.set(row.id, { typename: 'WebhookEndpoint', row });
  for (const row of messages.filter(mine((m) => m.organization_id))) found.set(row.id, { typename: 'WebhookMessage', row });
  for (const attempt of attempts.filter(mine((a) => a.organization_id))) {
    const message = attemptMessages.get(attempt.message_id);
    if (message) found.set(attempt.id, { typename: 'WebhookDelivery', row: { ...attempt, message } });
  }
  return ids.map((id) => found.get(id) ?? null);
}
