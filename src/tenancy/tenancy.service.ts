import { actorOf, requireOperator } from '../auth/viewer.ts';
import { catalogOf, getOrganization, getSite, getUser } from './access.ts';
import type { Context } from '../context.ts';
import type { Executor, Trx } from '../db/database.ts';
import { badInput, notFound } from '../errors.ts';
import type { EventType } from '../events/event.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import { billingPeriod } from '../licensing/billing.ts';
import { withTransaction } from '../db/transaction.ts';
import { syncGroupRows } from '../allocation/persist.ts';
import { changeConfiguration } from '../assignments/assignments.service.ts';
import { endSessionsOfUsers, userEndReason } from '../sessions/end.ts';
import type { Page } from '../db/pages.ts';
import * as repo from './tenancy.repository.ts';
import type { Organization, User, UserRole, UserStatus, ConfigurationGroup, Site, Team } from './domain.ts';
import {
  cleanEmail,
  cleanName,
  cleanOptionalText,
  MAX_SITES_PER_ORGANIZATION,
  MAX_TEAMS_PER_ORGANIZATION,
  validateGroupConfig,
} from './validate.ts';

/*
 * User writes follow the lock order of src/sessions/lock-order.ts: the
 * organization row (FOR NO KEY UPDATE), then the user row (update or
 * delete, which waits for a start of that user in flight), then every seat
 * pool (changeConfiguration stores their sizes), then the user's sessions.
 */
async function lockedOrganization(trx: Executor, id: string): Promise<Organization> {
  const org = await repo.lockOrganization(trx, id);
  if (!org) throw new Error(`organization ${id} vanished under lock`);
  return org;
}

function event(ctx: Context, organizationId: string, type: EventType, extra: { userId?: string; detail?: string } = {}) {
  return { organizationId, type, at: ctx.clock.now(), ...extra, ...actorOf(ctx.viewer) };
}

/* ------------------------------------------------------------ organizations */

export const MAX_ORGANIZATION_FILTER_LENGTH = 200;

/** A page of every organization, optionally only those whose name contains `name`: the platform operator only. */
export async function listOrganizations(ctx: Context, page: Page, name: string | null | undefined): Promise<Organization[]> {
  requireOperator(ctx.viewer);
  const contains = name?.trim() || null;
  if (contains && contains.length > MAX_ORGANIZATION_FILTER_LENGTH) {
    throw badInput('filter.name', `may have at most ${MAX_ORGANIZATION_FILTER_LENGTH} characters`);
  }
  return repo.pageOfOrganizations(ctx.db, page, contains);
}

export async function createOrganization(
  ctx: Context,
  input: { name: string; catalog: string; customerRef?: string | null },
): Promise<Organization> {
  requireOperator(ctx.viewer);
  const name = cleanName('input.name', input.name);
  if (!ctx.catalogs.has(input.catalog)) {
    throw badInput('input.catalog', `unknown catalog "${input.catalog}"; known: ${[...ctx.catalogs.keys()].sort().join(', ')}`, 'R-CAT-1');
  }
  const row = {
    id: newId(ctx.clock.now()),
    name,
    catalog_code: input.catalog,
    customer_ref: cleanOptionalText('input.customerRef', input.customerRef),
    clock_high_water: null,
    created_at: ctx.clock.now(),
    license_key_id: null,
    license_check_at: null,
  };
  // A customer reference belongs to one organization (unique index, migration 0008; R-KEY-3).
  const refTaken = () => badInput('input.customerRef', `customer reference ${row.customer_ref} is held by another organization`, 'R-KEY-3');
  try {
    return await withTransaction(ctx.db, async (trx) => {
      if (row.customer_ref !== null && (await repo.customerRefTaken(trx, row.customer_ref))) throw refTaken();
      await repo.insertOrganization(trx, row);
      await appendEvents(trx, [event(ctx, row.id, 'ORGANIZATION_CREATED', { detail: `catalog ${row.catalog_code}` })]);
      return { ...row, license_state: 'NONE', revision: 0 };
    });
  } catch (error) {
    // Lost a race for the reference to a concurrent creation or activation.
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === '23505' && row.customer_ref !== null)
      throw refTaken();
    throw error;
  }
}

/* ------------------------------------------------------------ sites */

