import { actorOf, requireOperator } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { UserSettingRow } from '../db/schema.ts';
import { badInput } from '../errors.ts';
import { appendEvents, type EventInput } from '../events/events.repository.ts';
import { isId } from '../ids.ts';
import type { AllocationWrite } from '../allocation/cache.ts';
import { releaseFunctions, syncGroupRows, type Released } from '../allocation/persist.ts';
import type { LoadedAllocation } from '../allocation/view.ts';
import { changeConfiguration } from '../assignments/assignments.service.ts';
import { catalogOf, getGroup, getSite, getTeam, getUser, lockOrganizationFor } from './access.ts';
import type { ConfigurationGroup, Organization, Site, Team, User, UserRole } from './domain.ts';
import * as repo from './tenancy.repository.ts';
import { cleanEmail, cleanName, cleanOptionalText } from './validate.ts';

/*
 * The admin API's changes and deletions (rename, move, delete, team
 * membership). Each is one transaction (ctx.writeTransaction), with the
 * validation and error codes of creation; a change of who needs which
 * licence goes through changeConfiguration, the one write path, so the
 * allocation cache learns it and its refusals (base licences, R-REASSIGN)
 * hold. `dryRun` runs the same transaction, reports, and rolls it back.
 */

/** Issue-local rule names of the admin API's own refusals. */
export const RULES = {
  /** A site, group or team with users is deleted only with a target for them. */
  deleteWithUsers: 'ADMIN-DELETE-1',
  /** An organization's customer reference is set once (then keys carry it, R-KEY-3). */
  customerRefOnce: 'ADMIN-REF-1',
} as const;

/** The most users one team change names. */
export const MAX_TEAM_CHANGE_USERS = 1000;

async function lockedOrganization(trx: Executor, id: string): Promise<Organization> {
  const org = await repo.lockOrganization(trx, id);
  if (!org) throw new Error(`organization ${id} vanished under lock`);
  return org;
}

function event(ctx: Context, organizationId: string, type: EventInput['type'], detail: string, userId?: string): EventInput {
  return { organizationId, type, at: ctx.clock.now(), detail, ...(userId ? { userId } : {}), ...actorOf(ctx.viewer) };
}

/** What moving users changes for their licences, as moveUsers reports it. */
export interface Consequences {
  applied: boolean;
  userIds: string[];
  released: Released[];
  deletedSettings: UserSettingRow[];
  after: LoadedAllocation;
}

/** Thrown to roll a dry run back once its report is made. */
class DryRun<T> extends Error {
  constructor(readonly report: T) {
    super('dry run');
  }
}

/** Runs `work` in one write transaction; with `dryRun` its report comes back and the transaction is rolled back. */
async function dryable<T extends { consequences: Consequences | null }>(
  ctx: Context,
  dryRun: boolean | null | undefined,
  work: (trx: Executor, write: AllocationWrite) => Promise<T>,
): Promise<T> {
  try {
    return await ctx.writeTransaction(async (trx, write) => {
      const report = await work(trx, write);
      if (dryRun) {
        const consequences = report.consequences ? { ...report.consequences, applied: false } : null;
        throw new DryRun({ ...report, consequences });
      }
      return report;
    });
  } catch (error) {
    if (error instanceof DryRun) return error.report as T;
    throw error;
  }
}

/**
 * Moves users to a site and configuration group (null: none) in one
 * configuration change: group functions they lose release their licences and
 * delete their personal settings (R-NAMED-4), base licence slots follow
 * (R-REASSIGN), and a change the licences forbid is refused naming `field`.
 */
