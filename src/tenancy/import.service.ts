import { GraphQLError } from 'graphql';
import { actorOf } from '../auth/viewer.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { NewUser } from '../db/schema.ts';
import { badInput } from '../errors.ts';
import { appendEvents } from '../events/events.repository.ts';
import { newId } from '../ids.ts';
import type { AllocationWrite } from '../allocation/cache.ts';
import { syncGroupRows } from '../allocation/persist.ts';
import { changeConfiguration } from '../assignments/assignments.service.ts';
import { catalogOf, lockOrganizationFor } from './access.ts';
import type { ConfigurationGroup, Organization, UserRole, UserStatus } from './domain.ts';
import * as repo from './tenancy.repository.ts';
import { cleanEmail, cleanName, MAX_IMPORT_USERS } from './validate.ts';

/*
 * importUsers: up to MAX_IMPORT_USERS users in one transaction, all or
 * nothing. Every row is checked first (name, e-mail, site, group, team by
 * name or id, duplicates); when any row is refused nothing is written and
 * every row's answer says why. Then all users are created in one
 * configuration change (changeConfiguration): the licence rules hold for the
 * batch as a whole (base licences, REFUSE products, R-REASSIGN), and a
 * refusal of those refuses the import with the rule. dryRun runs all of it
 * and rolls back.
 */

export { MAX_IMPORT_USERS };

export interface ImportRow {
  name: string;
  email?: string | null;
  /** A site of the organization, by id or by name. */
  site: string;
  /** A configuration group of that site, by id or name; none by default. */
  configurationGroup?: string | null;
  /** A team of the organization, by id or name; none by default. */
  team?: string | null;
  role: UserRole;
  status?: UserStatus | null;
}

export interface RowAnswer {
  index: number;
  created: boolean;
  userId: string | null;
  field: string | null;
  rule: string | null;
  message: string | null;
}

export interface ImportReport {
  applied: boolean;
  created: number;
  refused: number;
  rows: RowAnswer[];
}

/** The rule of the import's own refusals (issue-local). */
export const IMPORT_RULE = 'ADMIN-IMPORT-1';

class Rollback extends Error {
  constructor(readonly report: ImportReport) {
    super('import rolled back');
  }
}

function byIdOrName<T extends { id: string; name: string }>(rows: readonly T[]): (key: string) => T | undefined {
  const ids = new Map(rows.map((r) => [r.id, r]));
  const names = new Map<string, T>();
  for (const r of rows) names.set(r.name.toLowerCase(), r);
  return (key) => ids.get(key) ?? names.get(key.trim().toLowerCase());
}

/** The refusal of one row: its field (`input.users[i].email`) and why. */
function refusalOf(error: unknown): { field: string; message: string; rule: string | null } | null {
  if (!(error instanceof GraphQLError)) return null;
  const { code, field, rule } = error.extensions;
  if (code !== 'BAD_USER_INPUT' || typeof field !== 'string') return null;
  return { field, message: error.message, rule: typeof rule === 'string' ? rule : null };
}

export async function importUsers(
  ctx: Context,
  input: { organizationId: string; users: readonly ImportRow[]; dryRun?: boolean | null },
): Promise<ImportReport> {
  if (input.users.length === 0) throw badInput('input.users', 'must hold at least one user', IMPORT_RULE);
  if (input.users.length > MAX_IMPORT_USERS) throw badInput('input.users', `at most ${MAX_IMPORT_USERS} users per import`, 'R-SEC-3');
  try {
    return await ctx.writeTransaction(async (trx, write) => {
      const org = await lockOrganizationFor(ctx, trx, input.organizationId, 'write');
      const report = await importInto(ctx, trx, write, org, input.users);
      if (!report.applied || input.dryRun) throw new Rollback({ ...report, applied: false });
      return report;
    });
  } catch (error) {
    if (error instanceof Rollback) return error.report;
    throw error;
  }
}