export async function createSite(ctx: Context, input: { organizationId: string; name: string }): Promise<Site> {
  return withTransaction(ctx.db, async (trx) => {
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const name = cleanName('input.name', input.name);
    await withinBound(trx, org.id, 'sites', MAX_SITES_PER_ORGANIZATION);
    if (await repo.siteNameTaken(trx, org.id, name)) throw badInput('input.name', `a site named "${name}" exists already`);
    const row: Site = { organization_id: org.id, id: newId(ctx.clock.now()), name, created_at: ctx.clock.now() };
    await repo.insertSite(trx, row);
    return row;
  });
}

/**
 * Refuses one more site or team beyond the organization's bound. Locks the
 * organization row first (step 1 of the lock order), so two creations racing
 * for the last place are counted one after the other.
 */
async function withinBound(trx: Trx, organizationId: string, table: 'sites' | 'teams', max: number): Promise<void> {
  await repo.lockOrganization(trx, organizationId);
  if ((await repo.countOf(trx, table, organizationId)) >= max) {
    throw badInput('input.organizationId', `the organization has ${max} ${table}, the most one may have`, 'R-SEC-3');
  }
}

/* ------------------------------------------------------------ configuration groups */

export async function createConfigurationGroup(
  ctx: Context,
  input: { siteId: string; name: string; functions: readonly string[]; options?: readonly string[] | null },
): Promise<ConfigurationGroup> {
  return withTransaction(ctx.db, async (trx) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    const org = await getOrganization(ctx, site.organization_id, 'write', trx);
    const name = cleanName('input.name', input.name);
    const config = validateGroupConfig(catalogOf(ctx, org), input.functions, input.options ?? []);
    if (await repo.groupNameTaken(trx, org.id, site.id, name)) {
      throw badInput('input.name', `a configuration group named "${name}" exists already at this site`);
    }
    const row: ConfigurationGroup = {
      organization_id: org.id,
      id: newId(ctx.clock.now()),
      site_id: site.id,
      name,
      ...config,
      created_at: ctx.clock.now(),
    };
    await repo.insertGroup(trx, row);
    return row;
  });
}

/* ------------------------------------------------------------ teams */

export async function createTeam(ctx: Context, input: { organizationId: string; name: string; leaderId?: string | null }): Promise<Team> {
  return withTransaction(ctx.db, async (trx) => {
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const name = cleanName('input.name', input.name);
    let leaderId: string | null = null;
    if (input.leaderId != null) {
      const leader = isId(input.leaderId) ? await repo.findUser(trx, input.leaderId, org.id) : undefined;
      if (!leader) throw badInput('input.leaderId', `no user ${input.leaderId} in this organization`);
      leaderId = leader.id;
    }
    await withinBound(trx, org.id, 'teams', MAX_TEAMS_PER_ORGANIZATION);
    if (await repo.teamNameTaken(trx, org.id, name)) throw badInput('input.name', `a team named "${name}" exists already`);
    const row: Team = { organization_id: org.id, id: newId(ctx.clock.now()), name, leader_id: leaderId, created_at: ctx.clock.now() };
    await repo.insertTeam(trx, row);
    return row;
  });
}

/* ------------------------------------------------------------ users */

