import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, createUser, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import {
  TRUSTED_KEYS,
  activateKey,
  assignLicense,
  createGroup,
  eventsOf,
  issueLicenseKey,
  licensedOrg,
  licensesOf,
  mappingRow,
  moveUsers,
  statusesOf,
} from '../support/licensing.ts';

/*
 * A user's status and their named licences (docs/rules.md R-TEN-4, R-TEN-5;
 * connect storm's licence mapping: "使用中" counts the base licences assigned
 * to ACTIVE users, users still "準備中" (PREPARING) are not counted). The user
 * view, the licence mapping and the site overview tell one story: a PREPARING
 * or INACTIVE user holds no base licence; becoming ACTIVE takes one (or is
 * refused with the rule and the numbers); leaving ACTIVE frees it under the
 * 90-day reassignment rules.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 86_400_000;
const STORM = 'connect-storm';
const ZOOM = 'zoom-contact-center';

const UPDATE_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status licenses { product { code } status } } } }`;
const USER_STATUS = `query($id: ID!) { user(id: $id) { status } }`;
const SITE_OVERVIEW = `query($id: ID!) { site(id: $id) { licenseOverview { product { code } required granted shortage } } }`;
const EXPLAIN = `query($id: ID!, $product: String!) { user(id: $id) { explain(product: $product) { granted steps } } }`;
const USERS_WARNED = `query($id: ID!) { organization(id: $id) { users(first: 50, hasWarnings: true) { totalCount } } }`;

function expectRefusal(result: Result, rule: string, ...mentions: string[]): void {
  expect(result.errors, JSON.stringify(result)).toHaveLength(1);
  expect(codeOf(result)).toBe('BAD_USER_INPUT');
  expect(result.errors?.[0]?.extensions).toMatchObject({ field: 'input.status', rule });
  for (const m of mentions) expect(result.errors?.[0]?.message).toContain(m);
}

for (const kind of DATABASES) {
  describe(`user status and named licences on ${kind}`, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    const setStatus = (org: OrgFixture, userId: string, status: string) => gw.gql(UPDATE_STATUS, { input: { userId, status } }, org.admin);
    const statusOf = async (org: OrgFixture, userId: string) => (await gw.ok(USER_STATUS, { id: userId }, org.admin)).user.status;
    const overview = async (org: OrgFixture) =>
      (await gw.ok(SITE_OVERVIEW, { id: org.siteId }, org.admin)).site.licenseOverview as { product: { code: string }; required: number }[];
    const base = async (org: OrgFixture) => {
      const row = await mappingRow(gw, org, 'BASE');
      return { total: row?.total, inUse: row?.inUse, reusable: row?.reusable, available: row?.available };
    };

    it('[R-TEN-4] a PREPARING user holds no base licence and is not counted; ACTIVE takes one; back to PREPARING frees it', async () => {
      const org = await licensedOrg(gw, STORM, [
        { product: 'BASE', quantity: 2 },
        { product: 'AGENT_SEAT', quantity: 2 },
      ]);
      const agents = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      const p = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Pat', status: 'PREPARING', configurationGroupId: agents });

      // One story: the user view, the mapping and the site overview all say "not held, not counted".
      expect(await statusesOf(gw, org, p)).toEqual({ BASE: 'UNLICENSED', AGENT_SEAT: 'UNLICENSED' });
      expect((await licensesOf(gw, org, p)).warnings).toEqual([]);
      expect(await base(org)).toEqual({ total: 2, inUse: 0, reusable: 0, available: 2 });
      expect(await overview(org)).toEqual([]);
      expect((await gw.ok(USERS_WARNED, { id: org.organizationId }, org.admin)).organization.users.totalCount).toBe(0);
      const explained = (await gw.ok(EXPLAIN, { id: p, product: 'BASE' }, org.admin)).user.explain;
      expect(explained.granted).toBe(false);
      expect(explained.steps.join(' ')).toContain('PREPARING');

      // ACTIVE takes a base licence: a new 90-day window.
      const active = await setStatus(org, p, 'ACTIVE');
      expect(active.errors).toBeUndefined();
      expect(await statusesOf(gw, org, p)).toEqual({ BASE: 'GRANTED', AGENT_SEAT: 'GRANTED' });
      expect(await base(org)).toEqual({ total: 2, inUse: 1, reusable: 0, available: 1 });
      expect((await overview(org)).map((r) => [r.product.code, r.required])).toEqual([
        ['BASE', 1],
        ['AGENT_SEAT', 1],
      ]);

      // Back to PREPARING within the window: the licence is freed and may be reassigned once right away (R-REASSIGN-2).
      gw.clock.advance(3 * DAY);
      expect((await setStatus(org, p, 'PREPARING')).errors).toBeUndefined();
      expect(await statusesOf(gw, org, p)).toEqual({ BASE: 'UNLICENSED', AGENT_SEAT: 'UNLICENSED' });
      expect(await base(org)).toEqual({ total: 2, inUse: 1, reusable: 1, available: 2 });
    });

    it('[R-TEN-4] [R-REASSIGN-2] INACTIVE frees the base licence under the 90-day rules; coming back needs one left', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 1 }]);
      const agents = await createGroup(gw, org, 'Agents', ['BASE']);
      const windowStart = gw.clock.now();
      const a = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Ada', configurationGroupId: agents });
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 0, available: 0 });

      // Taken away within 90 days: reusable once (the seed's "再使用可能").
      gw.clock.advance(10 * DAY);
      expect((await setStatus(org, a, 'INACTIVE')).errors).toBeUndefined();
      expect(await statusesOf(gw, org, a)).toEqual({ BASE: 'UNLICENSED' });
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 1, available: 1 });

      // Bob gets it at once, spending the early reassignment.
      const b = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Bob', configurationGroupId: agents });
      expect(await statusesOf(gw, org, b)).toEqual({ BASE: 'GRANTED' });
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 0, available: 0 });

      // Ada cannot come back: none is left. Refused with the rule and the numbers; nothing changes.
      const events = await eventsOf(gw, org.organizationId);
      expectRefusal(await setStatus(org, a, 'ACTIVE'), 'R-REASSIGN-1', 'Ada cannot become ACTIVE', 'BASE', '1 of 1');
      expect(await statusOf(org, a)).toBe('INACTIVE');
      expect(await eventsOf(gw, org.organizationId)).toEqual(events);

      // Bob leaves after 5 more days: the early reassignment is spent, the licence stays bound until day 90.
      gw.clock.advance(5 * DAY);
      expect((await setStatus(org, b, 'INACTIVE')).errors).toBeUndefined();
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 0, available: 0 });
      expectRefusal(await setStatus(org, a, 'ACTIVE'), 'R-REASSIGN-1', '1 are bound by the 90-day reassignment cool-down');

      // From day 90 of the window the licence is simply free: Ada comes back.
      gw.clock.set(new Date(windowStart.getTime() + 90 * DAY));
      expect(await base(org)).toEqual({ total: 1, inUse: 0, reusable: 0, available: 1 });
      expect((await setStatus(org, a, 'ACTIVE')).errors).toBeUndefined();
      expect(await statusesOf(gw, org, a)).toEqual({ BASE: 'GRANTED' });
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 0, available: 0 });
    });

    it('[R-TEN-5] prepare before the key: PREPARING users are created and configured without a key; ACTIVE needs a key and a licence left', async () => {
      const org = await createOrg(gw, STORM, `Prepare ${kind}`);
      const agents = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
      const supervisors = await createGroup(gw, org, 'Supervisors', ['BASE', 'SUPERVISOR_SEAT']);

      // Created, moved and assigned while no key is active (licence state NONE).
      const ada = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Ada', status: 'PREPARING', configurationGroupId: agents });
      const bob = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Bob', status: 'PREPARING' });
      await moveUsers(gw, org, [bob], supervisors);
      expect((await assignLicense(gw, org, ada, 'ADMINISTRATOR')).errors).toBeUndefined();
      expect(await statusesOf(gw, org, ada)).toEqual({
        BASE: 'UNLICENSED',
        AGENT_SEAT: 'UNLICENSED',
        VOICE: 'UNLICENSED',
        ADMINISTRATOR: 'UNLICENSED',
      });
      expect(await base(org)).toEqual({ total: 0, inUse: 0, reusable: 0, available: 0 });

      // ACTIVE before any key: refused naming the licence state and its rule.
      expectRefusal(
        await setStatus(org, ada, 'ACTIVE'),
        'R-LIFE-5',
        'Ada cannot become ACTIVE',
        'no licence key is active',
        'licence state NONE',
      );
      expect(await statusOf(org, ada)).toBe('PREPARING');

      // With the key (1 BASE), Ada becomes ACTIVE and takes it; Bob finds none left.
      await activateKey(
        gw,
        org,
        issueLicenseKey(
          STORM,
          [
            { product: 'BASE', quantity: 1 },
            { product: 'AGENT_SEAT', quantity: 1 },
            { product: 'SUPERVISOR_SEAT', quantity: 1 },
            { product: 'VOICE', quantity: 1 },
            { product: 'ADMINISTRATOR', quantity: 1 },
          ],
          { org },
        ),
      );
      expect(await base(org)).toEqual({ total: 1, inUse: 0, reusable: 0, available: 1 });
      expect((await setStatus(org, ada, 'ACTIVE')).errors).toBeUndefined();
      // The ADMINISTRATOR fixed seat also needs its holder's security key (R-2FA-2): not enrolled yet.
      expect(await statusesOf(gw, org, ada)).toEqual({
        BASE: 'GRANTED',
        AGENT_SEAT: 'GRANTED',
        VOICE: 'GRANTED',
        ADMINISTRATOR: 'MISSING_PREREQUISITE',
      });
      await gw.ok(
        `mutation($input: SetUserSecurityKeyEnrolledInput!) { setUserSecurityKeyEnrolled(input: $input) { user { id } } }`,
        { input: { userId: ada, enrolled: true } },
        org.admin,
      );
      expect((await statusesOf(gw, org, ada)).ADMINISTRATOR).toBe('GRANTED');
      expect(await base(org)).toEqual({ total: 1, inUse: 1, reusable: 0, available: 0 });
      expectRefusal(await setStatus(org, bob, 'ACTIVE'), 'R-REASSIGN-1', 'Bob cannot become ACTIVE', '1 of 1 are held');
      expect(await statusOf(org, bob)).toBe('PREPARING');
    });

    it('[R-TEN-4] a base licence stored as held by a PREPARING user (before this rule) reads as released and is released at the next change', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 2 }]);
      const agents = await createGroup(gw, org, 'Agents', ['BASE']);
      const p = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Pat', status: 'PREPARING', configurationGroupId: agents });
      // What the gateway wrote before R-TEN-4: a slot taken by the PREPARING user.
      await gw.database.db
        .insertInto('license_slots')
        .values({
          organization_id: org.organizationId,
          product_code: 'BASE',
          slot_no: 0,
          holder_user_id: p,
          window_start: NOW,
          early_used: false,
        })
        .execute();
      // Read as released within its window: reusable once, as if it had been taken away.
      expect(await base(org)).toEqual({ total: 2, inUse: 1, reusable: 1, available: 2 });
      const held = () =>
        gw.database.db
          .selectFrom('license_slots')
          .select('holder_user_id')
          .where('organization_id', '=', org.organizationId)
          .where('holder_user_id', 'is not', null)
          .execute();
      // The next configuration change of the organization writes it released.
      const q = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Quinn', configurationGroupId: agents });
      expect(await held()).toEqual([{ holder_user_id: q }]);
      expect(await base(org)).toEqual({ total: 2, inUse: 2, reusable: 1, available: 1 });
    });

    it('[R-TEN-4] [R-NAMED-2] a PREPARING user made ACTIVE on a REFUSE product with every licence held is refused, naming that user', async () => {
      const org = await licensedOrg(gw, ZOOM, [{ product: 'ESSENTIALS', quantity: 1, allocation: 'NAMED' }]);
      const tier = await createGroup(gw, org, 'Essentials', ['ESSENTIALS']);
      // Configured first, while PREPARING: it ranks before the holder, yet may not take the holder's licence.
      const early = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Early', status: 'PREPARING', configurationGroupId: tier });
      gw.clock.advance(1000);
      const holder = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Holder', configurationGroupId: tier });
      gw.clock.advance(1000);
      const late = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Late', status: 'PREPARING', configurationGroupId: tier });
      expect(await statusesOf(gw, org, holder)).toMatchObject({ ESSENTIALS: 'GRANTED' });

      expectRefusal(await setStatus(org, late, 'ACTIVE'), 'R-NAMED-2', 'all 1 ESSENTIALS licences are held', 'Late');
      expectRefusal(await setStatus(org, early, 'ACTIVE'), 'R-NAMED-2', 'all 1 ESSENTIALS licences are held', 'Early');
      expect(await statusOf(org, late)).toBe('PREPARING');
      expect(await statusOf(org, early)).toBe('PREPARING');
      expect(await statusesOf(gw, org, holder)).toMatchObject({ ESSENTIALS: 'GRANTED' });

      // Once the holder leaves, the next one becomes ACTIVE with the licence.
      expect((await setStatus(org, holder, 'INACTIVE')).errors).toBeUndefined();
      expect((await setStatus(org, late, 'ACTIVE')).errors).toBeUndefined();
      expect(await statusesOf(gw, org, late)).toMatchObject({ ESSENTIALS: 'GRANTED' });
    });
  });
}
