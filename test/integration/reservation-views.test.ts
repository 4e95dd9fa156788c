import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { type OrgFixture, startGateway, type TestGateway } from '../support/gateway.ts';
import { type Bought, countingDatabase, createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { twoSiteOrg, type UnitView } from '../support/reservations.ts';
import { startSession } from '../support/sessions.ts';

/*
 * Where seat reservations and caps (R-RES) show besides the start: the
 * licence mapping's per-site and per-group breakdown of a concurrent row
 * (the same units as seatUsage, R-RES-6) and User.explain, which names the
 * bound that applies to the user (R-EXPLAIN-1).
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const SET_BOUND = `mutation($input: SetSeatBoundInput!) { setSeatBound(input: $input) { applied } }`;
const UNIT_FIELDS = 'siteId siteName configurationGroupId configurationGroupName reserved cap inUse';
const VIEWS = `query($id: ID!) { organization(id: $id) {
  seatUsage { pools { product { code } units { ${UNIT_FIELDS} } } }
  licenseMapping { product { code } licenseType units { ${UNIT_FIELDS} } } } }`;
const EXPLAIN = `query($id: ID!, $product: String!) {
  user(id: $id) { explain(product: $product) { granted steps details { code text parameters { name value } } } } }`;

interface Views {
  organization: {
    seatUsage: { pools: { product: { code: string }; units: UnitView[] }[] };
    licenseMapping: { product: { code: string }; licenseType: string; units: UnitView[] }[];
  };
}

interface ExplainView {
  user: {
    explain: {
      granted: boolean;
      steps: string[];
      details: { code: string; text: string; parameters: { name: string; value: string }[] }[];
    };
  };
}

const BOUND_CODES = ['SEAT_RESERVATION', 'SEAT_CAP', 'SEAT_CAP_REACHED', 'SEATS_RESERVED_FOR_OTHERS'];

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    /** connect storm with `seats` AGENT_SEATs: Headquarters (the fixture's site) with HQ agents and Temps, Munich with its agents. */
    async function twoSites(seats: Bought, perSite: number, extra: Bought[] = []) {
      const f = await twoSiteOrg(gw, 'Munich', seats, perSite, extra);
      return { ...f, munich: f.site, munichGroup: f.siteGroup, munichers: f.siteUsers };
    }

    const setBound = async (org: OrgFixture, input: Record<string, unknown>) => {
      const result = await gw.gql(SET_BOUND, { input }, org.admin);
      expect(result.errors).toBeUndefined();
    };
    const views = (org: OrgFixture) => gw.ok<Views>(VIEWS, { id: org.organizationId }, org.admin);
    const explain = async (org: OrgFixture, userId: string, product: string) =>
      (await gw.ok<ExplainView>(EXPLAIN, { id: userId, product }, org.admin)).user.explain;
    const paramsOf = (d: { parameters: { name: string; value: string }[] }) =>
      Object.fromEntries(d.parameters.map((p) => [p.name, p.value]));

    it('[R-RES-6] the licence mapping breaks a concurrent row down per site and group, the same units as seatUsage', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 3, [{ product: 'VOICE', quantity: 5 }]);
      await setBound(f.org, { product: 'AGENT_SEAT', siteId: f.munich, reserved: 4, cap: 6 });
      await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.munichGroup, reserved: 2 });
      await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 2 });
      await setBound(f.org, { product: 'VOICE', configurationGroupId: f.temps, cap: 1 });
      for (const u of [f.hq[0]!, f.tempUsers[0]!, f.munichers[0]!, f.munichers[1]!])
        expect((await startSession(gw, f.org, u)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.tempUsers[1]!, ['VOICE'])).grantedChannels).toEqual(['VOICE']);

      const v = await views(f.org);
      const mapping = new Map(v.organization.licenseMapping.map((r) => [r.product.code, r]));
      const agentUnits = mapping.get('AGENT_SEAT')?.units;
      expect(agentUnits).toEqual([
        {
          siteId: f.org.siteId,
          siteName: 'Headquarters',
          configurationGroupId: null,
          configurationGroupName: null,
          reserved: 0,
          cap: null,
          inUse: 3,
        },
        {
          siteId: f.org.siteId,
          siteName: 'Headquarters',
          configurationGroupId: f.temps,
          configurationGroupName: 'Temps',
          reserved: 0,
          cap: 2,
          inUse: 2,
        },
        { siteId: f.munich, siteName: 'Munich', configurationGroupId: null, configurationGroupName: null, reserved: 4, cap: 6, inUse: 2 },
        {
          siteId: f.munich,
          siteName: 'Munich',
          configurationGroupId: f.munichGroup,
          configurationGroupName: 'Munich agents',
          reserved: 2,
          cap: null,
          inUse: 2,
        },
      ]);
      // Every concurrent row carries exactly the units seatUsage shows for its pool; other rows none.
      for (const pool of v.organization.seatUsage.pools) expect(mapping.get(pool.product.code)?.units).toEqual(pool.units);
      expect(mapping.get('VOICE')?.units).toMatchObject([
        { siteName: 'Headquarters', configurationGroupId: null, cap: null, inUse: 1 },
        { siteName: 'Headquarters', configurationGroupName: 'Temps', cap: 1, inUse: 1 },
      ]);
      for (const row of v.organization.licenseMapping) if (row.licenseType !== 'CONCURRENT') expect(row.units).toEqual([]);
    });

    it('[R-EXPLAIN-1] [R-RES-5] explain names the cap of the user’s group, reached or not, and the refusal it means', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 10 }, 3);
      await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 2 });
      expect((await startSession(gw, f.org, f.tempUsers[0]!)).granted).toBe(true);
      const below = (await explain(f.org, f.tempUsers[1]!, 'AGENT_SEAT')).details.filter((d) => BOUND_CODES.includes(d.code));
      expect(below.map((d) => d.text)).toEqual(['group Temps caps its members at 2 AGENT_SEAT seat(s) at once (1 in use).']);
      expect(paramsOf(below[0]!)).toEqual({ unit: 'group Temps', product: 'AGENT_SEAT', cap: '2', inUse: '1' });
      expect((await startSession(gw, f.org, f.tempUsers[1]!)).granted).toBe(true);
      const e = await explain(f.org, f.tempUsers[2]!, 'AGENT_SEAT');
      const reached = e.details.filter((d) => BOUND_CODES.includes(d.code));
      expect(reached.map((d) => [d.code, d.text])).toEqual([
        [
          'SEAT_CAP_REACHED',
          'group Temps holds its cap of 2 AGENT_SEAT seat(s) (2 in use): a new session of the user is refused (CAP_REACHED).',
        ],
      ]);
      expect(e.steps).toContain(reached[0]!.text);
      // The start says the same.
      expect((await startSession(gw, f.org, f.tempUsers[2]!)).denial?.code).toBe('CAP_REACHED');
      // An HQ agent of the same site is bound by none of it.
      expect((await explain(f.org, f.hq[0]!, 'AGENT_SEAT')).details.filter((d) => BOUND_CODES.includes(d.code))).toEqual([]);
    });

    it('[R-EXPLAIN-1] [R-RES-3] explain names the reservation of the user’s site and group, and others’ reservations that refuse the user', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 4 }, 4);
      await setBound(f.org, { product: 'AGENT_SEAT', siteId: f.munich, reserved: 2, cap: 3 });
      await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.munichGroup, reserved: 1 });
      expect((await startSession(gw, f.org, f.munichers[0]!)).granted).toBe(true);
      const member = (await explain(f.org, f.munichers[1]!, 'AGENT_SEAT')).details.filter((d) => BOUND_CODES.includes(d.code));
      expect(member.map((d) => [d.code, d.text])).toEqual([
        ['SEAT_RESERVATION', 'site Munich reserves 2 AGENT_SEAT seat(s) for its members (1 in use).'],
        ['SEAT_CAP', 'site Munich caps its members at 3 AGENT_SEAT seat(s) at once (1 in use).'],
        ['SEAT_RESERVATION', 'group Munich agents reserves 1 AGENT_SEAT seat(s) for its members (1 in use).'],
      ]);
      expect(paramsOf(member[0]!)).toEqual({ unit: 'site Munich', product: 'AGENT_SEAT', reserved: '2', inUse: '1' });
      // HQ takes the two free seats beyond Munich's unused reservation; the next HQ agent is refused for it.
      expect((await startSession(gw, f.org, f.hq[0]!)).granted).toBe(true);
      expect((await startSession(gw, f.org, f.hq[1]!)).granted).toBe(true);
      const other = (await explain(f.org, f.hq[2]!, 'AGENT_SEAT')).details.filter((d) => BOUND_CODES.includes(d.code));
      expect(other.map((d) => [d.code, d.text])).toEqual([
        [
          'SEATS_RESERVED_FOR_OTHERS',
          'A new session of the user is refused (SEATS_RESERVED): the free AGENT_SEAT seats are reserved: site Munich 2 (1 in use) (R-RES-3).',
        ],
      ]);
      expect((await startSession(gw, f.org, f.hq[2]!)).denial?.code).toBe('SEATS_RESERVED');
    });

    it('[R-EXPLAIN-1] explain says nothing about bounds for an unbounded pool, nor for a named product', async () => {
      const f = await twoSites({ product: 'AGENT_SEAT', quantity: 2 }, 2);
      expect((await startSession(gw, f.org, f.tempUsers[0]!)).granted).toBe(true);
      const e = await explain(f.org, f.tempUsers[1]!, 'AGENT_SEAT');
      expect(e.details.map((d) => d.code)).toContain('CONCURRENT_ELIGIBLE');
      expect(e.details.filter((d) => BOUND_CODES.includes(d.code))).toEqual([]);
      await setBound(f.org, { product: 'AGENT_SEAT', configurationGroupId: f.temps, cap: 1 });
      const named = await explain(f.org, f.tempUsers[1]!, 'BASE');
      expect(named.details.filter((d) => BOUND_CODES.includes(d.code))).toEqual([]);
      // Once the pool has a bound, the same question names it: the checks above look where a bound would show.
      expect((await explain(f.org, f.tempUsers[1]!, 'AGENT_SEAT')).details.map((d) => d.code)).toContain('SEAT_CAP_REACHED');
    });

    it('[R-RES-6] [R-API-4] the mapping reads the units once per request, not once per concurrent row', async () => {
      const counting = await countingDatabase(kind);
      const cgw = await startGateway(kind, { now: NOW, database: counting.database, trustedKeys: TRUSTED_KEYS });
      try {
        const org = await licensedOrg(cgw, 'connect-storm', [
          { product: 'BASE', quantity: 4 },
          { product: 'AGENT_SEAT', quantity: 4 },
          { product: 'VOICE', quantity: 4 },
        ]);
        const temps = await createGroup(cgw, org, 'Temps', ['BASE', 'AGENT_SEAT', 'VOICE']);
        const [user] = await createUsers(cgw, org, 1, { prefix: 'Temp', configurationGroupId: temps });
        for (const product of ['AGENT_SEAT', 'VOICE']) {
          const bound = await cgw.gql(SET_BOUND, { input: { product, configurationGroupId: temps, cap: 2 } }, org.admin);
          expect(bound.errors).toBeUndefined();
        }
        expect((await startSession(cgw, org, user!, ['VOICE'])).grantedChannels).toEqual(['VOICE']);
        counting.reset();
        const v = await cgw.ok<Views>(VIEWS, { id: org.organizationId }, org.admin);
        const bounded = v.organization.licenseMapping.filter((r) => r.units.length > 0).map((r) => r.product.code);
        expect(bounded).toEqual(expect.arrayContaining(['AGENT_SEAT', 'VOICE']));
        // seatUsage reads the bounds once; the mapping's rows share one more read, whatever their number.
        const reads = counting.sql().filter((q) => q.includes('seat_bounds'));
        expect(reads, reads.join('\n')).toHaveLength(2);
      } finally {
        await cgw.close();
      }
    });
  });
}
