import { describe, expect, it } from 'vitest';
import type { ConfigurationGroupRow, OrganizationRow, UserRow } from '../../src/db/schema.ts';
import { getSchema } from '../../src/schema/index.ts';
import { configurationGroupOf, LICENSE_STATES, organizationOf, USER_ROLES, USER_STATUSES, userOf } from '../../src/tenancy/domain.ts';

/*
 * Organizations, configuration groups and users leave the database through
 * one mapper each (src/tenancy/domain.ts), which checks the strings stored
 * for closed sets against the unions the API declares; an unknown value is
 * refused, never passed on.
 */

const enumValues = (name: string) => {
  const type = getSchema().getType(name);
  if (!type || !('getValues' in type)) throw new Error(`no enum ${name}`);
  return type.getValues().map((v) => v.name);
};

const user: UserRow = {
  organization_id: '01JDQ0000000000000000000AA',
  id: '01JDQ0000000000000000000AB',
  site_id: '01JDQ0000000000000000000AC',
  configuration_group_id: null,
  team_id: null,
  name: 'Ada',
  email: null,
  role: 'AGENT',
  status: 'ACTIVE',
  created_at: new Date('2026-11-22T10:00:00Z'),
};

const organization: OrganizationRow = {
  id: user.organization_id,
  name: 'Acme',
  catalog_code: 'innoacd',
  customer_ref: null,
  clock_high_water: null,
  created_at: user.created_at,
  license_state: 'GRACE',
  license_key_id: null,
  license_check_at: null,
  revision: 3,
};

const group: ConfigurationGroupRow = {
  organization_id: user.organization_id,
  id: '01JDQ0000000000000000000AD',
  site_id: user.site_id,
  name: 'Agents',
  functions: ['ACD_AGENT'],
  options: [],
  created_at: user.created_at,
};

describe('tenancy mappers', () => {
  it('[mappers] UserRole and UserStatus of the API are the unions USER_ROLES and USER_STATUSES', () => {
    expect(enumValues('UserRole').sort()).toEqual([...USER_ROLES].sort());
    expect(enumValues('UserStatus').sort()).toEqual([...USER_STATUSES].sort());
  });

  it('[mappers] userOf keeps a stored user of every role and status as it is', () => {
    for (const role of USER_ROLES)
      for (const status of USER_STATUSES) expect(userOf({ ...user, role, status })).toEqual({ ...user, role, status });
  });

  it('[mappers] userOf refuses a stored role or status the gateway does not write, naming the user and the value', () => {
    expect(() => userOf({ ...user, role: 'ROOT' })).toThrow(`stored user ${user.id} has role ROOT, which is not a UserRole`);
    expect(() => userOf({ ...user, status: 'DELETED' })).toThrow(`stored user ${user.id} has status DELETED, which is not a UserStatus`);
    expect(() => userOf({ ...user, status: 'active' })).toThrow(/not a UserStatus/);
  });

  it('[mappers] organizationOf keeps every licence state of the API and refuses any other', () => {
    expect([...LICENSE_STATES].sort()).toEqual(enumValues('LicenseState').sort());
    for (const license_state of LICENSE_STATES)
      expect(organizationOf({ ...organization, license_state }).license_state).toBe(license_state);
    expect(() => organizationOf({ ...organization, license_state: 'EXPIRED' })).toThrow(
      `stored organization ${organization.id} has licence state EXPIRED, which is not a LicenseState`,
    );
  });

  it('[mappers] configurationGroupOf refuses stored product lists that are not lists of codes', () => {
    expect(configurationGroupOf(group)).toEqual(group);
    expect(() => configurationGroupOf({ ...group, functions: 'ACD_AGENT' as unknown as string[] })).toThrow(
      `stored configuration group ${group.id} has functions that are not a list of product codes`,
    );
    expect(() => configurationGroupOf({ ...group, options: [1] as unknown as string[] })).toThrow(/options that are not a list/);
  });
});