async function importInto(
  ctx: Context,
  trx: Executor,
  write: AllocationWrite,
  org: Organization,
  users: readonly ImportRow[],
): Promise<ImportReport> {
  const now = ctx.clock.now();
  const siteRows = await repo.sitesOfOrganization(trx, org.id);
  const sites = byIdOrName(siteRows);
  const groupsBySite = new Map<string, (key: string) => ConfigurationGroup | undefined>();
  const allGroups =
    siteRows.length > 0
      ? await repo.groupsOfSites(
          trx,
          siteRows.map((s) => s.id),
        )
      : [];
  for (const site of siteRows) groupsBySite.set(site.id, byIdOrName(allGroups.filter((g) => g.site_id === site.id)));
  const teams = byIdOrName(await repo.teamsOfOrganization(trx, org.id));
  const emails = users.map((u) => cleanEmailOrNull(u.email)).filter((e): e is string => e !== null);
  const taken = new Set(await repo.usersWithEmails(trx, org.id, emails));
  const seen = new Set<string>();

  const rows: RowAnswer[] = [];
  const inserts: NewUser[] = [];
  const groupOf = new Map<string, ConfigurationGroup>();
  users.forEach((u, index) => {
    const at = `input.users[${index}]`;
    try {
      const name = cleanName(`${at}.name`, u.name);
      const email = cleanEmail(`${at}.email`, u.email);
      if (email !== null) {
        const key = email.toLowerCase();
        if (taken.has(key)) throw badInput(`${at}.email`, `a user with e-mail ${email} exists already`, IMPORT_RULE);
        if (seen.has(key)) throw badInput(`${at}.email`, `e-mail ${email} appears twice in this import`, IMPORT_RULE);
        seen.add(key);
      }
      const site = sites(u.site);
      if (!site) throw badInput(`${at}.site`, `no site "${u.site}" in this organization`, IMPORT_RULE);
      let group: ConfigurationGroup | undefined;
      if (u.configurationGroup != null && u.configurationGroup.trim() !== '') {
        group = groupsBySite.get(site.id)?.(u.configurationGroup);
        if (!group)
          throw badInput(`${at}.configurationGroup`, `no configuration group "${u.configurationGroup}" at site ${site.name}`, IMPORT_RULE);
      }
      let teamId: string | null = null;
      if (u.team != null && u.team.trim() !== '') {
        const team = teams(u.team);
        if (!team) throw badInput(`${at}.team`, `no team "${u.team}" in this organization`, IMPORT_RULE);
        teamId = team.id;
      }
      const id = newId(now);
      inserts.push({
        organization_id: org.id,
        id,
        site_id: site.id,
        configuration_group_id: group?.id ?? null,
        team_id: teamId,
        name,
        email,
        role: u.role,
        status: u.status ?? 'ACTIVE',
        created_at: now,
      });
      if (group) groupOf.set(id, group);
      rows.push({ index, created: true, userId: id, field: null, rule: null, message: null });
    } catch (error) {
      const refused = refusalOf(error);
      if (!refused) throw error;
      rows.push({ index, created: false, userId: null, field: refused.field, rule: refused.rule, message: refused.message });
    }
  });
  const refused = rows.filter((r) => !r.created).length;
  if (refused > 0) {
    // All or nothing: no row is created when one is refused.
    return { applied: false, created: 0, refused, rows: rows.map((r) => (r.created ? { ...r, created: false, userId: null } : r)) };
  }
  const catalog = catalogOf(ctx, org);
  if (catalog.maxUsers !== null && (await repo.countUsers(trx, org.id)) + inserts.length > catalog.maxUsers) {
    throw badInput('input.users', `the ${org.catalog_code} catalog allows at most ${catalog.maxUsers} users per organization`, 'R-TEN-3');
  }
  await changeConfiguration(ctx, write, org, catalog, { field: 'input.users' }, async (before) => {
    await repo.insertUsers(trx, inserts, now);
    const grouped = inserts
      .filter((u) => u.configuration_group_id != null)
      .map((u) => ({ id: u.id, groupId: u.configuration_group_id ?? null }));
    const groups = new Map([...groupOf.values()].map((g) => [g.id, g]));
    if (grouped.length > 0) await syncGroupRows(trx, org.id, grouped, groups, before.assignments, now);
  });
  await appendEvents(
    trx,
    inserts.map((u) => ({
      organizationId: org.id,
      type: 'USER_CREATED' as const,
      at: now,
      userId: u.id,
      detail: `${u.name} (${u.role}, ${u.status}; imported)`,
      ...actorOf(ctx.viewer),
    })),
  );
  return { applied: true, created: inserts.length, refused: 0, rows };
}

function cleanEmailOrNull(value: string | null | undefined): string | null {
  try {
    return cleanEmail('email', value);
  } catch {
    return null;
  }
}