async function relocate(
  ctx: Context,
  trx: Executor,
  write: AllocationWrite,
  org: Organization,
  users: readonly User[],
  place: { siteId: string; group: ConfigurationGroup | null },
  field: string,
): Promise<Consequences> {
  let released: Released[] = [];
  let deletedSettings: UserSettingRow[] = [];
  const ids = users.map((u) => u.id);
  const change = await changeConfiguration(ctx, write, org, catalogOf(ctx, org), { field }, async (before) => {
    await repo.placeUsers(trx, org.id, ids, { siteId: place.siteId, groupId: place.group?.id ?? null });
    const groups = new Map(place.group ? [[place.group.id, place.group]] : []);
    const removed = await syncGroupRows(
      trx,
      org.id,
      ids.map((id) => ({ id, groupId: place.group?.id ?? null })),
      groups,
      before.assignments,
      ctx.clock.now(),
    );
    ({ released, deletedSettings } = await releaseFunctions(trx, org.id, removed));
  });
  if (ids.length > 0) {
    await appendEvents(trx, [
      event(ctx, org.id, 'USERS_MOVED', `${ids.length} user(s) to ${place.group?.name ?? 'no configuration group'}`),
    ]);
  }
  return { applied: true, userIds: ids, released, deletedSettings, after: change.after };
}

/** A configuration group of the organization at `siteId`, for `field`. */
async function groupAt(trx: Executor, org: Organization, id: string, siteId: string, field: string): Promise<ConfigurationGroup> {
  const group = isId(id) ? await repo.findGroup(trx, id, org.id) : undefined;
  if (!group) throw badInput(field, `no configuration group ${id} in this organization`);
  if (group.site_id !== siteId) throw badInput(field, 'the configuration group belongs to another site');
  return group;
}

async function userOf(trx: Executor, org: Organization, id: string, field: string): Promise<User> {
  const user = isId(id) ? await repo.findUser(trx, id, org.id) : undefined;
  if (!user) throw badInput(field, `no user ${id} in this organization`);
  return user;
}

/* ------------------------------------------------------------ organizations */

/** Renames an organization and sets its customer reference once: the platform operator only. */
export async function updateOrganization(
  ctx: Context,
  input: { organizationId: string; name?: string | null; customerRef?: string | null },
): Promise<Organization> {
  requireOperator(ctx.viewer);
  return ctx.writeTransaction(async (trx) => {
    const org = await lockOrganizationFor(ctx, trx, input.organizationId, 'write');
    let updated = org;
    if (input.name != null) {
      const name = cleanName('input.name', input.name);
      await repo.renameOrganization(trx, org.id, name);
      updated = { ...updated, name };
    }
    if (input.customerRef != null) {
      const ref = cleanOptionalText('input.customerRef', input.customerRef);
      if (ref === null) throw badInput('input.customerRef', 'must not be empty', RULES.customerRefOnce);
      if (org.customer_ref !== null && org.customer_ref !== ref) {
        throw badInput(
          'input.customerRef',
          `the customer reference is set once and is ${org.customer_ref}; licence keys carry it (R-KEY-3)`,
          RULES.customerRefOnce,
        );
      }
      if (org.customer_ref === null) {
        if (await repo.customerRefTaken(trx, ref))
          throw badInput('input.customerRef', `customer reference ${ref} is held by another organization`, 'R-KEY-3');
        await repo.setCustomerRefOnce(trx, org.id, ref);
        updated = { ...updated, customer_ref: ref };
      }
    }
    return updated;
  });
}

/* ------------------------------------------------------------ sites */

export async function renameSite(ctx: Context, input: { siteId: string; name: string }): Promise<Site> {
  return ctx.writeTransaction(async (trx) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    await lockedOrganization(trx, site.organization_id);
    const name = cleanName('input.name', input.name);
    if (name !== site.name && (await repo.siteNameTaken(trx, site.organization_id, name)))
      throw badInput('input.name', `a site named "${name}" exists already`);
    await repo.renameSite(trx, site.organization_id, site.id, name);
    return { ...site, name };
  });
}

export interface DeleteReport {
  deletedId: string;
  /** The users moved and what that does to their licences; null when none had to move. */
  consequences: Consequences | null;
}

/**
 * Deletes a site with its configuration groups. A site with users is
 * deleted only with `moveUsersToSiteId` (and optionally a group there):
 * they move first, with the licence consequences of leaving their group.
 */
