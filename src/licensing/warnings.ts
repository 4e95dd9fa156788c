/**
 * What needs an administrator's attention, as plain data: the organization's
 * warnings (R-LIFE, R-NAMED-3, R-UNDER-2, R-ANALYTICS-2, R-ADDON-1, sizing
 * advisories) and each user's (R-UNDER-2, R-NAMED-3). Pure: the caller passes
 * the allocation and what it was computed from; the GraphQL layer turns
 * product codes and team ids into objects.
 *
 * @example
 * const warnings = organizationWarnings({ catalog, status, entitlements, result, activeUsers, teams });
 * warnings.filter((w) => w.code === 'UNDERLICENSED');
 */
import type { Catalog } from '../catalogs/types.ts';
import { type AllocationResult, type UserLicense, userWarnings } from './allocation.ts';
import { type EntitlementView, organizationPrerequisiteGaps } from './entitlements.ts';
import type { LicenseStatusResult } from './lifecycle.ts';
import { addOnCoverage, capacityAdvisories, teamAnalytics } from './reports.ts';

/** Every code a warning can carry (the GraphQL `WarningCode` enum). */
export const WARNING_CODES = [
  'RENEWAL_DUE',
  'LICENSE_IN_GRACE',
  'DEMO_MODE',
  'CLOCK_ROLLBACK',
  'MISSING_PREREQUISITE',
  'UNDERLICENSED',
  'UNLICENSED',
  'ANALYTICS_UNDERLICENSED',
  'ADDON_SHORTFALL',
  'CAPACITY_ADVISORY',
] as const;
export type WarningCode = (typeof WARNING_CODES)[number];

/** One warning; `product` is a product code of the catalog, `teamId` the team it is about. */
export interface Warning {
  code: WarningCode;
  message: string;
  product: string | null;
  teamId: string | null;
}

/** A team as the analytics warning needs it. */
export interface TeamMembers {
  id: string;
  name: string;
  leaderId: string | null;
  memberIds: readonly string[];
}

export interface OrganizationWarningsInput {
  catalog: Catalog;
  status: Pick<LicenseStatusResult, 'warnings' | 'fullUse'>;
  entitlements: readonly EntitlementView[];
  result: AllocationResult;
  /** Users with status ACTIVE now. */
  activeUsers: number;
  /** The organization's teams, in the order their warnings are listed; only read when the catalog has team analytics. */
  teams: readonly TeamMembers[];
}

/** Everything about the organization as a whole that needs an administrator's attention, in a fixed order. */
export function organizationWarnings(input: OrganizationWarningsInput): Warning[] {
  const { catalog, status, entitlements, result } = input;
  const warnings: Warning[] = status.warnings.map((w) => ({ code: w.code, message: w.message, product: null, teamId: null }));
  for (const gap of organizationPrerequisiteGaps(catalog, entitlements)) {
    warnings.push({ code: 'MISSING_PREREQUISITE', message: gap.message, product: gap.product, teamId: null });
  }
  for (const stats of result.products.values()) {
    if (stats.unlicensed > 0 && stats.allocation !== 'CONCURRENT' && status.fullUse) {
      warnings.push({
        code: 'UNDERLICENSED',
        message: `${stats.product}: ${stats.required - stats.missingPrerequisite} active user(s) need it, ${stats.capacity} licence(s): ${stats.unlicensed} without.`,
        product: stats.product,
        teamId: null,
      });
    }
  }
  for (const a of capacityAdvisories(catalog, entitlements, input.activeUsers)) {
    warnings.push({ code: a.code, message: a.message, product: a.product, teamId: null });
  }
  const analytics = catalog.teamAnalyticsProduct;
  if (analytics !== null) {
    for (const team of input.teams) {
      const access = teamAnalytics(catalog, result, team);
      if (access.unlicensedMemberIds.length > 0) {
        warnings.push({
          code: 'ANALYTICS_UNDERLICENSED',
          message: `Team ${team.name}: ${access.membersRequiringLicense} member(s) need a ${analytics} licence, ${access.unlicensedMemberIds.length} have none; team analytics are not accessible.`,
          product: analytics,
          teamId: team.id,
        });
      }
    }
  }
  for (const row of addOnCoverage(catalog, entitlements, result)) {
    if (row.shortfall > 0) {
      warnings.push({
        code: 'ADDON_SHORTFALL',
        message: `${row.addOn}: ${row.usersRequiring} user(s) use it, ${row.coveredByBundle} covered by a bundle, ${row.purchased} bought: ${row.shortfall} to buy.`,
        product: row.addOn,
        teamId: null,
      });
    }
  }
  return warnings;
}

/**
 * One user's warnings (`userWarnings` of licensing/allocation.ts); a user who
 * is not ACTIVE has none. `licenses`: the user's licences as their recorded
 * facts leave them (licensing/holder-facts.ts, R-2FA-2) when they differ from
 * the allocation's.
 */
export function warningsOfUser(
  result: AllocationResult,
  user: { id: string; status: string },
  licenses: readonly UserLicense[] = result.users.get(user.id) ?? [],
): Warning[] {
  return userWarnings(user, licenses, result.products).map((w) => ({
    code: w.code,
    message: w.message,
    product: w.product,
    teamId: null,
  }));
}

/** Whether the user has any warning: `warningsOfUser(...).length > 0` without building them. */
export function hasWarnings(
  result: AllocationResult,
  user: { id: string; status: string },
  licenses: readonly UserLicense[] = result.users.get(user.id) ?? [],
): boolean {
  if (user.status !== 'ACTIVE') return false;
  return licenses.some((l) => l.status === 'MISSING_PREREQUISITE' || l.status === 'UNLICENSED');
}