export async function createUser(
  ctx: Context,
  input: {
    siteId: string;
    name: string;
    role: UserRole;
    email?: string | null;
    status?: UserStatus | null;
    configurationGroupId?: string | null;
    teamId?: string | null;
  },
): Promise<User> {
  return ctx.writeTransaction(async (trx, write) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    // The row lock makes the maxUsers check and the insert one step for every instance (R-TEN-3).
    const org = await repo.lockOrganization(trx, site.organization_id);
    if (!org) throw notFound('site', input.siteId);
    const name = cleanName('input.name', input.name);
    const email = cleanEmail('input.email', input.email);
    let group: ConfigurationGroup | undefined;
    if (input.configurationGroupId != null) {
      group = isId(input.configurationGroupId) ? await repo.findGroup(trx, input.configurationGroupId, org.id) : undefined;
      if (!group) throw badInput('input.configurationGroupId', `no configuration group ${input.configurationGroupId} in this organization`);
      if (group.site_id !== site.id) throw badInput('input.configurationGroupId', 'the configuration group belongs to another site');
    }
    let teamId: string | null = null;
    if (input.teamId != null) {
      const team = isId(input.teamId) ? await repo.findTeam(trx, input.teamId, org.id) : undefined;
      if (!team) throw badInput('input.teamId', `no team ${input.teamId} in this organization`);
      teamId = team.id;
    }
    const maxUsers = catalogOf(ctx, org).maxUsers;
    if (maxUsers !== null && (await repo.countUsers(trx, org.id)) >= maxUsers) {
      throw badInput('input.siteId', `the ${org.catalog_code} catalog allows at most ${maxUsers} users per organization`, 'R-TEN-3');
    }
    const now = ctx.clock.now();
    const row: User = {
      organization_id: org.id,
      id: newId(now),
      site_id: site.id,
      configuration_group_id: group?.id ?? null,
      team_id: teamId,
      name,
      email,
      role: input.role,
      status: input.status ?? 'ACTIVE',
      created_at: now,
    };
    await changeConfiguration(ctx, write, org, catalogOf(ctx, org), { field: 'input.configurationGroupId' }, async (before) => {
      await repo.insertUser(trx, row);
      await repo.recordStatus(trx, org.id, row.id, row.status, now);
      if (group)
        await syncGroupRows(trx, org.id, [{ id: row.id, groupId: group.id }], new Map([[group.id, group]]), before.assignments, now);
    });
    await appendEvents(trx, [event(ctx, org.id, 'USER_CREATED', { userId: row.id, detail: `${row.name} (${row.role}, ${row.status})` })]);
    return row;
  });
}

export async function updateUserStatus(ctx: Context, input: { userId: string; status: UserStatus }): Promise<User> {
  return ctx.writeTransaction(async (trx, write) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    if (user.status === input.status) return user;
    const now = ctx.clock.now();
    const org = await lockedOrganization(trx, user.organization_id);
    // Only active users hold named licences: the status decides who is next in line (R-UNDER-3).
    await changeConfiguration(ctx, write, org, catalogOf(ctx, org), { field: 'input.status' }, async () => {
      await repo.setUserStatus(trx, user.organization_id, user.id, input.status);
      await repo.recordStatus(trx, user.organization_id, user.id, input.status, now);
    });
    await appendEvents(trx, [
      event(ctx, user.organization_id, 'USER_STATUS_CHANGED', { userId: user.id, detail: `${user.status} -> ${input.status}` }),
    ]);
    // Only ACTIVE users hold sessions (R-TEN-1): leaving ACTIVE ends the open one in this transaction, seats freed.
    const reason = userEndReason(input.status);
    if (reason) await endSessionsOfUsers(ctx, trx, user.organization_id, [user.id], reason);
    return { ...user, status: input.status };
  });
}

export async function deleteUser(ctx: Context, input: { userId: string }): Promise<string> {
  return ctx.writeTransaction(async (trx, write) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const now = ctx.clock.now();
    const org = await lockedOrganization(trx, user.organization_id);
    // Freed licences go to the next in line; a base licence keeps its cool-down window (R-REASSIGN-2).
    await changeConfiguration(ctx, write, org, catalogOf(ctx, org), { field: 'input.userId' }, async () => {
      await repo.deleteUser(trx, user.organization_id, user.id);
      // History stays: the billing period still counts the user (R-TEN-2), the log still names them.
      await repo.recordStatus(trx, user.organization_id, user.id, 'DELETED', now);
    });
    await appendEvents(trx, [event(ctx, user.organization_id, 'USER_DELETED', { userId: user.id, detail: user.name })]);
    // A deleted user keeps no seat: the open session ends in this transaction (SESSION_ENDED, USER_DELETED).
    await endSessionsOfUsers(ctx, trx, user.organization_id, [user.id], 'USER_DELETED');
    return user.id;
  });
}

/* ------------------------------------------------------------ counts */

export function activeUsersInBillingPeriod(ctx: Context, organizationId: string): Promise<number> {
  const now = ctx.clock.now();
  const { from } = billingPeriod(now);
  // Up to now (inclusive): a status change recorded at this very instant counts.
  return repo.countActiveBetween(ctx.db, organizationId, from, new Date(now.getTime() + 1));
}