export async function deleteSite(
  ctx: Context,
  input: { siteId: string; moveUsersToSiteId?: string | null; moveUsersToConfigurationGroupId?: string | null; dryRun?: boolean | null },
): Promise<DeleteReport> {
  return dryable(ctx, input.dryRun, async (trx, write) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    const org = await lockedOrganization(trx, site.organization_id);
    const users = await repo.usersWhere(trx, org.id, 'site_id', site.id);
    let consequences: Consequences | null = null;
    if (users.length > 0) {
      if (input.moveUsersToSiteId == null) {
        throw badInput(
          'input.moveUsersToSiteId',
          `the site has ${users.length} user(s); give moveUsersToSiteId (and optionally moveUsersToConfigurationGroupId) to move them first`,
          RULES.deleteWithUsers,
        );
      }
      const target = isId(input.moveUsersToSiteId) ? await repo.findSite(trx, input.moveUsersToSiteId, org.id) : undefined;
      if (!target) throw badInput('input.moveUsersToSiteId', `no site ${input.moveUsersToSiteId} in this organization`);
      if (target.id === site.id) throw badInput('input.moveUsersToSiteId', 'must be another site than the one deleted');
      const group =
        input.moveUsersToConfigurationGroupId == null
          ? null
          : await groupAt(trx, org, input.moveUsersToConfigurationGroupId, target.id, 'input.moveUsersToConfigurationGroupId');
      consequences = await relocate(ctx, trx, write, org, users, { siteId: target.id, group }, 'input.moveUsersToSiteId');
    }
    await repo.deleteSite(trx, org.id, site.id);
    return { deletedId: site.id, consequences };
  });
}

/* ------------------------------------------------------------ configuration groups */

export async function renameConfigurationGroup(
  ctx: Context,
  input: { configurationGroupId: string; name: string },
): Promise<ConfigurationGroup> {
  return ctx.writeTransaction(async (trx) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    await lockedOrganization(trx, group.organization_id);
    const name = cleanName('input.name', input.name);
    if (name !== group.name && (await repo.groupNameTaken(trx, group.organization_id, group.site_id, name)))
      throw badInput('input.name', `a configuration group named "${name}" exists already at this site`);
    await repo.renameGroup(trx, group.organization_id, group.id, name);
    await appendEvents(trx, [event(ctx, group.organization_id, 'CONFIGURATION_GROUP_CHANGED', `${group.name} renamed to ${name}`)]);
    return { ...group, name };
  });
}

/** Deletes a configuration group; its members move to `moveUsersToConfigurationGroupId` (same site) first. */
export async function deleteConfigurationGroup(
  ctx: Context,
  input: { configurationGroupId: string; moveUsersToConfigurationGroupId?: string | null; dryRun?: boolean | null },
): Promise<DeleteReport> {
  return dryable(ctx, input.dryRun, async (trx, write) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await lockedOrganization(trx, group.organization_id);
    const users = await repo.usersWhere(trx, org.id, 'configuration_group_id', group.id);
    let consequences: Consequences | null = null;
    if (users.length > 0) {
      if (input.moveUsersToConfigurationGroupId == null) {
        throw badInput(
          'input.moveUsersToConfigurationGroupId',
          `the configuration group has ${users.length} member(s); give moveUsersToConfigurationGroupId to move them first`,
          RULES.deleteWithUsers,
        );
      }
      const target = await groupAt(trx, org, input.moveUsersToConfigurationGroupId, group.site_id, 'input.moveUsersToConfigurationGroupId');
      if (target.id === group.id) throw badInput('input.moveUsersToConfigurationGroupId', 'must be another group than the one deleted');
      consequences = await relocate(
        ctx,
        trx,
        write,
        org,
        users,
        { siteId: group.site_id, group: target },
        'input.moveUsersToConfigurationGroupId',
      );
    }
    await repo.deleteGroup(trx, org.id, group.id);
    await appendEvents(trx, [event(ctx, org.id, 'CONFIGURATION_GROUP_CHANGED', `${group.name} deleted`)]);
    return { deletedId: group.id, consequences };
  });
}

/* ------------------------------------------------------------ teams */

