import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DATABASES, freshDatabase } from '../support/databases.ts';
import { codeOf, createUser, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import {
  TRUSTED_KEYS,
  assignLicense,
  countingDatabase,
  createGroup,
  createMembers,
  createTeam,
  createUsers,
  eventsOf,
  licenseMapping,
  licensedOrg,
  licensesOf,
  mappingRow,
  moveUsers,
  statusesOf,
  unassignLicense,
  type Bought,
  type LicenseView,
} from '../support/licensing.ts';

/*
 * The named licence engine through the public GraphQL API on real databases
 * (SPEC §2, §4.2–4.8): group, direct and bundle assignments, prerequisites,
 * refusals, under-licensing with its fixed order, moving users, the 90-day
 * base licence reassignment, the licence mapping, team analytics, add-on
 * coverage, advisories, explanations, and the SQL cost of the big reads.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 86_400_000;

const XPHONE = 'xphone-connect';
const ZOOM = 'zoom-contact-center';
const STORM = 'connect-storm';

// ------------------------------------------------------------------ documents

const USERS_FILTERED = `query($id: ID!, $hasWarnings: Boolean, $first: Int, $after: String) {
  organization(id: $id) {
    users(hasWarnings: $hasWarnings, first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
  }
}`;
const SITE_USERS_FILTERED = `query($id: ID!, $hasWarnings: Boolean, $first: Int, $after: String) {
  site(id: $id) {
    users(hasWarnings: $hasWarnings, first: $first, after: $after) { totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
  }
}`;
const SITE_OVERVIEW = `query($id: ID!) { site(id: $id) { licenseOverview { product { code } required granted shortage } } }`;
const ORG_WARNINGS = `query($id: ID!) { organization(id: $id) { warnings { code message product { code } team { id } user { id } } } }`;
const ADDON_COVERAGE = `query($id: ID!) { organization(id: $id) { addOnCoverage { addOn { code } usersRequiring coveredByBundle purchased shortfall } } }`;
const TEAM_ANALYTICS = `query($id: ID!) { team(id: $id) { id leader { id } members { id } analyticsAccess { allowed membersRequiringLicense unlicensedMembers { id } } } }`;
const EXPLAIN = `query($id: ID!, $product: String!) { user(id: $id) { explain(product: $product) { product { code } granted steps } } }`;
const DELETE_USER = `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId } }`;
const UPDATE_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const SET_SETTING = `mutation($input: SetUserSettingInput!) { setUserSetting(input: $input) { user { id } } }`;
const USER_STATE = `query($id: ID!) {
  user(id: $id) {
    id configurationGroup { id }
    licenses { product { code } source status }
    settings { function { code } name value }
  }
}`;
const MOVE_USERS = `mutation($input: MoveUsersInput!) {
  moveUsers(input: $input) {
    applied
    users { id }
    released { user { id } product { code } }
    deletedSettings { user { id } function { code } name }
    warnings { code }
  }
}`;
const UPDATE_GROUP = `mutation($input: UpdateConfigurationGroupInput!) {
  updateConfigurationGroup(input: $input) {
    configurationGroup { id functions { code } }
    released { user { id } product { code } }
    deletedSettings { user { id } function { code } name }
  }
}`;

// ------------------------------------------------------------------ helpers

type Page = {
  totalCount: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};

const byCode = (licenses: LicenseView[]) =>
  Object.fromEntries(licenses.map((l) => [l.product.code, { source: l.source, status: l.status, rank: l.rank }]));
const sorted = (ids: readonly string[]) => [...ids].sort();

function expectRefused(result: Result, rule: string, ...mentions: string[]): void {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  expect(codeOf(result)).toBe('BAD_USER_INPUT');
  expect(result.errors?.[0]?.extensions?.rule).toBe(rule);
  expect(result.errors?.[0]?.extensions?.field).toBe('input.product');
  for (const m of mentions) expect(result.errors?.[0]?.message).toContain(m);
  expect(JSON.stringify(result.errors)).not.toMatch(/\.ts:\d+|stack|select |insert /i);
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    const usersPage = async (org: OrgFixture, hasWarnings: boolean | null, first?: number, after?: string): Promise<Page> =>
      (await gw.ok(USERS_FILTERED, { id: org.organizationId, hasWarnings, first, after }, org.admin)).organization.users;
    const siteUsersPage = async (org: OrgFixture, hasWarnings: boolean | null, first?: number, after?: string): Promise<Page> =>
      (await gw.ok(SITE_USERS_FILTERED, { id: org.siteId, hasWarnings, first, after }, org.admin)).site.users;
    const idsOf = (page: Page) => page.edges.map((e) => e.node.id);
    const siteOverview = async (org: OrgFixture) =>
      (
        (await gw.ok(SITE_OVERVIEW, { id: org.siteId }, org.admin)).site.licenseOverview as {
          product: { code: string };
          required: number;
          granted: number;
          shortage: number;
        }[]
      ).map((r) => ({ product: r.product.code, required: r.required, granted: r.granted, shortage: r.shortage }));
    const orgWarnings = async (org: OrgFixture) =>
      (await gw.ok(ORG_WARNINGS, { id: org.organizationId }, org.admin)).organization.warnings as {
        code: string;
        message: string;
        product: { code: string } | null;
        team: { id: string } | null;
      }[];
    const explain = async (org: OrgFixture, userId: string, product: string) =>
      (await gw.ok(EXPLAIN, { id: userId, product }, org.admin)).user.explain as {
        product: { code: string };
        granted: boolean;
        steps: string[];
      };
    const deleteUser = (org: OrgFixture, userId: string) => gw.ok(DELETE_USER, { input: { userId } }, org.admin);
    const setStatus = (org: OrgFixture, userId: string, status: string) => gw.ok(UPDATE_STATUS, { input: { userId, status } }, org.admin);
    const assignmentRows = (org: OrgFixture) =>
      gw.database.db
        .selectFrom('assignments')
        .select(['user_id', 'product_code', 'source'])
        .where('organization_id', '=', org.organizationId)
        .execute();

    // ---------------------------------------------------------------- R-NAMED-1, R-BUNDLE-1

    describe('assignment sources and bundles', () => {
      it('[R-NAMED-1] group functions assign to members (GROUP), assignLicense assigns directly (DIRECT), a bundle brings its included product (INCLUDED)', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 10 },
          { product: 'OFFICE_PLUS', quantity: 5 },
        ]);
        const plus = await createGroup(gw, org, 'Office Plus', ['OFFICE_PLUS']);
        const office = await createGroup(gw, org, 'Office', ['OFFICE']);
        // One second apart: the fixed order (first configured) is the creation order.
        const [withPlus] = await createUsers(gw, org, 1, { prefix: 'Plus', configurationGroupId: plus });
        gw.clock.advance(1000);
        const [withOffice] = await createUsers(gw, org, 1, { prefix: 'Office', configurationGroupId: office });
        gw.clock.advance(1000);
        const [direct] = await createUsers(gw, org, 1, { prefix: 'Direct' });
        gw.clock.advance(1000);

        // XPhone user with OFFICE_PLUS shows OFFICE (INCLUDED) and OFFICE_PLUS (GROUP), both granted.
        expect(byCode((await licensesOf(gw, org, withPlus!)).licenses)).toEqual({
          OFFICE: { source: 'INCLUDED', status: 'GRANTED', rank: 1 },
          OFFICE_PLUS: { source: 'GROUP', status: 'GRANTED', rank: 1 },
        });
        expect(byCode((await licensesOf(gw, org, withOffice!)).licenses)).toEqual({
          OFFICE: { source: 'GROUP', status: 'GRANTED', rank: 2 },
        });
        // Held as soon as configured, whether or not the user ever logs in: no session exists.
        expect(await licensesOf(gw, org, direct!)).toEqual({ licenses: [], warnings: [] });

        const result = await assignLicense(gw, org, direct!, 'OFFICE');
        expect(result.errors).toBeUndefined();
        expect(result.data?.assignLicense).toEqual({
          license: { product: { code: 'OFFICE' }, source: 'DIRECT', status: 'GRANTED', rank: 3 },
          user: { id: direct },
        });
        expect(byCode((await licensesOf(gw, org, direct!)).licenses)).toEqual({ OFFICE: { source: 'DIRECT', status: 'GRANTED', rank: 3 } });
        expect(await assignmentRows(org)).toHaveLength(3);

        // Assigning again is idempotent; a direct assignment on top of the group keeps one licence.
        expect((await assignLicense(gw, org, direct!, 'OFFICE')).errors).toBeUndefined();
        expect((await assignLicense(gw, org, withOffice!, 'OFFICE')).data?.assignLicense.license).toMatchObject({
          source: 'DIRECT',
          status: 'GRANTED',
        });

        // The included Office uses one of the 15 Office licences (10 + 5 included), not a new one.
        const officeRow = await mappingRow(gw, org, 'OFFICE');
        expect(officeRow).toMatchObject({ total: 15, inUse: 3, available: 12 });
        expect(await mappingRow(gw, org, 'OFFICE_PLUS')).toMatchObject({ total: 5, inUse: 1, available: 4 });

        const granted = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'LICENSE_GRANTED');
        expect(granted.map((e) => `${e.user_id}:${e.product_code}`).sort()).toEqual(
          [`${withPlus}:OFFICE`, `${withPlus}:OFFICE_PLUS`, `${withOffice}:OFFICE`, `${direct}:OFFICE`].sort(),
        );
      });

      it('[R-BUNDLE-1] 100 Office + 50 Office Plus make 150 Office, of which 50 carry Office Plus: 150 configured users are all granted', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 100 },
          { product: 'OFFICE_PLUS', quantity: 50 },
        ]);
        const rows = await licenseMapping(gw, org, ['USER']);
        expect(rows.find((r) => r.product.code === 'OFFICE')).toMatchObject({ total: 150, inUse: 0, available: 150 });
        expect(rows.find((r) => r.product.code === 'OFFICE_PLUS')).toMatchObject({ total: 50, inUse: 0, available: 50 });
        // 150 licences in all, not 200.
        expect(rows.reduce((sum, r) => sum + (r.product.code === 'OFFICE' ? r.total : 0), 0)).toBe(150);

        const plus = await createGroup(gw, org, 'Office Plus', ['OFFICE_PLUS']);
        const office = await createGroup(gw, org, 'Office', ['OFFICE']);
        // Created first, then configured in two moves (fast: one allocation per move, not per user).
        const staff = await createUsers(gw, org, 150, { prefix: 'Staff' });
        await moveUsers(gw, org, staff.slice(0, 50), plus);
        await moveUsers(gw, org, staff.slice(50), office);

        expect((await usersPage(org, null, 0)).totalCount).toBe(150);
        expect((await usersPage(org, true)).totalCount).toBe(0);
        expect(await siteOverview(org)).toEqual([
          { product: 'OFFICE', required: 150, granted: 150, shortage: 0 },
          { product: 'OFFICE_PLUS', required: 50, granted: 50, shortage: 0 },
        ]);
        expect(await mappingRow(gw, org, 'OFFICE')).toMatchObject({ total: 150, inUse: 150, available: 0 });
        expect(await mappingRow(gw, org, 'OFFICE_PLUS')).toMatchObject({ total: 50, inUse: 50, available: 0 });
        expect((await orgWarnings(org)).map((w) => w.code)).not.toContain('UNDERLICENSED');

        // The 151st Office user (configured later) finds none left: 150, not 200.
        gw.clock.advance(1000);
        const [extra] = await createUsers(gw, org, 1, { prefix: 'Extra', configurationGroupId: office });
        expect(byCode((await licensesOf(gw, org, extra!)).licenses)).toEqual({
          OFFICE: { source: 'GROUP', status: 'UNLICENSED', rank: 151 },
        });
      }, 60_000);
    });

    // ---------------------------------------------------------------- R-NAMED-2, R-FIX-1

    describe('refusals', () => {
      it('[R-NAMED-2] Zoom named: with every ELITE licence held the next assignLicense is refused, naming the product, and nothing changes', async () => {
        const org = await licensedOrg(gw, ZOOM, [{ product: 'ELITE', quantity: 3, allocation: 'NAMED' }]);
        const users = await createUsers(gw, org, 4, { prefix: 'Agent' });
        for (const id of users.slice(0, 3)) {
          const r = await assignLicense(gw, org, id, 'ELITE');
          expect(r.data?.assignLicense.license).toMatchObject({ source: 'DIRECT', status: 'GRANTED' });
        }
        expect(await mappingRow(gw, org, 'ELITE')).toMatchObject({ total: 3, inUse: 3, available: 0 });

        const events = await eventsOf(gw, org.organizationId);
        const assignments = await assignmentRows(org);
        const fourth = users[3]!;
        const refused = await assignLicense(gw, org, fourth, 'ELITE');
        expectRefused(refused, 'R-NAMED-2', 'ELITE', 'all 3');
        expect(refused.data).toBeNull();

        expect(await eventsOf(gw, org.organizationId)).toEqual(events);
        expect(await assignmentRows(org)).toEqual(assignments);
        expect(await licensesOf(gw, org, fourth)).toEqual({ licenses: [], warnings: [] });
        expect(await mappingRow(gw, org, 'ELITE')).toMatchObject({ total: 3, inUse: 3, available: 0 });

        // A licence taken from someone can be given to the new user.
        expect((await unassignLicense(gw, org, users[0]!, 'ELITE')).errors).toBeUndefined();
        expect((await assignLicense(gw, org, fourth, 'ELITE')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
        expect(await statusesOf(gw, org, users[0]!)).toEqual({});
      }, 180_000); // 150 users created one by one: on PGlite on a busy 2-core machine this nears the default 60 s

      it('[R-FIX-1] connect storm PADLOCK (1 bought) serves one named user: a second assignment is refused while it is held', async () => {
        const org = await licensedOrg(gw, STORM, [
          { product: 'BASE', quantity: 5 },
          { product: 'PADLOCK', quantity: 1 },
        ]);
        const [a, b] = await createUsers(gw, org, 2, { prefix: 'Agent' });
        expect((await assignLicense(gw, org, a!, 'PADLOCK')).data?.assignLicense.license).toEqual({
          product: { code: 'PADLOCK' },
          source: 'DIRECT',
          status: 'GRANTED',
          rank: 1,
        });

        const events = await eventsOf(gw, org.organizationId);
        const refused = await assignLicense(gw, org, b!, 'PADLOCK');
        expectRefused(refused, 'R-FIX-1', 'PADLOCK');
        expect(await eventsOf(gw, org.organizationId)).toEqual(events);
        expect(await statusesOf(gw, org, b!)).toEqual({});
        expect(await mappingRow(gw, org, 'PADLOCK')).toMatchObject({ total: 1, inUse: 1, available: 0 });

        // Freed, it can be bound to the other user.
        expect((await unassignLicense(gw, org, a!, 'PADLOCK')).errors).toBeUndefined();
        expect((await assignLicense(gw, org, b!, 'PADLOCK')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
      });
    });

    // ---------------------------------------------------------------- R-NAMED-3

    describe('[R-NAMED-3] prerequisites', () => {
      const XPHONE_FULL: Bought[] = [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'OFFICE', quantity: 10 },
        { product: 'OFFICE_PLUS', quantity: 10 },
        { product: 'TEAMDESK', quantity: 10 },
        { product: 'VOICEMAIL', quantity: 10 },
      ];

      it('[R-NAMED-3] a direct TEAMDESK without OFFICE_PLUS on the user is refused, naming OFFICE_PLUS; with it, it is granted', async () => {
        const org = await licensedOrg(gw, XPHONE, XPHONE_FULL);
        const [u] = await createUsers(gw, org, 1);
        const events = await eventsOf(gw, org.organizationId);
        const refused = await assignLicense(gw, org, u!, 'TEAMDESK');
        expectRefused(refused, 'R-NAMED-3', 'TEAMDESK', 'OFFICE_PLUS');
        expect(await statusesOf(gw, org, u!)).toEqual({});
        expect(await eventsOf(gw, org.organizationId)).toEqual(events);
        expect(await assignmentRows(org)).toEqual([]);

        expect((await assignLicense(gw, org, u!, 'OFFICE_PLUS')).errors).toBeUndefined();
        expect((await assignLicense(gw, org, u!, 'TEAMDESK')).data?.assignLicense.license).toMatchObject({
          source: 'DIRECT',
          status: 'GRANTED',
        });
        expect(await statusesOf(gw, org, u!)).toEqual({ OFFICE: 'GRANTED', OFFICE_PLUS: 'GRANTED', TEAMDESK: 'GRANTED' });
      });

      it('[R-NAMED-3] VOICEMAIL with the group option client needs OFFICE or OFFICE_PLUS: refused directly without it; without the option it is granted', async () => {
        const org = await licensedOrg(gw, XPHONE, XPHONE_FULL);
        const client = await createGroup(gw, org, 'Client users', [], ['client']);
        const plain = await createGroup(gw, org, 'Stand-alone', []);
        const [withClient] = await createUsers(gw, org, 1, { prefix: 'Client', configurationGroupId: client });
        const [standAlone] = await createUsers(gw, org, 1, { prefix: 'Plain', configurationGroupId: plain });

        const refused = await assignLicense(gw, org, withClient!, 'VOICEMAIL');
        expectRefused(refused, 'R-NAMED-3', 'VOICEMAIL', 'OFFICE or OFFICE_PLUS', 'client');
        expect(await statusesOf(gw, org, withClient!)).toEqual({});

        expect((await assignLicense(gw, org, standAlone!, 'VOICEMAIL')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
        expect((await assignLicense(gw, org, withClient!, 'OFFICE')).errors).toBeUndefined();
        expect((await assignLicense(gw, org, withClient!, 'VOICEMAIL')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
      });

      it('[R-NAMED-3] an organization-scope prerequisite (at least 2 IP_CHANNEL) refuses a direct VOICEMAIL and shows an organization warning', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'IP_CHANNEL', quantity: 1 },
          { product: 'VOICEMAIL', quantity: 5 },
        ]);
        const [u] = await createUsers(gw, org, 1);
        expectRefused(await assignLicense(gw, org, u!, 'VOICEMAIL'), 'R-NAMED-3', 'VOICEMAIL', 'at least 2 IP_CHANNEL');
        const warnings = await orgWarnings(org);
        expect(warnings).toContainEqual(expect.objectContaining({ code: 'MISSING_PREREQUISITE', product: { code: 'VOICEMAIL' } }));
      });

      it('[R-NAMED-3] configured (group) products with an unmet prerequisite are kept as MISSING_PREREQUISITE with a user warning', async () => {
        const org = await licensedOrg(gw, XPHONE, XPHONE_FULL);
        const group = await createGroup(gw, org, 'Hotline', ['TEAMDESK', 'VOICEMAIL'], ['client']);
        const [u] = await createUsers(gw, org, 1, { configurationGroupId: group });
        const { licenses, warnings } = await licensesOf(gw, org, u!);
        expect(byCode(licenses)).toEqual({
          TEAMDESK: { source: 'GROUP', status: 'MISSING_PREREQUISITE', rank: null },
          VOICEMAIL: { source: 'GROUP', status: 'MISSING_PREREQUISITE', rank: null },
        });
        expect(warnings.map((w) => [w.code, w.product?.code])).toEqual([
          ['MISSING_PREREQUISITE', 'TEAMDESK'],
          ['MISSING_PREREQUISITE', 'VOICEMAIL'],
        ]);
        expect(warnings[0]?.message).toContain('OFFICE_PLUS');
        expect(warnings[1]?.message).toContain('OFFICE or OFFICE_PLUS');
        expect(idsOf(await usersPage(org, true))).toEqual([u]);
        expect(await siteOverview(org)).toEqual([
          { product: 'TEAMDESK', required: 1, granted: 0, shortage: 1 },
          { product: 'VOICEMAIL', required: 1, granted: 0, shortage: 1 },
        ]);

        // Meeting the prerequisite (a direct OFFICE_PLUS) grants both.
        expect((await assignLicense(gw, org, u!, 'OFFICE_PLUS')).errors).toBeUndefined();
        expect(await statusesOf(gw, org, u!)).toEqual({
          OFFICE: 'GRANTED',
          OFFICE_PLUS: 'GRANTED',
          TEAMDESK: 'GRANTED',
          VOICEMAIL: 'GRANTED',
        });
        expect((await licensesOf(gw, org, u!)).warnings).toEqual([]);
      });

      it('[R-NAMED-3] unassignLicense of a licence another held product needs is refused, naming the dependent product', async () => {
        const org = await licensedOrg(gw, XPHONE, XPHONE_FULL);
        const [u] = await createUsers(gw, org, 1);
        for (const p of ['OFFICE_PLUS', 'TEAMDESK']) expect((await assignLicense(gw, org, u!, p)).errors).toBeUndefined();
        const events = await eventsOf(gw, org.organizationId);

        const refused = await unassignLicense(gw, org, u!, 'OFFICE_PLUS');
        expectRefused(refused, 'R-NAMED-3', 'TEAMDESK', 'OFFICE_PLUS');
        expect(await statusesOf(gw, org, u!)).toEqual({ OFFICE: 'GRANTED', OFFICE_PLUS: 'GRANTED', TEAMDESK: 'GRANTED' });
        expect(await eventsOf(gw, org.organizationId)).toEqual(events);

        // In the right order both go.
        expect((await unassignLicense(gw, org, u!, 'TEAMDESK')).errors).toBeUndefined();
        expect((await unassignLicense(gw, org, u!, 'OFFICE_PLUS')).errors).toBeUndefined();
        expect(await statusesOf(gw, org, u!)).toEqual({});
      });
    });

    // ---------------------------------------------------------------- R-UNDER

    describe('[R-UNDER] under-licensing of a QUEUE product', () => {
      /** XPhone with 3 OFFICE for 5 users configured one second apart: the first three hold them. */
      async function underLicensed() {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 3 },
        ]);
        const office = await createGroup(gw, org, 'Office', ['OFFICE']);
        const none = await createGroup(gw, org, 'No functions', []);
        const users = await createUsers(gw, org, 5, { prefix: 'Office', configurationGroupId: office, stepMs: 1000 });
        gw.clock.advance(1000);
        const others = await createUsers(gw, org, 2, { prefix: 'Other', configurationGroupId: none });
        return { org, office, users, others };
      }

      it('[R-UNDER-1] [R-UNDER-2] beyond the count users are UNLICENSED with their rank and a warning', async () => {
        const { org, users } = await underLicensed();
        const ranks = [];
        for (const id of users) ranks.push(byCode((await licensesOf(gw, org, id)).licenses).OFFICE);
        expect(ranks).toEqual([
          { source: 'GROUP', status: 'GRANTED', rank: 1 },
          { source: 'GROUP', status: 'GRANTED', rank: 2 },
          { source: 'GROUP', status: 'GRANTED', rank: 3 },
          { source: 'GROUP', status: 'UNLICENSED', rank: 4 },
          { source: 'GROUP', status: 'UNLICENSED', rank: 5 },
        ]);
        for (const id of users.slice(3)) {
          const { warnings } = await licensesOf(gw, org, id);
          expect(warnings).toHaveLength(1);
          expect(warnings[0]).toMatchObject({ code: 'UNLICENSED', product: { code: 'OFFICE' } });
          expect(warnings[0]?.message).toMatch(/rank [45] of 5, 3 licence/);
        }
        for (const id of users.slice(0, 3)) expect((await licensesOf(gw, org, id)).warnings).toEqual([]);
        expect(await orgWarnings(org)).toContainEqual(expect.objectContaining({ code: 'UNDERLICENSED', product: { code: 'OFFICE' } }));
      });

      it('[R-UNDER-2] users(hasWarnings) on organization and site lists exactly the warned users, and pages with first/after', async () => {
        const { org, users, others } = await underLicensed();
        const warned = users.slice(3);
        // Ids sort by creation time; the two others were created at the same instant.
        const fine = [...users.slice(0, 3), ...sorted(others)];

        for (const list of [usersPage, siteUsersPage]) {
          const withWarnings = await list(org, true);
          expect(idsOf(withWarnings)).toEqual(warned);
          expect(withWarnings.totalCount).toBe(2);
          const without = await list(org, false);
          expect(idsOf(without)).toEqual(fine);
          expect(without.totalCount).toBe(5);
          expect((await list(org, null)).totalCount).toBe(7);

          const first = await list(org, true, 1);
          expect(idsOf(first)).toEqual([warned[0]]);
          expect(first.pageInfo.hasNextPage).toBe(true);
          expect(first.totalCount).toBe(2);
          const second = await list(org, true, 1, first.pageInfo.endCursor!);
          expect(idsOf(second)).toEqual([warned[1]]);
          expect(second.pageInfo.hasNextPage).toBe(false);

          const a = await list(org, false, 3);
          expect(idsOf(a)).toEqual(fine.slice(0, 3));
          expect(a.pageInfo.hasNextPage).toBe(true);
          const b = await list(org, false, 3, a.pageInfo.endCursor!);
          expect(idsOf(b)).toEqual(fine.slice(3));
          expect(b.pageInfo.hasNextPage).toBe(false);
        }
      });

      it('[R-UNDER-2] the site licence overview shows required, granted and shortage per product', async () => {
        const { org } = await underLicensed();
        expect(await siteOverview(org)).toEqual([{ product: 'OFFICE', required: 5, granted: 3, shortage: 2 }]);
        expect(await mappingRow(gw, org, 'OFFICE')).toMatchObject({ total: 3, inUse: 3, available: 0 });
      });

      it('[R-UNDER-3] deleting or deactivating a holder gives the licence to the next in line, with a LICENSE_GRANTED event', async () => {
        const { org, users } = await underLicensed();
        const grantedTo = async () =>
          (await eventsOf(gw, org.organizationId))
            .filter((e) => e.type === 'LICENSE_GRANTED' && e.product_code === 'OFFICE')
            .map((e) => e.user_id);
        expect(await grantedTo()).toEqual(users.slice(0, 3));

        gw.clock.advance(1000);
        await deleteUser(org, users[1]!);
        expect(await statusesOf(gw, org, users[3]!)).toEqual({ OFFICE: 'GRANTED' });
        expect(await statusesOf(gw, org, users[4]!)).toEqual({ OFFICE: 'UNLICENSED' });
        expect(await grantedTo()).toEqual([...users.slice(0, 3), users[3]]);
        const last = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'LICENSE_GRANTED').at(-1);
        expect(last).toMatchObject({ user_id: users[3], product_code: 'OFFICE' });
        expect(last?.detail).toContain('GROUP');

        gw.clock.advance(1000);
        await setStatus(org, users[0]!, 'INACTIVE');
        expect(await statusesOf(gw, org, users[4]!)).toEqual({ OFFICE: 'GRANTED' });
        expect(await grantedTo()).toEqual([...users.slice(0, 3), users[3], users[4]]);
        // The inactive user keeps the configuration but neither the licence nor a warning.
        expect((await licensesOf(gw, org, users[0]!)).warnings).toEqual([]);
        expect(await statusesOf(gw, org, users[0]!)).toEqual({ OFFICE: 'UNLICENSED' });
        const revoked = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'LICENSE_REVOKED');
        // The deleted user's licence and the deactivated user's.
        expect(revoked.map((e) => e.user_id)).toEqual([users[1], users[0]]);
        expect((await usersPage(org, true)).totalCount).toBe(0);
        expect(await siteOverview(org)).toEqual([{ product: 'OFFICE', required: 3, granted: 3, shortage: 0 }]);

        // Back to ACTIVE, the user queues at its original place: first configured wins the licence back.
        gw.clock.advance(1000);
        await setStatus(org, users[0]!, 'ACTIVE');
        expect(await statusesOf(gw, org, users[0]!)).toEqual({ OFFICE: 'GRANTED' });
        expect(await statusesOf(gw, org, users[4]!)).toEqual({ OFFICE: 'UNLICENSED' });
      });

      it('[R-UNDER-1] the same state yields the same holders after a restart on the same database, whatever the insertion order of unrelated rows', async () => {
        const database = await freshDatabase(kind);
        let first: TestGateway | null = null;
        let second: TestGateway | null = null;
        try {
          first = await startGateway(kind, { now: NOW, database, trustedKeys: TRUSTED_KEYS });
          const org = await licensedOrg(first, XPHONE, [
            { product: 'SERVER', quantity: 1 },
            { product: 'OFFICE', quantity: 3 },
          ]);
          const office = await createGroup(first, org, 'Office', ['OFFICE']);
          const other = await licensedOrg(first, XPHONE, [
            { product: 'SERVER', quantity: 1 },
            { product: 'OFFICE', quantity: 1 },
          ]);
          const otherGroup = await createGroup(first, other, 'Office', ['OFFICE']);
          // Unrelated rows interleaved: users of another organization and users without the product.
          const early = await createUsers(first, org, 2, { prefix: 'Early', configurationGroupId: office, stepMs: 1000 });
          await createUsers(first, other, 3, { prefix: 'Elsewhere', configurationGroupId: otherGroup });
          await createUsers(first, org, 2, { prefix: 'Unconfigured' });
          // Three users configured at the very same instant: the user id decides among them.
          first.clock.advance(1000);
          const tied = await createUsers(first, org, 3, { prefix: 'Tied', configurationGroupId: office });
          const configured = [...early, ...sorted(tied)];

          const holders = async (g: TestGateway) => {
            const out: Record<string, { status: string; rank: number | null }> = {};
            for (const id of configured) {
              const l = (await licensesOf(g, org, id)).licenses.find((x) => x.product.code === 'OFFICE');
              out[id] = { status: l!.status, rank: l!.rank };
            }
            return out;
          };
          const expected = Object.fromEntries(configured.map((id, i) => [id, { status: i < 3 ? 'GRANTED' : 'UNLICENSED', rank: i + 1 }]));
          expect(await holders(first)).toEqual(expected);

          // Restart: the first instance goes away, a second starts on the same database.
          const at = first.clock.now();
          await first.app.stop();
          first = null;
          second = await startGateway(kind, { now: at, database, trustedKeys: TRUSTED_KEYS });
          expect(await holders(second)).toEqual(expected);

          // The same rows stored in another physical order (reversed, other organizations' rows first) change nothing.
          await database.db.transaction().execute(async (trx) => {
            const rows = await trx.selectFrom('assignments').selectAll().orderBy('user_id', 'desc').execute();
            await trx.deleteFrom('assignments').execute();
            const [mine, theirs] = [
              rows.filter((r) => r.organization_id === org.organizationId),
              rows.filter((r) => r.organization_id !== org.organizationId),
            ];
            await trx
              .insertInto('assignments')
              .values([...theirs, ...mine])
              .execute();
          });
          expect(await holders(second)).toEqual(expected);
          expect(
            idsOf((await second.ok(USERS_FILTERED, { id: org.organizationId, hasWarnings: true }, org.admin)).organization.users),
          ).toEqual(sorted(configured.slice(3)));
        } finally {
          await first?.app.stop();
          await second?.app.stop();
          await database.dispose();
        }
      });
    });

    // ---------------------------------------------------------------- R-NAMED-4

    describe('[R-NAMED-4] moving users and changing groups', () => {
      const bought: Bought[] = [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'OFFICE', quantity: 10 },
        { product: 'VOICEMAIL', quantity: 10 },
      ];
      const userState = async (org: OrgFixture, id: string) =>
        (await gw.ok(USER_STATE, { id }, org.admin)).user as {
          configurationGroup: { id: string } | null;
          licenses: { product: { code: string }; source: string; status: string }[];
          settings: { function: { code: string }; name: string; value: string }[];
        };

      it('[R-NAMED-4] moveUsers to a group without VOICEMAIL releases the licence and deletes the voicemail settings; dryRun reports the same and changes nothing', async () => {
        const org = await licensedOrg(gw, XPHONE, bought);
        const full = await createGroup(gw, org, 'Office and voicemail', ['OFFICE', 'VOICEMAIL'], ['client']);
        const basic = await createGroup(gw, org, 'Office only', ['OFFICE'], ['client']);
        const [u] = await createUsers(gw, org, 1, { configurationGroupId: full });
        await gw.ok(SET_SETTING, { input: { userId: u, product: 'VOICEMAIL', name: 'voicemailBox', value: '4711' } }, org.admin);
        await gw.ok(SET_SETTING, { input: { userId: u, product: 'VOICEMAIL', name: 'voicemailGreetings', value: 'Hello' } }, org.admin);
        await gw.ok(SET_SETTING, { input: { userId: u, product: 'OFFICE', name: 'clientProfile', value: 'default' } }, org.admin);
        const before = await userState(org, u!);
        expect(before.licenses.map((l) => `${l.product.code}:${l.status}`)).toEqual(['OFFICE:GRANTED', 'VOICEMAIL:GRANTED']);
        expect(before.settings).toHaveLength(3);
        const events = await eventsOf(gw, org.organizationId);

        const expectedReport = {
          users: [{ id: u }],
          released: [{ user: { id: u }, product: { code: 'VOICEMAIL' } }],
          deletedSettings: expect.arrayContaining([
            { user: { id: u }, function: { code: 'VOICEMAIL' }, name: 'voicemailBox' },
            { user: { id: u }, function: { code: 'VOICEMAIL' }, name: 'voicemailGreetings' },
          ]),
          warnings: [],
        };
        const dry = (await gw.ok(MOVE_USERS, { input: { userIds: [u], configurationGroupId: basic, dryRun: true } }, org.admin)).moveUsers;
        expect(dry).toEqual({ applied: false, ...expectedReport });
        expect(dry.deletedSettings).toHaveLength(2);
        // Nothing changed: group, licences, settings and the event log are as before.
        expect(await userState(org, u!)).toEqual(before);
        expect(await eventsOf(gw, org.organizationId)).toEqual(events);

        const moved = (await gw.ok(MOVE_USERS, { input: { userIds: [u], configurationGroupId: basic } }, org.admin)).moveUsers;
        expect(moved).toEqual({ applied: true, ...expectedReport });
        const after = await userState(org, u!);
        expect(after.configurationGroup).toEqual({ id: basic });
        expect(after.licenses.map((l) => `${l.product.code}:${l.source}:${l.status}`)).toEqual(['OFFICE:GROUP:GRANTED']);
        // Settings of the function kept (Office) stay.
        expect(after.settings).toEqual([{ function: { code: 'OFFICE' }, name: 'clientProfile', value: 'default' }]);
        const known = new Set(events.map((e) => e.id));
        const newEvents = (await eventsOf(gw, org.organizationId)).filter((e) => !known.has(e.id));
        expect(newEvents.map((e) => [e.type, e.user_id, e.product_code])).toEqual(
          expect.arrayContaining([
            ['LICENSE_REVOKED', u, 'VOICEMAIL'],
            ['USERS_MOVED', null, null],
          ]),
        );
        expect(await mappingRow(gw, org, 'VOICEMAIL')).toMatchObject({ total: 10, inUse: 0, available: 10 });
      });

      it('[R-NAMED-4] a function also assigned directly is kept on the move: nothing released, settings stay', async () => {
        const org = await licensedOrg(gw, XPHONE, bought);
        const full = await createGroup(gw, org, 'Office and voicemail', ['OFFICE', 'VOICEMAIL']);
        const basic = await createGroup(gw, org, 'Office only', ['OFFICE']);
        const [u] = await createUsers(gw, org, 1, { configurationGroupId: full });
        expect((await assignLicense(gw, org, u!, 'VOICEMAIL')).errors).toBeUndefined();
        await gw.ok(SET_SETTING, { input: { userId: u, product: 'VOICEMAIL', name: 'voicemailBox', value: '4711' } }, org.admin);
        const moved = (await gw.ok(MOVE_USERS, { input: { userIds: [u], configurationGroupId: basic } }, org.admin)).moveUsers;
        expect(moved).toMatchObject({ applied: true, released: [], deletedSettings: [] });
        const after = await userState(org, u!);
        expect(after.licenses.map((l) => `${l.product.code}:${l.source}:${l.status}`)).toEqual([
          'OFFICE:GROUP:GRANTED',
          'VOICEMAIL:DIRECT:GRANTED',
        ]);
        expect(after.settings).toHaveLength(1);
      });

      it('[R-NAMED-4] updateConfigurationGroup removing VOICEMAIL releases it and deletes the settings of every member', async () => {
        const org = await licensedOrg(gw, XPHONE, bought);
        const group = await createGroup(gw, org, 'Office and voicemail', ['OFFICE', 'VOICEMAIL']);
        const members = await createUsers(gw, org, 2, { configurationGroupId: group });
        const [outsider] = await createUsers(gw, org, 1, { prefix: 'Outsider' });
        expect((await assignLicense(gw, org, outsider!, 'VOICEMAIL')).errors).toBeUndefined();
        for (const id of [...members, outsider]) {
          await gw.ok(SET_SETTING, { input: { userId: id, product: 'VOICEMAIL', name: 'voicemailBox', value: `box-${id}` } }, org.admin);
        }

        const updated = (await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: group, functions: ['OFFICE'] } }, org.admin))
          .updateConfigurationGroup;
        expect(updated.configurationGroup.functions).toEqual([{ code: 'OFFICE' }]);
        expect(updated.released).toEqual(expect.arrayContaining(members.map((id) => ({ user: { id }, product: { code: 'VOICEMAIL' } }))));
        expect(updated.released).toHaveLength(2);
        expect(updated.deletedSettings).toEqual(
          expect.arrayContaining(members.map((id) => ({ user: { id }, function: { code: 'VOICEMAIL' }, name: 'voicemailBox' }))),
        );
        expect(updated.deletedSettings).toHaveLength(2);
        for (const id of members) {
          const s = await userState(org, id);
          expect(s.licenses.map((l) => l.product.code)).toEqual(['OFFICE']);
          expect(s.settings).toEqual([]);
        }
        // A user outside the group keeps licence and settings.
        const o = await userState(org, outsider!);
        expect(o.licenses.map((l) => `${l.product.code}:${l.status}`)).toEqual(['VOICEMAIL:GRANTED']);
        expect(o.settings).toHaveLength(1);
        expect(await mappingRow(gw, org, 'VOICEMAIL')).toMatchObject({ inUse: 1 });
      });
    });

    // ---------------------------------------------------------------- R-REASSIGN

    describe('[R-REASSIGN] base licence reassignment (connect storm, 90 days)', () => {
      it('[R-REASSIGN-1] [R-REASSIGN-2] [R-REASSIGN-3] the seed example: one early reassignment, then bound until day 90 after the window start', async () => {
        const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 2 }]);
        const group = await createGroup(gw, org, 'Agents', ['BASE']);
        const windowStart = gw.clock.now();
        const [a] = await createUsers(gw, org, 1, { prefix: 'A', configurationGroupId: group });
        const [b] = await createUsers(gw, org, 1, { prefix: 'B' });
        expect((await assignLicense(gw, org, b!, 'BASE')).data?.assignLicense.license).toMatchObject({
          source: 'DIRECT',
          status: 'GRANTED',
        });
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 0, available: 0 });

        // A leaves within 90 days: its licence may be reassigned once right away.
        gw.clock.advance(10 * DAY);
        await deleteUser(org, a!);
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 1, available: 1 });

        const [c] = await createUsers(gw, org, 1, { prefix: 'C' });
        expect((await assignLicense(gw, org, c!, 'BASE')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 0, available: 0 });

        // C leaves too: the early reassignment is spent, the licence stays bound until the window ends.
        gw.clock.advance(5 * DAY);
        await deleteUser(org, c!);
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 0, available: 0 });

        const [d] = await createUsers(gw, org, 1, { prefix: 'D' });
        const events = await eventsOf(gw, org.organizationId);
        const refused = await assignLicense(gw, org, d!, 'BASE');
        expectRefused(refused, 'R-REASSIGN-1', 'BASE', 'cool-down');
        expect(await eventsOf(gw, org.organizationId)).toEqual(events);
        expect(await statusesOf(gw, org, d!)).toEqual({});
        // Joining a group with BASE is refused the same way.
        const moved = await gw.gql(MOVE_USERS, { input: { userIds: [d], configurationGroupId: group } }, org.admin);
        expect(codeOf(moved)).toBe('BAD_USER_INPUT');
        expect(moved.errors?.[0]?.extensions?.rule).toBe('R-REASSIGN-1');

        // One millisecond before day 90 still bound; at exactly day 90 the licence is free.
        gw.clock.set(new Date(windowStart.getTime() + 90 * DAY - 1));
        expectRefused(await assignLicense(gw, org, d!, 'BASE'), 'R-REASSIGN-1', 'BASE');
        gw.clock.set(new Date(windowStart.getTime() + 90 * DAY));
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 1, reusable: 0, available: 1 });
        expect((await assignLicense(gw, org, d!, 'BASE')).data?.assignLicense.license).toMatchObject({ status: 'GRANTED' });
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 0, available: 0 });
        expect(await statusesOf(gw, org, b!)).toEqual({ BASE: 'GRANTED' });
      });

      it('[R-REASSIGN-1] a licence freed after its 90 days is simply free (no early reassignment needed)', async () => {
        const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 1 }]);
        const [a, b, c] = await createUsers(gw, org, 3);
        expect((await assignLicense(gw, org, a!, 'BASE')).errors).toBeUndefined();
        gw.clock.advance(100 * DAY);
        expect((await unassignLicense(gw, org, a!, 'BASE')).errors).toBeUndefined();
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 1, inUse: 0, reusable: 0, available: 1 });
        expect((await assignLicense(gw, org, b!, 'BASE')).errors).toBeUndefined();
        // A new window opened with B: taken away at once, it is reusable once.
        expect((await unassignLicense(gw, org, b!, 'BASE')).errors).toBeUndefined();
        expect(await mappingRow(gw, org, 'BASE')).toMatchObject({ total: 1, inUse: 1, reusable: 1, available: 1 });
        expect((await assignLicense(gw, org, c!, 'BASE')).errors).toBeUndefined();
      });
    });

    // ---------------------------------------------------------------- R-MAP-1

    describe('[R-MAP-1] licence mapping', () => {
      it('[R-MAP-1] one row per product with every column; kinds filters the rows', async () => {
        const org = await licensedOrg(gw, STORM, [
          { product: 'BASE', quantity: 20 },
          { product: 'AGENT_SEAT', quantity: 10, emergencyQuantity: 2 },
          { product: 'VOICE', quantity: 8 },
          { product: 'PADLOCK', quantity: 1 },
        ]);
        const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
        await createUsers(gw, org, 3, { configurationGroupId: group, prefix: 'Agent' });

        const rows = await licenseMapping(gw, org);
        // Every purchasable product of the catalog has a row, bought or not.
        expect(rows.map((r) => r.product.code)).toEqual([
          'BASE',
          'AGENT_SEAT',
          'SUPERVISOR_SEAT',
          'VOICE',
          'EMAIL',
          'WEBCHAT',
          'SMS',
          'CALL_RECORDING',
          'REPORTING',
          'CONFERENCE',
          'ADMINISTRATOR',
          'UC_USER',
          'VIEW',
          'RECORDER',
          'PADLOCK',
          'CTI_INTEGRATION',
        ]);
        const row = (code: string) => rows.find((r) => r.product.code === code);
        expect(row('BASE')).toEqual({
          product: { code: 'BASE', kind: 'USER' },
          total: 20,
          inUse: 3,
          reusable: 0,
          available: 17,
          concurrentTotal: 0,
          concurrentInUse: 0,
          concurrentAvailable: 0,
          emergencyTotal: 0,
          emergencyInUse: 0,
          emergencyPeakThisPeriod: 0,
          emergencyAvailable: 0,
          unitsTotal: 20,
        });
        expect(row('AGENT_SEAT')).toEqual({
          product: { code: 'AGENT_SEAT', kind: 'USER' },
          total: 10,
          inUse: 0,
          reusable: 0,
          available: 10,
          concurrentTotal: 10,
          concurrentInUse: 0,
          concurrentAvailable: 10,
          emergencyTotal: 2,
          emergencyInUse: 0,
          emergencyPeakThisPeriod: 0,
          emergencyAvailable: 2,
          unitsTotal: 10,
        });
        expect(row('VOICE')).toMatchObject({
          product: { code: 'VOICE', kind: 'FEATURE' },
          total: 8,
          concurrentTotal: 8,
          concurrentAvailable: 8,
          emergencyTotal: 0,
        });
        expect(row('PADLOCK')).toMatchObject({ product: { code: 'PADLOCK', kind: 'FEATURE' }, total: 1, inUse: 0, available: 1 });
        expect(row('EMAIL')).toMatchObject({ total: 0, inUse: 0, available: 0, concurrentTotal: 0 });

        const features = await licenseMapping(gw, org, ['FEATURE']);
        expect(features.every((r) => r.product.kind === 'FEATURE')).toBe(true);
        expect(features.map((r) => r.product.code)).toEqual([
          'VOICE',
          'EMAIL',
          'WEBCHAT',
          'SMS',
          'CALL_RECORDING',
          'REPORTING',
          'CONFERENCE',
          'PADLOCK',
          'CTI_INTEGRATION',
        ]);
        const userRows = await licenseMapping(gw, org, ['USER']);
        expect(userRows.map((r) => r.product.code)).toEqual([
          'BASE',
          'AGENT_SEAT',
          'SUPERVISOR_SEAT',
          'ADMINISTRATOR',
          'UC_USER',
          'VIEW',
          'RECORDER',
        ]);
        expect(await licenseMapping(gw, org, ['SYSTEM', 'ADDON'])).toEqual([]);
        expect((await licenseMapping(gw, org, ['USER', 'FEATURE'])).length).toBe(rows.length);
      });

      it('[R-MAP-1] unitsTotal is units per licence × total for unit products (XPhone SERVER 10 data sources, IP_CHANNEL channels); ACCOUNT products are held by the organization', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'IP_CHANNEL', quantity: 3 },
          { product: 'AUTO_ATTENDANT', quantity: 2 },
          { product: 'ADDITIONAL_DATABASES', quantity: 2 },
          { product: 'OFFICE', quantity: 5 },
        ]);
        const system = await licenseMapping(gw, org, ['SYSTEM']);
        expect(system.map((r) => [r.product.code, r.total, r.unitsTotal, r.inUse, r.available])).toEqual([
          ['SERVER', 1, 10, 1, 0],
          ['IP_CHANNEL', 3, 3, 3, 0],
          ['AUTO_ATTENDANT', 2, 40, 2, 0],
          ['ADDITIONAL_DATABASES', 2, 20, 2, 0],
        ]);
        expect((await licenseMapping(gw, org, ['USER'])).find((r) => r.product.code === 'OFFICE')).toMatchObject({
          total: 5,
          unitsTotal: 5,
        });
      });
    });

    // ---------------------------------------------------------------- R-ANALYTICS

    describe('[R-ANALYTICS] team analytics', () => {
      it('[R-ANALYTICS-1] [R-ANALYTICS-2] analytics are allowed only while every member but the leader holds a granted TEAMDESK; otherwise ANALYTICS_UNDERLICENSED', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE_PLUS', quantity: 3 },
          { product: 'TEAMDESK', quantity: 2 },
        ]);
        const hotline = await createGroup(gw, org, 'Hotline', ['OFFICE_PLUS', 'TEAMDESK']);
        const [leader] = await createUsers(gw, org, 1, { prefix: 'Leader' });
        const team = await createTeam(gw, org, 'Support', leader);
        const members = await createUsers(gw, org, 2, { prefix: 'Member', configurationGroupId: hotline, teamId: team, stepMs: 1000 });

        const access = async () => (await gw.ok(TEAM_ANALYTICS, { id: team }, org.admin)).team;
        let t = await access();
        expect(t.leader).toEqual({ id: leader });
        expect(sorted(t.members.map((m: { id: string }) => m.id))).toEqual(sorted(members));
        // The leader holds no TEAMDESK and needs none.
        expect(await statusesOf(gw, org, leader!)).toEqual({});
        expect(t.analyticsAccess).toEqual({ allowed: true, membersRequiringLicense: 2, unlicensedMembers: [] });
        expect((await orgWarnings(org)).map((w) => w.code)).not.toContain('ANALYTICS_UNDERLICENSED');

        // A third member: only 2 TEAMDESK licences.
        gw.clock.advance(1000);
        const [third] = await createUsers(gw, org, 1, { prefix: 'Member 3', configurationGroupId: hotline, teamId: team });
        expect(await statusesOf(gw, org, third!)).toEqual({ OFFICE: 'GRANTED', OFFICE_PLUS: 'GRANTED', TEAMDESK: 'UNLICENSED' });
        t = await access();
        expect(t.analyticsAccess).toEqual({ allowed: false, membersRequiringLicense: 3, unlicensedMembers: [{ id: third }] });
        const warning = (await orgWarnings(org)).find((w) => w.code === 'ANALYTICS_UNDERLICENSED');
        expect(warning).toMatchObject({ product: { code: 'TEAMDESK' }, team: { id: team } });
        expect(warning?.message).toContain('Support');

        // A member whose TEAMDESK misses its prerequisite counts as unlicensed too.
        const noPlus = await createGroup(gw, org, 'TeamDesk only', ['TEAMDESK']);
        gw.clock.advance(1000);
        const [fourth] = await createUsers(gw, org, 1, { prefix: 'Member 4', configurationGroupId: noPlus, teamId: team });
        expect(await statusesOf(gw, org, fourth!)).toEqual({ TEAMDESK: 'MISSING_PREREQUISITE' });
        expect(sorted((await access()).analyticsAccess.unlicensedMembers.map((m: { id: string }) => m.id))).toEqual(
          sorted([third!, fourth!]),
        );

        // Members leaving restore access.
        await deleteUser(org, third!);
        await deleteUser(org, fourth!);
        expect((await access()).analyticsAccess).toEqual({ allowed: true, membersRequiringLicense: 2, unlicensedMembers: [] });
        expect((await orgWarnings(org)).map((w) => w.code)).not.toContain('ANALYTICS_UNDERLICENSED');
      });
    });

    // ---------------------------------------------------------------- R-ADDON-1

    describe('[R-ADDON-1] add-on coverage', () => {
      it('[R-ADDON-1] the seed example: 100 agents using WFM and QM with 25 Elite concurrent seats: shortfall 75 each; AI Expert Assist needs none', async () => {
        const org = await licensedOrg(gw, ZOOM, [{ product: 'ELITE', quantity: 25, allocation: 'CONCURRENT' }]);
        const group = await createGroup(gw, org, 'Agents', ['ELITE', 'WORKFORCE_MANAGEMENT', 'QUALITY_MANAGEMENT', 'AI_EXPERT_ASSIST']);
        const agents = await createMembers(gw, org, 100, group, { prefix: 'Agent' });

        const coverage = (await gw.ok(ADDON_COVERAGE, { id: org.organizationId }, org.admin)).organization.addOnCoverage as {
          addOn: { code: string };
          usersRequiring: number;
          coveredByBundle: number;
          purchased: number;
          shortfall: number;
        }[];
        const row = (code: string) => coverage.find((r) => r.addOn.code === code);
        expect(row('WORKFORCE_MANAGEMENT')).toEqual({
          addOn: { code: 'WORKFORCE_MANAGEMENT' },
          usersRequiring: 100,
          coveredByBundle: 25,
          purchased: 0,
          shortfall: 75,
        });
        expect(row('QUALITY_MANAGEMENT')).toEqual({
          addOn: { code: 'QUALITY_MANAGEMENT' },
          usersRequiring: 100,
          coveredByBundle: 25,
          purchased: 0,
          shortfall: 75,
        });
        expect(row('AI_EXPERT_ASSIST')).toMatchObject({ usersRequiring: 100, coveredByBundle: 100, shortfall: 0 });
        // Account-wide add-ons are never assigned to users: no coverage row.
        expect(coverage.map((r) => r.addOn.code).sort()).toEqual(['AI_EXPERT_ASSIST', 'QUALITY_MANAGEMENT', 'WORKFORCE_MANAGEMENT']);

        const shortfalls = (await orgWarnings(org)).filter((w) => w.code === 'ADDON_SHORTFALL');
        expect(shortfalls.map((w) => w.product?.code).sort()).toEqual(['QUALITY_MANAGEMENT', 'WORKFORCE_MANAGEMENT']);
        expect(shortfalls[0]?.message).toContain('75');

        // Users beyond coverage, in the fixed order, have no access; the first 25 do.
        const order = sorted(agents);
        expect(await statusesOf(gw, org, order[0]!)).toMatchObject({
          ELITE: 'GRANTED',
          WORKFORCE_MANAGEMENT: 'GRANTED',
          QUALITY_MANAGEMENT: 'GRANTED',
          AI_EXPERT_ASSIST: 'GRANTED',
        });
        expect(await statusesOf(gw, org, order[24]!)).toMatchObject({ WORKFORCE_MANAGEMENT: 'GRANTED', QUALITY_MANAGEMENT: 'GRANTED' });
        expect(await statusesOf(gw, org, order[25]!)).toMatchObject({
          ELITE: 'GRANTED',
          WORKFORCE_MANAGEMENT: 'UNLICENSED',
          QUALITY_MANAGEMENT: 'UNLICENSED',
          AI_EXPERT_ASSIST: 'GRANTED',
        });
        expect((await usersPage(org, true, 0)).totalCount).toBe(75);
      }, 60_000);

      it('[R-ADDON-1] add-ons bought close the shortfall; Elite named covers every holder', async () => {
        const concurrent = await licensedOrg(gw, ZOOM, [
          { product: 'ELITE', quantity: 2, allocation: 'CONCURRENT' },
          { product: 'WORKFORCE_MANAGEMENT', quantity: 3 },
        ]);
        const group = await createGroup(gw, concurrent, 'Agents', ['ELITE', 'WORKFORCE_MANAGEMENT']);
        await createUsers(gw, concurrent, 5, { configurationGroupId: group });
        const coverage = (await gw.ok(ADDON_COVERAGE, { id: concurrent.organizationId }, concurrent.admin)).organization.addOnCoverage;
        expect(coverage.find((r: { addOn: { code: string } }) => r.addOn.code === 'WORKFORCE_MANAGEMENT')).toEqual({
          addOn: { code: 'WORKFORCE_MANAGEMENT' },
          usersRequiring: 5,
          coveredByBundle: 2,
          purchased: 3,
          shortfall: 0,
        });
        expect((await usersPage(concurrent, true)).totalCount).toBe(0);

        const named = await licensedOrg(gw, ZOOM, [{ product: 'ELITE', quantity: 5, allocation: 'NAMED' }]);
        const namedGroup = await createGroup(gw, named, 'Agents', ['ELITE', 'WORKFORCE_MANAGEMENT', 'QUALITY_MANAGEMENT']);
        await createUsers(gw, named, 5, { configurationGroupId: namedGroup });
        const namedCoverage = (await gw.ok(ADDON_COVERAGE, { id: named.organizationId }, named.admin)).organization.addOnCoverage;
        expect(namedCoverage.find((r: { addOn: { code: string } }) => r.addOn.code === 'QUALITY_MANAGEMENT')).toMatchObject({
          usersRequiring: 5,
          coveredByBundle: 5,
          shortfall: 0,
        });
        expect((await orgWarnings(named)).map((w) => w.code)).not.toContain('ADDON_SHORTFALL');
      });

      it("[R-ADDON-1] [R-NAMED-2] an add-on beyond a concurrent bundle's coverage is recorded without access; beyond bought add-ons without a bundle it is refused", async () => {
        const org = await licensedOrg(gw, ZOOM, [
          { product: 'ELITE', quantity: 1, allocation: 'CONCURRENT' },
          { product: 'PREMIUM', quantity: 5, allocation: 'NAMED' },
          { product: 'WORKFORCE_MANAGEMENT', quantity: 1 },
        ]);
        const [e1, e2, e3, p1, p2] = await createUsers(gw, org, 5, { stepMs: 1000 });
        for (const id of [e1, e2, e3]) expect((await assignLicense(gw, org, id!, 'ELITE')).errors).toBeUndefined();
        for (const id of [p1, p2]) expect((await assignLicense(gw, org, id!, 'PREMIUM')).errors).toBeUndefined();

        // Elite concurrent (1 seat) covers e1; the one bought add-on serves e2; e3 is recorded, ranked, flagged.
        for (const id of [e1, e2])
          expect((await assignLicense(gw, org, id!, 'WORKFORCE_MANAGEMENT')).data?.assignLicense.license).toMatchObject({
            status: 'GRANTED',
          });
        const beyond = await assignLicense(gw, org, e3!, 'WORKFORCE_MANAGEMENT');
        expect(beyond.errors).toBeUndefined();
        expect(beyond.data?.assignLicense.license).toEqual({
          product: { code: 'WORKFORCE_MANAGEMENT' },
          source: 'DIRECT',
          status: 'UNLICENSED',
          rank: 3,
        });
        expect((await licensesOf(gw, org, e3!)).warnings).toEqual([
          expect.objectContaining({ code: 'UNLICENSED', product: { code: 'WORKFORCE_MANAGEMENT' } }),
        ]);
        const coverage = (await gw.ok(ADDON_COVERAGE, { id: org.organizationId }, org.admin)).organization.addOnCoverage;
        expect(coverage.find((r: { addOn: { code: string } }) => r.addOn.code === 'WORKFORCE_MANAGEMENT')).toMatchObject({
          usersRequiring: 3,
          coveredByBundle: 1,
          purchased: 1,
          shortfall: 1,
        });

        // Premium covers no add-on: with every bought add-on held, the next is refused.
        expectRefused(await assignLicense(gw, org, p1!, 'WORKFORCE_MANAGEMENT'), 'R-NAMED-2', 'WORKFORCE_MANAGEMENT');
        expect(await statusesOf(gw, org, p1!)).not.toHaveProperty('WORKFORCE_MANAGEMENT');
      });
    });

    // ---------------------------------------------------------------- advisories and explanations

    describe('advisories and explanations', () => {
      it('CAPACITY_ADVISORY: XPhone recommends one IP channel per 25 active users', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'IP_CHANNEL', quantity: 1 },
        ]);
        await createUsers(gw, org, 25);
        const advisories = async () => (await orgWarnings(org)).filter((w) => w.code === 'CAPACITY_ADVISORY');
        expect(await advisories()).toEqual([]);
        // A PREPARING user is not active: still no advisory.
        const [preparing] = await createUsers(gw, org, 1, { prefix: 'Preparing', status: 'PREPARING' });
        expect(await advisories()).toEqual([]);
        await setStatus(org, preparing!, 'ACTIVE');
        const [advisory] = await advisories();
        expect(advisory).toMatchObject({ code: 'CAPACITY_ADVISORY', product: { code: 'IP_CHANNEL' } });
        expect(advisory?.message).toContain('26 active users');
        expect(advisory?.message).toContain('2 IP_CHANNEL recommended, 1 licensed');
      });

      it('user.explain names the source, the prerequisites and the rank', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 1 },
          { product: 'TEAMDESK', quantity: 1 },
        ]);
        const group = await createGroup(gw, org, 'Office', ['OFFICE']);
        const [first, second] = await createUsers(gw, org, 2, { configurationGroupId: group, stepMs: 1000 });

        const granted = await explain(org, first!, 'OFFICE');
        expect(granted).toMatchObject({ product: { code: 'OFFICE' }, granted: true });
        const g = granted.steps.join('\n');
        expect(g).toContain('Licence state ACTIVE');
        expect(g).toContain('entitled to 1 OFFICE');
        expect(g).toContain("function of the user's configuration group");
        expect(g).toContain('Prerequisites met');
        expect(g).toContain('Rank 1 of 2');

        const queued = await explain(org, second!, 'OFFICE');
        expect(queued.granted).toBe(false);
        expect(queued.steps.join('\n')).toMatch(/Rank 2 of 2 .*only 1 licence\(s\) available: not granted/);

        expect((await assignLicense(gw, org, second!, 'TEAMDESK')).errors).toBeDefined();
        const [third] = await createUsers(gw, org, 1, { prefix: 'Direct' });
        await assignLicense(gw, org, third!, 'OFFICE');
        const direct = await explain(org, third!, 'OFFICE');
        expect(direct.steps.join('\n')).toContain('assigned to the user directly');

        const missing = await explain(org, first!, 'TEAMDESK');
        expect(missing).toMatchObject({ granted: false });
        expect(missing.steps.join('\n')).toContain('not configured for the user');

        const hotline = await createGroup(gw, org, 'Hotline', ['TEAMDESK']);
        const [teamdesk] = await createUsers(gw, org, 1, { prefix: 'Hotline', configurationGroupId: hotline });
        const unmet = await explain(org, teamdesk!, 'TEAMDESK');
        expect(unmet.granted).toBe(false);
        expect(unmet.steps.join('\n')).toContain('Prerequisites not met: OFFICE_PLUS on the same user');

        const unknown = await gw.gql(EXPLAIN, { id: first, product: 'NOPE' }, org.admin);
        expect(codeOf(unknown)).toBe('BAD_USER_INPUT');
      });

      it('[R-LIFE-5] in demo state (no key) named licences are not granted and explain says why', async () => {
        const org = await licensedOrg(gw, ZOOM, null);
        const group = await createGroup(gw, org, 'Agents', ['ELITE']);
        const [u] = await createUsers(gw, org, 1, { configurationGroupId: group });
        expect(byCode((await licensesOf(gw, org, u!)).licenses)).toMatchObject({ ELITE: { source: 'GROUP', status: 'UNLICENSED' } });
        const e = await explain(org, u!, 'ELITE');
        expect(e.granted).toBe(false);
        expect(e.steps.join('\n')).toContain('Licence state NONE');
        expect(e.steps.join('\n')).toContain('named licences are not granted');

        const xphone = await licensedOrg(gw, XPHONE, null);
        const office = await createGroup(gw, xphone, 'Office', ['OFFICE']);
        const [x] = await createUsers(gw, xphone, 1, { configurationGroupId: office });
        const statuses = await statusesOf(gw, xphone, x!);
        expect(statuses.OFFICE).not.toBe('GRANTED');
        expect((await explain(xphone, x!, 'OFFICE')).granted).toBe(false);
      });

      it('[R-LIFE-5] after term and grace (DEMO) held named licences are no longer granted; explain says DEMO', async () => {
        const org = await licensedOrg(gw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          { product: 'OFFICE', quantity: 5 },
        ]);
        const group = await createGroup(gw, org, 'Office', ['OFFICE']);
        const [u] = await createUsers(gw, org, 1, { configurationGroupId: group });
        expect(await statusesOf(gw, org, u!)).toEqual({ OFFICE: 'GRANTED' });
        // Key from 2026-11-01, 12 months, 14 days grace.
        gw.clock.set(new Date('2027-11-15T00:00:00.000Z'));
        expect(await statusesOf(gw, org, u!)).toEqual({ OFFICE: 'UNLICENSED' });
        const e = await explain(org, u!, 'OFFICE');
        expect(e.granted).toBe(false);
        expect(e.steps.join('\n')).toContain('Licence state DEMO');
      });
    });

    // ---------------------------------------------------------------- R-API-4

    describe('[R-API-4] bounded SQL statements', () => {
      let counting: Awaited<ReturnType<typeof countingDatabase>>;
      let cgw: TestGateway;
      let small: OrgFixture;
      let large: OrgFixture;

      // The page size is a variable, as clients send it (graphql-armor's static cost multiplies literal `first` only).
      const USERS_PAGE = `query($id: ID!, $first: Int) {
        organization(id: $id) {
          users(first: $first) {
            totalCount
            edges { cursor node {
              id name status
              site { id name }
              configurationGroup { id name functions { code } }
              team { id name leader { id } }
              licenses { product { code } source status rank }
              warnings { code message product { code } }
            } }
            pageInfo { hasNextPage endCursor }
          }
        }
      }`;
      const WARNED_PAGE = `query($id: ID!, $first: Int) {
        organization(id: $id) { users(first: $first, hasWarnings: true) { totalCount edges { node { id site { id } licenses { status } warnings { code } } } } }
      }`;
      const MAPPING = `query($id: ID!) { organization(id: $id) { licenseMapping { product { code } total inUse reusable available concurrentTotal unitsTotal } } }`;

      async function build(users: number): Promise<OrgFixture> {
        const org = await licensedOrg(cgw, XPHONE, [
          { product: 'SERVER', quantity: 1 },
          // Few licences: both organizations have users with and without warnings.
          { product: 'OFFICE', quantity: 4 },
          { product: 'OFFICE_PLUS', quantity: 2 },
          { product: 'TEAMDESK', quantity: 1 },
        ]);
        const plus = await createGroup(cgw, org, 'Plus', ['OFFICE_PLUS', 'TEAMDESK']);
        const office = await createGroup(cgw, org, 'Office', ['OFFICE']);
        const team = await createTeam(cgw, org, 'Team');
        const ids: string[] = [];
        for (let i = 0; i < users; i++) {
          ids.push(await createUser(cgw, org.admin, { siteId: org.siteId, name: `User ${i}`, ...(i % 5 === 0 ? { teamId: team } : {}) }));
        }
        await moveUsers(
          cgw,
          org,
          ids.filter((_, i) => i % 3 === 0),
          plus,
        );
        await moveUsers(
          cgw,
          org,
          ids.filter((_, i) => i % 3 !== 0),
          office,
        );
        return org;
      }

      /** Statements one request runs, with their SQL for the failure message. */
      async function cost(query: string, org: OrgFixture): Promise<{ n: number; sql: string; users: number }> {
        counting.reset();
        const result = await cgw.gql(query, { id: org.organizationId, first: 100 }, org.admin);
        const n = counting.statements();
        expect(result.errors).toBeUndefined();
        const users = result.data?.organization.users;
        if (users) expect(users.edges.length).toBe(Math.min(100, users.totalCount));
        return { n, sql: counting.sql().join('\n'), users: users?.totalCount ?? 0 };
      }

      beforeAll(async () => {
        counting = await countingDatabase(kind);
        // Tokens stay cached for the whole suite: building the organizations takes longer than the default TTL,
        // and a token read again would count one statement more for one organization than for the other.
        cgw = await startGateway(kind, {
          now: NOW,
          database: counting.database,
          trustedKeys: TRUSTED_KEYS,
          tokenCache: { ttlMs: 3_600_000 },
        });
        small = await build(10);
        large = await build(200);
      }, 120_000);
      afterAll(() => cgw?.close());

      it('[R-API-4] a licence mapping costs the same number of SQL statements for 10 and for 200 users', async () => {
        const a = await cost(MAPPING, small);
        const b = await cost(MAPPING, large);
        expect(a.n).toBeGreaterThan(0);
        expect(b.n, `10 users:\n${a.sql}\n\n200 users:\n${b.sql}`).toBe(a.n);
        expect(b.n, b.sql).toBeLessThanOrEqual(20);
      });

      it('[R-API-4] a 100-user page with licences, warnings, site, group and team costs the same for 10 and for 200 users', async () => {
        const a = await cost(USERS_PAGE, small);
        const b = await cost(USERS_PAGE, large);
        expect([a.users, b.users]).toEqual([10, 200]);
        expect(b.n, `10 users:\n${a.sql}\n\n200 users:\n${b.sql}`).toBe(a.n);
        expect(b.n, b.sql).toBeLessThanOrEqual(30);
        const warnedSmall = await cost(WARNED_PAGE, small);
        const warnedLarge = await cost(WARNED_PAGE, large);
        expect(warnedSmall.users).toBeGreaterThan(0);
        expect(warnedLarge.users).toBeGreaterThan(100);
        expect(warnedLarge.n, `10 users:\n${warnedSmall.sql}\n\n200 users:\n${warnedLarge.sql}`).toBe(warnedSmall.n);
      });
    });
  });
}
