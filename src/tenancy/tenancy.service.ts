import { actorOf, authorize, requireAuthenticated, requireOperator, viewerOrganization, type Permission } from '../auth/viewer.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { ConfigurationGroupRow, OrganizationRow, SiteRow, TeamRow, UserRow } from '../db/schema.ts';
import { badInput, notFound } from '../errors.ts';
import { appendEvents } from '../events/events.repository.ts';
import { isId, newId } from '../ids.ts';
import * as repo from './tenancy.repository.ts';
import { cleanEmail, cleanName, cleanOptionalText } from './validate.ts';

export const USER_ROLES = ['AGENT', 'SUPERVISOR', 'TEAM_LEAD', 'ADMINISTRATOR', 'UC_USER', 'VIEWER'] as const;
export type UserRole = (typeof USER_ROLES)[number];
export const USER_STATUSES = ['PREPARING', 'ACTIVE', 'INACTIVE'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/* ------------------------------------------------------------ lookups with authorization */

/**
 * Loads an entity and checks the viewer may act on its organization. Ids of
 * the wrong shape, missing rows and rows of another organization all give the
 * same NOT_FOUND (R-SEC-2).
 */
async function load<T extends { organization_id: string }>(
  ctx: Context,
  db: Executor,
  what: string,
  id: string,
  permission: Permission,
  find: (db: Executor, id: string, organizationId: string | null) => Promise<T | undefined>,
): Promise<T> {
  requireAuthenticated(ctx.viewer);
  const row = isId(id) ? await find(db, id, viewerOrganization(ctx.viewer)) : undefined;
  if (!row) throw notFound(what, id);
  authorize(ctx.viewer, row.organization_id, permission, what, id);
  return row;
}

export async function getOrganization(ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db): Promise<OrganizationRow> {
  requireAuthenticated(ctx.viewer);
  const org = isId(id) ? await repo.findOrganization(db, id) : undefined;
  if (!org) throw notFound('organization', id);
  authorize(ctx.viewer, org.id, permission, 'organization', id);
  return org;
}

export const getSite = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'site', id, permission, repo.findSite);
export const getGroup = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'configuration group', id, permission, repo.findGroup);
export const getTeam = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'team', id, permission, repo.findTeam);
export const getUser = (ctx: Context, id: string, permission: Permission = 'read', db: Executor = ctx.db) =>
  load(ctx, db, 'user', id, permission, repo.findUser);

export function catalogOf(ctx: Context, org: OrganizationRow): Catalog {
  const catalog = ctx.catalogs.get(org.catalog_code);
  // Organizations are only created with a known catalog; a missing one is a deployment error.
  if (!catalog) throw new Error(`catalog ${org.catalog_code} of organization ${org.id} is not loaded`);
  return catalog;
}

function event(ctx: Context, organizationId: string, type: string, extra: { userId?: string; detail?: string } = {}) {
  return { organizationId, type, at: ctx.clock.now(), ...extra, ...actorOf(ctx.viewer) };
}

/* ------------------------------------------------------------ organizations */

export async function createOrganization(ctx: Context, input: { name: string; catalog: string; customerRef?: string | null }): Promise<OrganizationRow> {
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
  return ctx.db.transaction().execute(async (trx) => {
    await repo.insertOrganization(trx, row);
    await appendEvents(trx, [event(ctx, row.id, 'ORGANIZATION_CREATED', { detail: `catalog ${row.catalog_code}` })]);
    return { ...row, license_state: 'NONE' };
  });
}

/* ------------------------------------------------------------ sites */

export async function createSite(ctx: Context, input: { organizationId: string; name: string }): Promise<SiteRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const name = cleanName('input.name', input.name);
    if (await repo.siteNameTaken(trx, org.id, name)) throw badInput('input.name', `a site named "${name}" exists already`);
    const row: SiteRow = { organization_id: org.id, id: newId(ctx.clock.now()), name, created_at: ctx.clock.now() };
    await repo.insertSite(trx, row);
    return row;
  });
}

/* ------------------------------------------------------------ configuration groups */

/** Functions are products a user can hold; options must be ones the catalog knows. */
export function validateGroupConfig(catalog: Catalog, functions: readonly string[], options: readonly string[]): { functions: string[]; options: string[] } {
  const seen = new Set<string>();
  functions.forEach((code, i) => {
    const product = catalog.products.find((p) => p.code === code);
    if (!product) throw badInput(`input.functions[${i}]`, `unknown product "${code}" in catalog ${catalog.code}`);
    if (product.allocation === 'ACCOUNT') {
      throw badInput(`input.functions[${i}]`, `${code} is held by the organization as a whole and cannot be a user function`);
    }
    if (!product.purchasable) throw badInput(`input.functions[${i}]`, `${code} comes only as part of another product`);
    seen.add(code);
  });
  const opts = new Set<string>();
  options.forEach((option, i) => {
    if (!catalog.options.includes(option)) {
      throw badInput(`input.options[${i}]`, `unknown option "${option}"; ${catalog.code} knows ${catalog.options.join(', ') || 'no options'}`);
    }
    opts.add(option);
  });
  return { functions: [...seen], options: [...opts] };
}