export async function renameTeam(ctx: Context, input: { teamId: string; name: string }): Promise<Team> {
  return ctx.writeTransaction(async (trx) => {
    const team = await getTeam(ctx, input.teamId, 'write', trx);
    await lockedOrganization(trx, team.organization_id);
    const name = cleanName('input.name', input.name);
    if (name !== team.name && (await repo.teamNameTaken(trx, team.organization_id, name)))
      throw badInput('input.name', `a team named "${name}" exists already`);
    await repo.renameTeam(trx, team.organization_id, team.id, name);
    return { ...team, name };
  });
}

/**
 * Sets, changes or clears (null) a team's leader (R-ANALYTICS-1: the leader
 * needs no analytics licence). A leader who is not yet a member joins the
 * team, leaving any other.
 */
export async function setTeamLeader(ctx: Context, input: { teamId: string; leaderId?: string | null }): Promise<Team> {
  return ctx.writeTransaction(async (trx) => {
    const team = await getTeam(ctx, input.teamId, 'write', trx);
    const org = await lockedOrganization(trx, team.organization_id);
    if (input.leaderId == null) {
      await repo.setTeamLeader(trx, org.id, team.id, null);
      return { ...team, leader_id: null };
    }
    const leader = await userOf(trx, org, input.leaderId, 'input.leaderId');
    if (leader.team_id !== team.id) await repo.setUsersTeam(trx, org.id, [leader.id], team.id);
    await repo.setTeamLeader(trx, org.id, team.id, leader.id);
    return { ...team, leader_id: leader.id };
  });
}

async function teamUsers(trx: Executor, org: Organization, ids: readonly string[]): Promise<User[]> {
  if (ids.length === 0) throw badInput('input.userIds', 'must name at least one user');
  if (ids.length > MAX_TEAM_CHANGE_USERS) throw badInput('input.userIds', `at most ${MAX_TEAM_CHANGE_USERS} users per change`);
  const users: User[] = [];
  for (const [i, id] of ids.entries()) {
    const user = await userOf(trx, org, id, `input.userIds[${i}]`);
    if (!users.some((u) => u.id === user.id)) users.push(user);
  }
  return users;
}

/** Makes users members of the team (a user has one team: they leave their previous one). */
export async function addTeamMembers(ctx: Context, input: { teamId: string; userIds: readonly string[] }): Promise<Team> {
  return ctx.writeTransaction(async (trx) => {
    const team = await getTeam(ctx, input.teamId, 'write', trx);
    const org = await lockedOrganization(trx, team.organization_id);
    const users = await teamUsers(trx, org, input.userIds);
    await repo.setUsersTeam(
      trx,
      org.id,
      users.map((u) => u.id),
      team.id,
    );
    return team;
  });
}

/** Removes users from the team; removing its leader also clears the leader. */
export async function removeTeamMembers(ctx: Context, input: { teamId: string; userIds: readonly string[] }): Promise<Team> {
  return ctx.writeTransaction(async (trx) => {
    const team = await getTeam(ctx, input.teamId, 'write', trx);
    const org = await lockedOrganization(trx, team.organization_id);
    const users = await teamUsers(trx, org, input.userIds);
    const strangers = users.findIndex((u) => u.team_id !== team.id);
    if (strangers >= 0) throw badInput(`input.userIds[${strangers}]`, `${users[strangers]?.name} is not a member of this team`);
    await repo.setUsersTeam(
      trx,
      org.id,
      users.map((u) => u.id),
      null,
    );
    let leaderId = team.leader_id;
    if (leaderId !== null && users.some((u) => u.id === leaderId)) {
      await repo.setTeamLeader(trx, org.id, team.id, null);
      leaderId = null;
    }
    return { ...team, leader_id: leaderId };
  });
}

