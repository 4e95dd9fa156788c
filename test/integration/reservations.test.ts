import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, type OrgFixture, startGateway, type TestGateway } from '../support/gateway.ts';
import { type Bought, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { twoSiteOrg, type UnitView } from '../support/reservations.ts';
import { endSession, poolCounter, startSession } from '../support/sessions.ts';

/*
 * Seat reservations and caps per site and configuration group (R-RES): a
 * reservation keeps regular seats for a unit's members, a cap bounds how
 * many they hold at once; emergency seats are the pool's shared reserve
 * (they ignore reservations, respect caps). Every start path honours them:
 * the first start of each test warms the start cache, so later starts of
 * the AGENT_CLIENT token try the one statement first.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const SET_BOUND = `mutation($input: SetSeatBoundInput!) {
  setSeatBound(input: $input) { applied product siteId configurationGroupId reserved cap inUse overCap } }`;
const UNITS = `query($id: ID!) { organization(id: $id) { seatUsage { pools { product { code } capacity inUse emergencyInUse
  units { siteId siteName configurationGroupId configurationGroupName reserved cap inUse } } } } }`;

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    /** connect storm with `seats` AGENT_SEATs: Headquarters (the fixture's site) and Berlin, a group of agents at each. */
    async function twoSites(seats: Bought, perSite: number, extra: Bought[] = []) {
      const f = await twoSiteOrg(gw, 'Berlin', seats, perSite, extra);
      // Warms the start cache: from here on a start of the AGENT_CLIENT token tries the one statement first.
      const warm = await startSession(gw, f.org, f.hq[0]!);
      await endSession(gw, f.org, warm.session!.id);
      return { ...f, berlin: f.site, berlinGroup: f.siteGroup, berliners: f.siteUsers };
    }

    const setBound = (org: OrgFixture, input: Record<string, unknown>) => gw.gql(SET_BOUND, { input }, org.admin);
    const okBound = async (org: OrgFixture, input: Record<string, unknown>) => {
      const result = await setBound(org, input);
      expect(result.errors).toBeUndefined();
      return result.data?.setSeatBound;
    };
    const units = async (org: OrgFixture, product: string): Promise<UnitView[]> => {
      const data = await gw.ok<{ organization: { seatUsage: { pools: { product: { code: string }; units: UnitView[] }[] } } }>(
        UNITS,
        { id: org.organizationId },
        org.tokens.SUPERVISOR,
      );
      return data.organization.seatUsage.pools.find((p) => p.product.code === product)?.units ?? [];
    };

    it('[R-RES-3] a site reservation keeps its seats: others are refused SEATS_RESERVED naming it, its members still get them', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 5 }, 4);
      expect(await okBound(f.org, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 2 })).toMatchObject({
        applied: true,
        reserved: 2,
        cap: null,
        inUse: 0,
      });
      const hq = [];
      for (const u of f.hq.slice(0, 3)) hq.push(await startSession(gw, f.org, u));
      expect(hq.map((s) => s.granted)).toEqual([true, true, true]);
      const refused = await startSession(gw, f.org, f.hq[3]!);
      expect(refused.granted).toBe(false);
      expect(refused.denial).toEqual({
        code: 'SEATS_RESERVED',
        message: 'the free AGENT_SEAT seats are reserved: site Berlin 2 (0 in use) (R-RES-3)',
      });
      // Berlin's members take the two seats kept for them; the pool is then full for everyone.
      expect((await startSession(gw, f.org, f.berliners[0]!)).session?.seatKind).toBe('REGULAR');
      expect((await startSession(gw, f.org, f.berliners[1]!)).session?.seatKind).toBe('REGULAR');
      expect((await startSession(gw, f.org, f.berliners[2]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
      expect(await poolCounter(gw, f.org.organizationId, 'AGENT_SEAT')).toBe(5);
      // An HQ agent leaves: the seat is not Berlin's (Berlin holds its 2), another HQ agent takes it.
      await endSession(gw, f.org, hq[0]!.session!.id);
      expect((await startSession(gw, f.org, f.hq[3]!)).granted).toBe(true);
      expect(await units(f.org, 'AGENT_SEAT')).toEqual([
        {
          siteId: f.berlin,
          siteName: 'Berlin',
          configurationGroupId: null,
          configurationGroupName: null,
          reserved: 2,
          cap: null,
          inUse: 2,
        },
        // [R-RES-6] every site whose members hold seats shows, bound or not.
        {
          siteId: f.org.siteId,
          siteName: 'Headquarters',
          configurationGroupId: null,
          configurationGroupName: null,
          reserved: 0,
          cap: null,
          inUse: 3,
        },
      ]);
    });

    it('[R-RES-5] a group cap bounds its members at once: CAP_REACHED names the group and the cap; other groups go on', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 4);
      await okBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 2 });
      expect((await startSession(gw, f.org, f.tempUsers[0]!)).granted).toBe(true);
      const second = await startSession(gw, f.org, f.tempUsers[1]!);
      expect(second.granted).toBe(true);
      expect(await startSession(gw, f.org, f.tempUsers[2]!)).toMatchObject({
        granted: false,
        denial: { code: 'CAP_REACHED', message: 'group Temps holds its cap of 2 AGENT_SEAT seat(s) (R-RES-5)' },
      });
      expect((await startSession(gw, f.org, f.hq[1]!)).granted).toBe(true);
      // One leaves, the next temp gets in.
      await endSession(gw, f.org, second.session!.id);
      expect((await startSession(gw, f.org, f.tempUsers[2]!)).granted).toBe(true);
      expect(await units(f.org, 'AGENT_SEAT')).toMatchObject([
        { siteName: 'Headquarters', configurationGroupId: null, reserved: 0, cap: null, inUse: 3 },
        { siteName: 'Headquarters', configurationGroupId: f.temps, configurationGroupName: 'Temps', cap: 2, inUse: 2 },
      ]);
    });

    it('[R-RES-5] a site cap counts every group of the site; a cap below the seats held keeps them and admits nobody new', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 3);
      expect((await startSession(gw, f.org, f.hq[1]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.tempUsers[0]!)).granted).toBe(true);
      const siteId = f.org.siteId;
      expect(await okBound(f.org, { product: 'AGENT_SEAT', siteId, cap: 1 })).toMatchObject({ cap: 1, inUse: 2, overCap: 1 });
      expect((await startSession(gw, f.org, f.hq[2]!)).denial).toEqual({
        code: 'CAP_REACHED',
        message: 'site Headquarters holds its cap of 1 AGENT_SEAT seat(s) (R-RES-5)',
      });
      expect((await startSession(gw, f.org, f.berliners[0]!)).granted).toBe(true);
      // Removing the bound (no reservation, no cap) lets them in again.
      await okBound(f.org, { product: 'AGENT_SEAT', siteId, cap: null, reserved: 0 });
      expect((await units(f.org, 'AGENT_SEAT')).map((u) => [u.siteName, u.reserved, u.cap, u.inUse])).toEqual([
        ['Berlin', 0, null, 1],
        ['Headquarters', 0, null, 2],
      ]);
      expect((await startSession(gw, f.org, f.hq[2]!)).granted).toBe(true);
    });

    it('[R-RES-4] emergency seats ignore reservations (shared reserve) but respect caps; the seat kind is the pool’s', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 3, emergencyQuantity: 1 }, 3);
      await okBound(f.org, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 2 });
      await okBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 1 });
      // HQ: one regular seat beyond the reservation, plus the emergency seat as room.
      expect((await startSession(gw, f.org, f.hq[0]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.hq[1]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.hq[2]!)).denial?.code).toBe('SEATS_RESERVED');
      // Berlin still gets both reserved seats: the second is the pool's emergency seat (4 in use of 3 + 1).
      expect((await startSession(gw, f.org, f.berliners[0]!)).session?.seatKind).toBe('REGULAR');
      expect((await startSession(gw, f.org, f.berliners[1]!)).session?.seatKind).toBe('EMERGENCY');
      expect(await poolCounter(gw, f.org.organizationId, 'AGENT_SEAT')).toBe(4);
    });

    it('[R-RES-4] with overage allowed, reservations refuse nobody and caps still hold', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 1, overageAllowed: true }, 3);
      await okBound(f.org, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 1 });
      await okBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 1 });
      expect((await startSession(gw, f.org, f.hq[0]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.hq[1]!)).session?.seatKind).toBe('OVERAGE');
      expect((await startSession(gw, f.org, f.tempUsers[0]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.tempUsers[1]!)).denial?.code).toBe('CAP_REACHED');
      expect((await startSession(gw, f.org, f.berliners[0]!)).granted).toBe(true);
    });

    it('[R-RES-5] a cap on a concurrent channel feature denies the channel only, naming the bound', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 2, [{ product: 'VOICE', quantity: 5 }]);
      await okBound(f.org, { product: 'VOICE', configurationGroupId: f.temps, cap: 1 });
      expect((await startSession(gw, f.org, f.tempUsers[0]!, ['VOICE'])).grantedChannels).toEqual(['VOICE']);
      const second = await startSession(gw, f.org, f.tempUsers[1]!, ['VOICE']);
      expect(second.granted).toBe(true);
      expect(second.deniedChannels).toEqual([
        { channel: 'VOICE', code: 'CAP_REACHED', message: 'group Temps holds its cap of 1 VOICE seat(s) (R-RES-5)' },
      ]);
      expect(await poolCounter(gw, f.org.organizationId, 'VOICE')).toBe(1);
      expect((await startSession(gw, f.org, f.hq[0]!, ['VOICE'])).grantedChannels).toEqual(['VOICE']);
    });

    it('[R-RES-5] an added channel (changeSessionChannels) is held to the same cap as at the start', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 2, [{ product: 'VOICE', quantity: 5 }]);
      await okBound(f.org, { product: 'VOICE', configurationGroupId: f.temps, cap: 1 });
      const first = await startSession(gw, f.org, f.tempUsers[0]!, ['VOICE']);
      expect(first.grantedChannels).toEqual(['VOICE']);
      const second = await startSession(gw, f.org, f.tempUsers[1]!);
      expect(second.granted).toBe(true);
      const change = await gw.gql<{
        changeSessionChannels: { addedChannels: string[]; deniedChannels: { channel: string; code: string; message: string }[] };
      }>(
        `mutation($input: ChangeSessionChannelsInput!) { changeSessionChannels(input: $input) { addedChannels deniedChannels { channel code message } } }`,
        { input: { sessionId: second.session!.id, channels: ['VOICE'] } },
        f.org.tokens.AGENT_CLIENT,
      );
      expect(change.errors).toBeUndefined();
      expect(change.data?.changeSessionChannels).toEqual({
        addedChannels: [],
        deniedChannels: [{ channel: 'VOICE', code: 'CAP_REACHED', message: 'group Temps holds its cap of 1 VOICE seat(s) (R-RES-5)' }],
      });
      expect(await poolCounter(gw, f.org.organizationId, 'VOICE')).toBe(1);
      // Once the holder leaves, the change is granted and counted against the group.
      await endSession(gw, f.org, first.session!.id);
      const again = await gw.gql<{ changeSessionChannels: { addedChannels: string[] } }>(
        `mutation($input: ChangeSessionChannelsInput!) { changeSessionChannels(input: $input) { addedChannels } }`,
        { input: { sessionId: second.session!.id, channels: ['VOICE'] } },
        f.org.tokens.AGENT_CLIENT,
      );
      expect(again.data?.changeSessionChannels.addedChannels).toEqual(['VOICE']);
      expect((await units(f.org, 'VOICE')).find((u) => u.configurationGroupName === 'Temps')).toMatchObject({ cap: 1, inUse: 1 });
    });

    it('[R-RES-1] reservations beyond the pool are refused naming the numbers; [R-RES-2] a group reserves within its site', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 5 }, 1);
      await okBound(f.org, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 3 });
      const tooMany = await setBound(f.org, { product: 'AGENT_SEAT', siteId: f.org.siteId, reserved: 3 });
      expect(codeOf(tooMany)).toBe('BAD_USER_INPUT');
      expect(tooMany.errors?.[0]?.message).toBe(
        'input.reserved: AGENT_SEAT: the reservations would total 6 seat(s) but the pool has 5 regular seat(s) (R-RES-1)',
      );
      expect(tooMany.errors?.[0]?.extensions).toMatchObject({ field: 'input.reserved', rule: 'R-RES-1' });
      const group = await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.berlinGroup, reserved: 4 });
      expect(codeOf(group)).toBe('BAD_USER_INPUT');
      expect(group.errors?.[0]?.message).toContain(
        'the groups of site Berlin would reserve 4 seat(s) (group Berlin agents 4) but site Berlin reserves 3',
      );
      const outsideSite = await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, reserved: 1 });
      expect(outsideSite.errors?.[0]?.message).toContain('reserves 0');
      expect(codeOf(await setBound(f.org, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 2, cap: 1 }))).toBe('BAD_USER_INPUT');
      expect(codeOf(await setBound(f.org, { product: 'AGENT_SEAT', reserved: 1 }))).toBe('BAD_USER_INPUT');
      expect(codeOf(await setBound(f.org, { product: 'BASE', siteId: f.berlin, reserved: 1 }))).toBe('BAD_USER_INPUT');
      // Within the site's 3: accepted; a dry run reports and changes nothing.
      expect(await okBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.berlinGroup, reserved: 2, dryRun: true })).toMatchObject(
        {
          applied: false,
          reserved: 2,
        },
      );
      expect((await units(f.org, 'AGENT_SEAT')).map((u) => u.configurationGroupName)).toEqual([null]);
      await okBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.berlinGroup, reserved: 2 });
      expect((await units(f.org, 'AGENT_SEAT')).map((u) => [u.siteName, u.configurationGroupName, u.reserved])).toEqual([
        ['Berlin', null, 3],
        ['Berlin', 'Berlin agents', 2],
      ]);
      // Another organization's admin cannot reach the site.
      const other = await licensedOrg(gw, 'connect-storm', [{ product: 'AGENT_SEAT', quantity: 1 }]);
      expect(codeOf(await setBound(other, { product: 'AGENT_SEAT', siteId: f.berlin, reserved: 1 }))).toBe('NOT_FOUND');
    });
  });
}
