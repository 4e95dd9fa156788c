import type { ConfigurationGroupRow, OrganizationRow, SiteRow, TeamRow, UserRow } from '../db/schema.ts';
import type { LicenseState } from '../licensing/lifecycle.ts';

/*
 * The tenancy entities as the rest of the gateway reads them: their rows, with
 * every closed set stored as text checked against the values this gateway
 * writes. The repositories map each row they read through these; a stored
 * value outside the set is a fault, refused here rather than passed on as a
 * string nobody checks.
 */

/** A user's role (`users.role`, `UserRole` in the API). */
export const USER_ROLES = ['AGENT', 'SUPERVISOR', 'TEAM_LEAD', 'ADMINISTRATOR', 'UC_USER', 'VIEWER'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A user's status (`users.status`, `UserStatus` in the API). */
export const USER_STATUSES = ['PREPARING', 'ACTIVE', 'INACTIVE'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

/** Every licence state, as `organizations.license_state` records the last one seen. */
const LICENSE_STATE_SET = {
  NONE: true,
  PENDING: true,
  ACTIVE: true,
  RENEWAL_DUE: true,
  GRACE: true,
  DEMO: true,
} satisfies Record<LicenseState, true>;
export const LICENSE_STATES = Object.keys(LICENSE_STATE_SET) as LicenseState[];

const isOneOf = <T extends string>(values: readonly T[], value: string): value is T => (values as readonly string[]).includes(value);

/** An organization: its row, with its recorded licence state checked (the catalog code stays a string: catalogs are data). */
export type Organization = Omit<OrganizationRow, 'license_state'> & { license_state: LicenseState };

/** The organization a stored row is; a licence state this gateway does not write is a fault. */
export function organizationOf(row: OrganizationRow): Organization {
  if (!isOneOf(LICENSE_STATES, row.license_state))
    throw new Error(`stored organization ${row.id} has licence state ${row.license_state}, which is not a LicenseState`);
  return row as Organization;
}

/** A site: no closed set is stored with it, so its row is the site. */
export type Site = SiteRow;

/** A team: no closed set is stored with it, so its row is the team. */
export type Team = TeamRow;

/** A configuration group: its row, whose product lists are checked to be lists of codes. */
export type ConfigurationGroup = ConfigurationGroupRow;

const isCodeList = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

/** The configuration group a stored row is; product lists that are not lists of codes (jsonb holds anything) are a fault. */
export function configurationGroupOf(row: ConfigurationGroupRow): ConfigurationGroup {
  if (!isCodeList(row.functions))
    throw new Error(`stored configuration group ${row.id} has functions that are not a list of product codes`);
  if (!isCodeList(row.options)) throw new Error(`stored configuration group ${row.id} has options that are not a list of product codes`);
  return row;
}

/** A user: their row, with role and status checked. */
export type User = Omit<UserRow, 'role' | 'status'> & { role: UserRole; status: UserStatus };

/** The user a stored row is; a role or status this gateway does not write is a fault. */
export function userOf<R extends UserRow>(row: R): Omit<R, 'role' | 'status'> & User {
  if (!isOneOf(USER_ROLES, row.role)) throw new Error(`stored user ${row.id} has role ${row.role}, which is not a UserRole`);
  if (!isOneOf(USER_STATUSES, row.status)) throw new Error(`stored user ${row.id} has status ${row.status}, which is not a UserStatus`);
  return row as Omit<R, 'role' | 'status'> & User;
}
