import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { assignLicense, createUsers, eventsOf, licensedOrg, statusesOf, TRUSTED_KEYS } from '../support/licensing.ts';
import { endSession, startSession } from '../support/sessions.ts';

/*
 * R-2FA-2 (seed 004): the holder of connect storm's ADMINISTRATOR licence
 * needs a hardware security key for two-factor sign-in. The fact is recorded
 * per user by an administrator (setUserSecurityKeyEnrolled); until then the
 * licence is an unmet prerequisite in `licenses`, `explain` and the user's
 * warnings, and it is not the user's access (R-NAMED-5: a fixed seat not
 * GRANTED opens no session).
 */

const EXPLAIN = `query($id: ID!) { user(id: $id) { securityKeyEnrolled explain(product: "ADMINISTRATOR") { granted steps } } }`;
const SET = `mutation($input: SetUserSecurityKeyEnrolledInput!) {
  setUserSecurityKeyEnrolled(input: $input) { user { id securityKeyEnrolled } }
}`;
const WARNINGS = `query($id: ID!, $org: ID!) {
  user(id: $id) { warnings { code product { code } message } }
  organization(id: $org) { users(first: 100, hasWarnings: true) { totalCount edges { node { id } } } }
}`;

for (const kind of DATABASES) {
  describe(`administrator security keys on ${kind}`, () => {
    let gw: TestGateway;
    let org: OrgFixture;
    let other: OrgFixture;
    let admin: string;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      const bought = [
        { product: 'BASE', quantity: 5 },
        { product: 'ADMINISTRATOR', quantity: 2 },
      ];
      org = await licensedOrg(gw, 'connect-storm', bought);
      other = await licensedOrg(gw, 'connect-storm', bought);
      admin = (await createUsers(gw, org, 1, { prefix: 'Admin' }))[0]!;
      expect((await assignLicense(gw, org, admin!, 'ADMINISTRATOR')).errors).toBeUndefined();
    });

    afterAll(async () => {
      await gw?.close();
    });

    it('[R-2FA-2] without a security key the ADMINISTRATOR licence is an unmet prerequisite in licenses and explain', async () => {
      expect((await statusesOf(gw, org, admin!)).ADMINISTRATOR).toBe('MISSING_PREREQUISITE');
      const data = await gw.ok(EXPLAIN, { id: admin }, org.admin);
      expect(data.user.securityKeyEnrolled).toBe(false);
      expect(data.user.explain.granted).toBe(false);
      expect(data.user.explain.steps.join(' ')).toMatch(/security key enrolled for the user/);
    });

    it("[R-2FA-2] only ADMIN records the fact; another organization's token gets NOT_FOUND", async () => {
      const input = { userId: admin, enrolled: true };
      expect(codeOf(await gw.gql(SET, { input }, org.tokens.SUPERVISOR))).toBe('FORBIDDEN');
      expect(codeOf(await gw.gql(SET, { input }, other.admin))).toBe('NOT_FOUND');
      expect((await statusesOf(gw, org, admin!)).ADMINISTRATOR).toBe('MISSING_PREREQUISITE');
    });

    it('[R-2FA-2][R-EVENT-1] once a key is enrolled the licence is granted; removing it brings the prerequisite back; both are logged', async () => {
      const on = await gw.ok(SET, { input: { userId: admin, enrolled: true } }, org.admin);
      expect(on.setUserSecurityKeyEnrolled.user).toEqual({ id: admin, securityKeyEnrolled: true });
      expect((await statusesOf(gw, org, admin!)).ADMINISTRATOR).toBe('GRANTED');
      const explained = await gw.ok(EXPLAIN, { id: admin }, org.admin);
      expect(explained.user.explain.granted).toBe(true);
      // Setting it again changes nothing and logs nothing.
      await gw.ok(SET, { input: { userId: admin, enrolled: true } }, org.admin);
      await gw.ok(SET, { input: { userId: admin, enrolled: false } }, org.admin);
      expect((await statusesOf(gw, org, admin!)).ADMINISTRATOR).toBe('MISSING_PREREQUISITE');
      const events = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'USER_SECURITY_KEY_CHANGED');
      expect(events.map((e) => e.detail).sort()).toEqual(['enrolled', 'removed']);
    });

    it('[R-2FA-2] without a security key the administrator has a MISSING_PREREQUISITE warning and is found by users(hasWarnings: true)', async () => {
      await gw.ok(SET, { input: { userId: admin, enrolled: false } }, org.admin);
      const before = await gw.ok(WARNINGS, { id: admin, org: org.organizationId }, org.tokens.SUPERVISOR);
      expect(before.user.warnings).toEqual([
        { code: 'MISSING_PREREQUISITE', product: { code: 'ADMINISTRATOR' }, message: expect.stringMatching(/security key enrolled/) },
      ]);
      expect(before.organization.users.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([admin]);
      await gw.ok(SET, { input: { userId: admin, enrolled: true } }, org.admin);
      const after = await gw.ok(WARNINGS, { id: admin, org: org.organizationId }, org.tokens.SUPERVISOR);
      expect(after.user.warnings).toEqual([]);
      expect(after.organization.users).toEqual({ totalCount: 0, edges: [] });
      await gw.ok(SET, { input: { userId: admin, enrolled: false } }, org.admin);
    });

    it('[R-2FA-2][R-NAMED-5] the ADMINISTRATOR fixed seat is no access without a security key: MISSING_PREREQUISITE naming R-2FA-2; with one, a NAMED session', async () => {
      await gw.ok(SET, { input: { userId: admin, enrolled: false } }, org.admin);
      const refused = await startSession(gw, org, admin);
      expect(refused).toMatchObject({ granted: false, session: null, denial: { code: 'MISSING_PREREQUISITE' } });
      expect(refused.denial?.message).toMatch(/ADMINISTRATOR .*security key.*R-2FA-2/);
      await gw.ok(SET, { input: { userId: admin, enrolled: true } }, org.admin);
      const started = await startSession(gw, org, admin);
      expect(started).toMatchObject({ granted: true, session: { seatKind: 'NAMED' } });
      await endSession(gw, org, started.session!.id);
      await gw.ok(SET, { input: { userId: admin, enrolled: false } }, org.admin);
    });
  });
}