export async function createConfigurationGroup(
  ctx: Context,
  input: { siteId: string; name: string; functions: readonly string[]; options?: readonly string[] | null },
): Promise<ConfigurationGroupRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    const org = await getOrganization(ctx, site.organization_id, 'write', trx);
    const name = cleanName('input.name', input.name);
    const config = validateGroupConfig(catalogOf(ctx, org), input.functions, input.options ?? []);
    if (await repo.groupNameTaken(trx, org.id, site.id, name)) {
      throw badInput('input.name', `a configuration group named "${name}" exists already at this site`);
    }
    const row: ConfigurationGroupRow = {
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

export async function updateConfigurationGroup(
  ctx: Context,
  input: { configurationGroupId: string; functions?: readonly string[] | null; options?: readonly string[] | null },
): Promise<ConfigurationGroupRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const group = await getGroup(ctx, input.configurationGroupId, 'write', trx);
    const org = await getOrganization(ctx, group.organization_id, 'write', trx);
    const config = validateGroupConfig(catalogOf(ctx, org), input.functions ?? group.functions, input.options ?? group.options);
    await repo.updateGroup(trx, org.id, group.id, config);
    await appendEvents(trx, [event(ctx, org.id, 'CONFIGURATION_GROUP_CHANGED', { detail: `${group.name}: functions ${config.functions.join(', ') || '(none)'}; options ${config.options.join(', ') || '(none)'}` })]);
    return { ...group, ...config };
  });
}

/* ------------------------------------------------------------ teams */

export async function createTeam(ctx: Context, input: { organizationId: string; name: string; leaderId?: string | null }): Promise<TeamRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const org = await getOrganization(ctx, input.organizationId, 'write', trx);
    const name = cleanName('input.name', input.name);
    let leaderId: string | null = null;
    if (input.leaderId != null) {
      const leader = isId(input.leaderId) ? await repo.findUser(trx, input.leaderId, org.id) : undefined;
      if (!leader) throw badInput('input.leaderId', `no user ${input.leaderId} in this organization`);
      leaderId = leader.id;
    }
    if (await repo.teamNameTaken(trx, org.id, name)) throw badInput('input.name', `a team named "${name}" exists already`);
    const row: TeamRow = { organization_id: org.id, id: newId(ctx.clock.now()), name, leader_id: leaderId, created_at: ctx.clock.now() };
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
): Promise<UserRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const site = await getSite(ctx, input.siteId, 'write', trx);
    // The row lock makes the maxUsers check and the insert one step for every instance (R-TEN-3).
    const org = await repo.lockOrganization(trx, site.organization_id);
    if (!org) throw notFound('site', input.siteId);
    const name = cleanName('input.name', input.name);
    const email = cleanEmail('input.email', input.email);
    let groupId: string | null = null;
    if (input.configurationGroupId != null) {
      const group = isId(input.configurationGroupId) ? await repo.findGroup(trx, input.configurationGroupId, org.id) : undefined;
      if (!group) throw badInput('input.configurationGroupId', `no configuration group ${input.configurationGroupId} in this organization`);
      if (group.site_id !== site.id) throw badInput('input.configurationGroupId', 'the configuration group belongs to another site');
      groupId = group.id;
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
    const row: UserRow = {
      organization_id: org.id,
      id: newId(now),
      site_id: site.id,
      configuration_group_id: groupId,
      team_id: teamId,
      name,
      email,
      role: input.role,
      status: input.status ?? 'ACTIVE',
      created_at: now,
    };
    await repo.insertUser(trx, row);
    await repo.recordStatus(trx, org.id, row.id, row.status, now);
    await appendEvents(trx, [event(ctx, org.id, 'USER_CREATED', { userId: row.id, detail: `${row.name} (${row.role}, ${row.status})` })]);
    return row;
  });
}

export async function updateUserStatus(ctx: Context, input: { userId: string; status: UserStatus }): Promise<UserRow> {
  return ctx.db.transaction().execute(async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    if (user.status === input.status) return user;
    const now = ctx.clock.now();
    await repo.setUserStatus(trx, user.organization_id, user.id, input.status);
    await repo.recordStatus(trx, user.organization_id, user.id, input.status, now);
    await appendEvents(trx, [event(ctx, user.organization_id, 'USER_STATUS_CHANGED', { userId: user.id, detail: `${user.status} -> ${input.status}` })]);
    return { ...user, status: input.status };
  });
}

export async function deleteUser(ctx: Context, input: { userId: string }): Promise<string> {
  return ctx.db.transaction().execute(async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    const now = ctx.clock.now();
    await repo.deleteUser(trx, user.organization_id, user.id);
    // History stays: the billing period still counts the user (R-TEN-2), the log still names them.
    await repo.recordStatus(trx, user.organization_id, user.id, 'DELETED', now);
    await appendEvents(trx, [event(ctx, user.organization_id, 'USER_DELETED', { userId: user.id, detail: user.name })]);
    return user.id;
  });
}

/* ------------------------------------------------------------ counts */

/** The calendar month (UTC) containing `now`: the billing period (R-TEN-2). */
export function billingPeriod(now: Date): { from: Date; to: Date } {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { from, to };
}

export function activeUsersInBillingPeriod(ctx: Context, organizationId: string): Promise<number> {
  const now = ctx.clock.now();
  const { from } = billingPeriod(now);
  // Up to now (inclusive): a status change recorded at this very instant counts.
  return repo.countActiveBetween(ctx.db, organizationId, from, new Date(now.getTime() + 1));
}