/** Deletes a team; its members move to `moveMembersToTeamId` first (team membership holds no licence). */
export async function deleteTeam(
  ctx: Context,
  input: { teamId: string; moveMembersToTeamId?: string | null; dryRun?: boolean | null },
): Promise<DeleteReport & { movedUserIds: string[] }> {
  return dryable(ctx, input.dryRun, async (trx) => {
    const team = await getTeam(ctx, input.teamId, 'write', trx);
    const org = await lockedOrganization(trx, team.organization_id);
    const members = await repo.usersWhere(trx, org.id, 'team_id', team.id);
    if (members.length > 0) {
      if (input.moveMembersToTeamId == null) {
        throw badInput(
          'input.moveMembersToTeamId',
          `the team has ${members.length} member(s); give moveMembersToTeamId to move them first`,
          RULES.deleteWithUsers,
        );
      }
      const target = isId(input.moveMembersToTeamId) ? await repo.findTeam(trx, input.moveMembersToTeamId, org.id) : undefined;
      if (!target) throw badInput('input.moveMembersToTeamId', `no team ${input.moveMembersToTeamId} in this organization`);
      if (target.id === team.id) throw badInput('input.moveMembersToTeamId', 'must be another team than the one deleted');
      await repo.setUsersTeam(
        trx,
        org.id,
        members.map((u) => u.id),
        target.id,
      );
    }
    await repo.deleteTeam(trx, org.id, team.id);
    return { deletedId: team.id, consequences: null, movedUserIds: members.map((u) => u.id) };
  });
}

/* ------------------------------------------------------------ users */

export interface UpdateUserInput {
  userId: string;
  name?: string | null;
  /** null clears it. */
  email?: string | null;
  role?: UserRole | null;
  siteId?: string | null;
  /** null: no group; absent: unchanged (or none, when the site changes). */
  configurationGroupId?: string | null;
  /** null: no team; absent: unchanged. */
  teamId?: string | null;
  dryRun?: boolean | null;
}

/**
 * Renames a user, changes e-mail and role, moves them to another site,
 * configuration group or team. A move of site or group has the licence
 * consequences moveUsers reports (R-NAMED-4), with dryRun. The status has
 * its own mutation (updateUserStatus).
 */
export async function updateUser(ctx: Context, input: UpdateUserInput): Promise<{ user: User; consequences: Consequences | null }> {
  return dryable(ctx, input.dryRun, async (trx, write) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const org = await lockedOrganization(trx, user.organization_id);
    const change: Partial<Pick<User, 'name' | 'email' | 'role'>> = {};
    if (input.name != null) change.name = cleanName('input.name', input.name);
    if (input.email !== undefined) change.email = cleanEmail('input.email', input.email);
    if (input.role != null) change.role = input.role;
    let siteId = user.site_id;
    if (input.siteId != null) {
      const site = isId(input.siteId) ? await repo.findSite(trx, input.siteId, org.id) : undefined;
      if (!site) throw badInput('input.siteId', `no site ${input.siteId} in this organization`);
      siteId = site.id;
    }
    let groupId = user.configuration_group_id;
    if (input.configurationGroupId !== undefined) groupId = input.configurationGroupId;
    else if (siteId !== user.site_id) groupId = null; // a group belongs to one site: leaving the site leaves it
    const group = groupId === null ? null : await groupAt(trx, org, groupId, siteId, 'input.configurationGroupId');
    let teamId = user.team_id;
    if (input.teamId !== undefined) {
      if (input.teamId === null) teamId = null;
      else {
        const team = isId(input.teamId) ? await repo.findTeam(trx, input.teamId, org.id) : undefined;
        if (!team) throw badInput('input.teamId', `no team ${input.teamId} in this organization`);
        teamId = team.id;
      }
    }
    await repo.updateUserFields(trx, org.id, user.id, change);
    if (teamId !== user.team_id) await repo.setUsersTeam(trx, org.id, [user.id], teamId);
    let consequences: Consequences | null = null;
    if (siteId !== user.site_id || (group?.id ?? null) !== user.configuration_group_id) {
      consequences = await relocate(
        ctx,
        trx,
        write,
        org,
        [user],
        { siteId, group },
        input.configurationGroupId !== undefined ? 'input.configurationGroupId' : 'input.siteId',
      );
    }
    const updated: User = { ...user, ...change, site_id: siteId, configuration_group_id: group?.id ?? null, team_id: teamId };
    return { user: updated, consequences };
  });
}
