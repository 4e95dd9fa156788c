import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { NewOrganization, NewUser, UserRow } from '../db/schema.ts';
import type { Page } from '../db/pages.ts';
import {
  type ConfigurationGroup,
  configurationGroupOf,
  type Organization,
  organizationOf,
  type Site,
  type Team,
  type User,
  type UserStatus,
  userOf,
} from './domain.ts';

/* All SQL for organizations, sites, configuration groups, teams and users. */

export async function organizationsByIds(db: Executor, ids: readonly string[]): Promise<Organization[]> {
  return (await db.selectFrom('organizations').selectAll().where('id', 'in', ids).execute()).map(organizationOf);
}

export async function findOrganization(db: Executor, id: string): Promise<Organization | undefined> {
  const row = await db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst();
  return row && organizationOf(row);
}

/**
 * Serializes writes that change organization-wide state (configuration,
 * users, keys, the maxUsers check) across connections and instances: step 1
 * of the lock order (src/sessions/lock-order.ts). FOR NO KEY UPDATE,
 * not FOR UPDATE: the foreign-key checks of a session start's inserts take
 * FOR KEY SHARE on this row while the start holds its pool, and FOR UPDATE
 * would make the two wait on each other (deadlock).
 */
export async function lockOrganization(db: Executor, id: string): Promise<Organization | undefined> {
  const row = await db.selectFrom('organizations').selectAll().where('id', '=', id).forNoKeyUpdate().executeTakeFirst();
  return row && organizationOf(row);
}

