import type { OrgFixture, TestGateway } from './gateway.ts';
import { type Bought, createGroup, createUsers, licensedOrg } from './licensing.ts';

/** One row of `PoolUsage.units` / `LicenseMappingRow.units` (R-RES-6). */
export interface UnitView {
  siteId: string;
  siteName: string;
  configurationGroupId: string | null;
  configurationGroupName: string | null;
  reserved: number;
  cap: number | null;
  inUse: number;
}

/** A site of `org`, created through the API. */
export async function createSite(gw: TestGateway, org: OrgFixture, name: string): Promise<string> {
  const data = await gw.ok<{ createSite: { site: { id: string } } }>(
    `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
    { input: { organizationId: org.organizationId, name } },
    org.admin,
  );
  return data.createSite.site.id;
}

/**
 * connect storm with `seats` AGENT_SEATs (and `extra` products as functions):
 * Headquarters (the fixture's site) with the groups "HQ agents" and "Temps",
 * and a second site named `siteName` with its group "<siteName> agents";
 * `perSite` users in each group.
 */
export async function twoSiteOrg(gw: TestGateway, siteName: string, seats: Bought, perSite: number, extra: Bought[] = []) {
  const org = await licensedOrg(gw, 'connect-storm', [{ product: 'BASE', quantity: 4 * perSite }, seats, ...extra]);
  const functions = ['BASE', 'AGENT_SEAT', ...extra.map((b) => b.product)];
  const site = await createSite(gw, org, siteName);
  const hqGroup = await createGroup(gw, org, 'HQ agents', functions);
  const temps = await createGroup(gw, org, 'Temps', functions);
  const siteGroup = await createGroup(gw, org, `${siteName} agents`, functions, [], site);
  const hq = await createUsers(gw, org, perSite, { prefix: 'HQ', configurationGroupId: hqGroup });
  const tempUsers = await createUsers(gw, org, perSite, { prefix: 'Temp', configurationGroupId: temps });
  const siteUsers = await createUsers(gw, org, perSite, { prefix: siteName, siteId: site, configurationGroupId: siteGroup });
  return { org, site, hqGroup, temps, siteGroup, hq, tempUsers, siteUsers };
}