/** How many sites or teams the organization has (for the bounds of src/tenancy/validate.ts). */
export async function countOf(db: Executor, table: 'sites' | 'teams', organizationId: string): Promise<number> {
  const row = await db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('organization_id', '=', organizationId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function customerRefTaken(db: Executor, customerRef: string): Promise<boolean> {
  return (
    (await db.selectFrom('organizations').select('id').where('customer_ref', '=', customerRef).limit(1).executeTakeFirst()) !== undefined
  );
}

/**
 * One page of organizations in id order (ids sort by creation), fetched with
 * one extra row to learn hasNextPage; `nameContains` matches the name
 * case-insensitively, as plain text (% and _ are not wildcards).
 */
export async function pageOfOrganizations(db: Executor, page: Page, nameContains: string | null): Promise<Organization[]> {
  let q = db.selectFrom('organizations').selectAll();
  if (nameContains) q = q.where('name', 'ilike', `%${nameContains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  const rows = await q
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  return rows.map(organizationOf);
}

export async function insertOrganization(db: Executor, row: NewOrganization): Promise<void> {
  await db.insertInto('organizations').values(row).execute();
}

export function findSite(db: Executor, id: string, organizationId: string | null): Promise<Site | undefined> {
  let q = db.selectFrom('sites').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

export function sitesByIds(db: Executor, ids: readonly string[]): Promise<Site[]> {
  return db.selectFrom('sites').selectAll().where('id', 'in', ids).execute();
}

export function sitesOfOrganization(db: Executor, organizationId: string): Promise<Site[]> {
  return db.selectFrom('sites').selectAll().where('organization_id', '=', organizationId).orderBy('name').orderBy('id').execute();
}

export async function insertSite(db: Executor, row: Site): Promise<void> {
  await db.insertInto('sites').values(row).execute();
}

export function siteNameTaken(db: Executor, organizationId: string, name: string): Promise<boolean> {
  return db
    .selectFrom('sites')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('name', '=', name)
    .executeTakeFirst()
    .then(Boolean);
}

export async function findGroup(db: Executor, id: string, organizationId: string | null): Promise<ConfigurationGroup | undefined> {
  let q = db.selectFrom('configuration_groups').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  const row = await q.executeTakeFirst();
  return row && configurationGroupOf(row);
}

export async function groupsByIds(db: Executor, ids: readonly string[]): Promise<ConfigurationGroup[]> {
  return (await db.selectFrom('configuration_groups').selectAll().where('id', 'in', ids).execute()).map(configurationGroupOf);
}

export async function groupsOfSites(db: Executor, siteIds: readonly string[]): Promise<ConfigurationGroup[]> {
  const rows = await db
    .selectFrom('configuration_groups')
    .selectAll()
    .where('site_id', 'in', siteIds)
    .orderBy('name')
    .orderBy('id')
    .execute();
  return rows.map(configurationGroupOf);
}

export function groupNameTaken(db: Executor, organizationId: string, siteId: string, name: string): Promise<boolean> {
  return db
    .selectFrom('configuration_groups')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('site_id', '=', siteId)
    .where('name', '=', name)
    .executeTakeFirst()
    .then(Boolean);
}

export async function insertGroup(db: Executor, row: ConfigurationGroup): Promise<void> {
  await db
    .insertInto('configuration_groups')
    .values({ ...row, functions: JSON.stringify(row.functions), options: JSON.stringify(row.options) })
    .execute();
}

export async function updateGroup(
  db: Executor,
  organizationId: string,
  id: string,
  change: { functions: string[]; options: string[] },
): Promise<void> {
  await db
    .updateTable('configuration_groups')
    .set({ functions: JSON.stringify(change.functions), options: JSON.stringify(change.options) })
    .where('organization_id', '=', organizationId)
    .where('id', '=', id)
    .execute();
}

export function findTeam(db: Executor, id: string, organizationId: string | null): Promise<Team | undefined> {
  let q = db.selectFrom('teams').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  return q.executeTakeFirst();
}

export function teamsByIds(db: Executor, ids: readonly string[]): Promise<Team[]> {
  return db.selectFrom('teams').selectAll().where('id', 'in', ids).execute();
}

export function teamsOfOrganization(db: Executor, organizationId: string): Promise<Team[]> {
  return db.selectFrom('teams').selectAll().where('organization_id', '=', organizationId).orderBy('name').orderBy('id').execute();
}

export function teamNameTaken(db: Executor, organizationId: string, name: string): Promise<boolean> {
  return db
    .selectFrom('teams')
    .select('id')
    .where('organization_id', '=', organizationId)
    .where('name', '=', name)
    .executeTakeFirst()
    .then(Boolean);
}

export async function insertTeam(db: Executor, row: Team): Promise<void> {
  await db.insertInto('teams').values(row).execute();
}

export async function findUser(db: Executor, id: string, organizationId: string | null): Promise<User | undefined> {
  let q = db.selectFrom('users').selectAll().where('id', '=', id);
  if (organizationId) q = q.where('organization_id', '=', organizationId);
  const row = await q.executeTakeFirst();
  return row && userOf(row);
}

export async function usersByIds(db: Executor, ids: readonly string[]): Promise<User[]> {
  return (await db.selectFrom('users').selectAll().where('id', 'in', ids).execute()).map(userOf);
}

export async function membersOfTeams(db: Executor, teamIds: readonly string[]): Promise<User[]> {
  return (await db.selectFrom('users').selectAll().where('team_id', 'in', teamIds).orderBy('id').execute()).map(userOf);
}

export function countUsers(db: Executor, organizationId: string): Promise<number> {
  return db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('organization_id', '=', organizationId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}

export async function insertUser(db: Executor, row: NewUser): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export async function setUserStatus(db: Executor, organizationId: string, id: string, status: UserStatus): Promise<void> {
  await db.updateTable('users').set({ status }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function deleteUser(db: Executor, organizationId: string, id: string): Promise<void> {
  await db
    .updateTable('teams')
    .set({ leader_id: null })
    .where('organization_id', '=', organizationId)
    .where('leader_id', '=', id)
    .execute();
  await db.deleteFrom('users').where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function recordStatus(db: Executor, organizationId: string, userId: string, status: string, at: Date): Promise<void> {
  await db.insertInto('user_status_history').values({ organization_id: organizationId, user_id: userId, status, at }).execute();
}

/** Which users a connection lists: the whole organization, one site, or one configuration group. */
export type UserScope =
  | { organizationId: string }
  | { organizationId: string; siteId: string }
  | { organizationId: string; configurationGroupId: string };

function scoped(db: Executor, scope: UserScope) {
  let q = db.selectFrom('users').where('organization_id', '=', scope.organizationId);
  if ('siteId' in scope) q = q.where('site_id', '=', scope.siteId);
  if ('configurationGroupId' in scope) q = q.where('configuration_group_id', '=', scope.configurationGroupId);
  return q;
}

/** One page in id order (ids sort by creation), fetched with one extra row to learn hasNextPage. */
export async function pageOfUsers(db: Executor, scope: UserScope, page: Page): Promise<User[]> {
  let q = scoped(db, scope).selectAll();
  if (page.afterId) q = q.where('id', '>', page.afterId);
  const rows = await q
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  return rows.map(userOf);
}

export function countUsersIn(db: Executor, scope: UserScope): Promise<number> {
  return scoped(db, scope)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}

export function countActiveUsers(db: Executor, organizationId: string): Promise<number> {
  return db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('organization_id', '=', organizationId)
    .where('status', '=', 'ACTIVE')
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}

/**
 * Users that were ACTIVE at any moment of [from, to) (R-TEN-2): those whose
 * status became ACTIVE inside the interval, and those whose status in effect at
 * `from` (the last change at or before it) was ACTIVE; a change at exactly
 * `from` already applies there. Deleted users still count for the periods they
 * were in.
 */
export async function countActiveBetween(db: Executor, organizationId: string, from: Date, to: Date): Promise<number> {
  const result = await sql<{ n: number }>`
    select count(distinct h.user_id)::int as n
    from user_status_history h
    where h.organization_id = ${organizationId}
      and h.status = 'ACTIVE'
      and h.at < ${to}
      and (
        h.at >= ${from}
        or not exists (
          select 1 from user_status_history later
          where later.organization_id = h.organization_id
            and later.user_id = h.user_id
            and later.at <= ${from}
            and (later.at > h.at or (later.at = h.at and later.seq > h.seq))
        )
      )`.execute(db);
  return result.rows[0]?.n ?? 0;
}

export async function setUsersGroup(
  db: Executor,
  organizationId: string,
  userIds: readonly string[],
  groupId: string | null,
): Promise<void> {
  if (userIds.length === 0) return;
  await db
    .updateTable('users')
    .set({ configuration_group_id: groupId })
    .where('organization_id', '=', organizationId)
    .where('id', 'in', userIds)
    .execute();
}

/* ------------------------------------------------------------ admin API: changes, deletions, two-way pages */

export async function renameOrganization(db: Executor, id: string, name: string): Promise<void> {
  await db.updateTable('organizations').set({ name }).where('id', '=', id).execute();
}

/** Sets the customer reference only while none is set; false when one was set meanwhile. */
export async function setCustomerRefOnce(db: Executor, id: string, customerRef: string): Promise<boolean> {
  const result = await db
    .updateTable('organizations')
    .set({ customer_ref: customerRef })
    .where('id', '=', id)
    .where('customer_ref', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function renameSite(db: Executor, organizationId: string, id: string, name: string): Promise<void> {
  await db.updateTable('sites').set({ name }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function renameGroup(db: Executor, organizationId: string, id: string, name: string): Promise<void> {
  await db.updateTable('configuration_groups').set({ name }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function renameTeam(db: Executor, organizationId: string, id: string, name: string): Promise<void> {
  await db.updateTable('teams').set({ name }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function setTeamLeader(db: Executor, organizationId: string, id: string, leaderId: string | null): Promise<void> {
  await db.updateTable('teams').set({ leader_id: leaderId }).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

/** Deletes a site with its configuration groups (their users must have left them). */
export async function deleteSite(db: Executor, organizationId: string, id: string): Promise<void> {
  await db.deleteFrom('configuration_groups').where('organization_id', '=', organizationId).where('site_id', '=', id).execute();
  await db.deleteFrom('sites').where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function deleteGroup(db: Executor, organizationId: string, id: string): Promise<void> {
  await db.deleteFrom('configuration_groups').where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

export async function deleteTeam(db: Executor, organizationId: string, id: string): Promise<void> {
  await db.deleteFrom('teams').where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

/** Users of one site, one configuration group or one team, oldest first. */
export async function usersWhere(
  db: Executor,
  organizationId: string,
  column: 'site_id' | 'configuration_group_id' | 'team_id',
  id: string,
): Promise<User[]> {
  const rows = await db
    .selectFrom('users')
    .selectAll()
    .where('organization_id', '=', organizationId)
    .where(column, '=', id)
    .orderBy('id')
    .execute();
  return rows.map(userOf);
}

/** Moves users to a site and configuration group (null: none). */
export async function placeUsers(
  db: Executor,
  organizationId: string,
  userIds: readonly string[],
  place: { siteId: string; groupId: string | null },
): Promise<void> {
  if (userIds.length === 0) return;
  await db
    .updateTable('users')
    .set({ site_id: place.siteId, configuration_group_id: place.groupId })
    .where('organization_id', '=', organizationId)
    .where('id', 'in', userIds)
    .execute();
}

export async function setUsersTeam(db: Executor, organizationId: string, userIds: readonly string[], teamId: string | null): Promise<void> {
  if (userIds.length === 0) return;
  await db.updateTable('users').set({ team_id: teamId }).where('organization_id', '=', organizationId).where('id', 'in', userIds).execute();
}

export async function updateUserFields(
  db: Executor,
  organizationId: string,
  id: string,
  change: Partial<Pick<User, 'name' | 'email' | 'role'>>,
): Promise<void> {
  if (Object.keys(change).length === 0) return;
  await db.updateTable('users').set(change).where('organization_id', '=', organizationId).where('id', '=', id).execute();
}

/** 11 parameters a row: chunks stay far below PGlite's 32,767 parameters per statement. */
const USER_CHUNK = 1000;

/** Inserts many users and their first status, a chunk per statement. */
export async function insertUsers(db: Executor, rows: readonly NewUser[], at: Date): Promise<void> {
  for (let i = 0; i < rows.length; i += USER_CHUNK) {
    const chunk = rows.slice(i, i + USER_CHUNK);
    await db.insertInto('users').values(chunk).execute();
    await db
      .insertInto('user_status_history')
      .values(chunk.map((u) => ({ organization_id: u.organization_id, user_id: u.id, status: u.status, at })))
      .execute();
  }
}

/** Users of the organization whose e-mail is one of these (case-insensitive), for the import's duplicate check. */
export async function usersWithEmails(db: Executor, organizationId: string, emails: readonly string[]): Promise<string[]> {
  if (emails.length === 0) return [];
  const rows = await db
    .selectFrom('users')
    .select('email')
    .where('organization_id', '=', organizationId)
    .where(
      sql<string>`lower(email)`,
      'in',
      emails.map((e) => e.toLowerCase()),
    )
    .execute();
  return rows.map((r) => (r.email ?? '').toLowerCase());
}

/** A two-way keyset page: ids after `afterId` and before `beforeId`; `inverted` reads from the end (last/before). */
export interface TwoWayPage {
  afterId: string | null;
  beforeId: string | null;
  limit: number;
  inverted: boolean;
}

type PagedTable = 'sites' | 'teams' | 'users';

function twoWay<T>(db: Executor, table: PagedTable, organizationId: string, page: TwoWayPage, teamId?: string) {
  let q = db.selectFrom(table).selectAll().where('organization_id', '=', organizationId);
  if (teamId !== undefined) q = q.where(sql.ref('team_id'), '=', teamId);
  if (page.afterId) q = q.where('id', '>', page.afterId);
  if (page.beforeId) q = q.where('id', '<', page.beforeId);
  return q
    .orderBy('id', page.inverted ? 'desc' : 'asc')
    .limit(page.limit)
    .execute() as Promise<T[]>;
}

export function pageOfSites(db: Executor, organizationId: string, page: TwoWayPage): Promise<Site[]> {
  return twoWay<Site>(db, 'sites', organizationId, page);
}

export function pageOfTeams(db: Executor, organizationId: string, page: TwoWayPage): Promise<Team[]> {
  return twoWay<Team>(db, 'teams', organizationId, page);
}

export async function pageOfTeamMembers(db: Executor, organizationId: string, teamId: string, page: TwoWayPage): Promise<User[]> {
  return (await twoWay<UserRow>(db, 'users', organizationId, page, teamId)).map(userOf);
}

export function countTeamMembers(db: Executor, organizationId: string, teamId: string): Promise<number> {
  return db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('organization_id', '=', organizationId)
    .where('team_id', '=', teamId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));
}
