import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { sweepExpiredSessions } from '../../src/sessions/sweep.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import {
  TRUSTED_KEYS,
  activateKey,
  createGroup,
  createUsers,
  issueLicenseKey,
  licensedOrg,
  mappingRow,
  statusesOf,
  type Bought,
} from '../support/licensing.ts';
import {
  END_SESSION,
  HEARTBEAT,
  START_SESSION,
  advanceKeepingAlive,
  endSession,
  eventsPage,
  heartbeat,
  pool,
  poolCounter,
  startGranted,
  startSession,
  startSessionRaw,
  tokenIdOf,
  usageOf,
  type EventView,
  type SessionView,
} from '../support/sessions.ts';

/*
 * Concurrent seats and sessions through the public GraphQL API on real
 * databases (SPEC §4.4, §4.9, §4.10): seats taken and freed, one open session
 * per user, eligibility versus seats, emergency and overage seats, metering of
 * overage episodes against the 30-minute grace, demo mode, channels, expiry,
 * the event log and who may do what.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 86_400_000;
/** The gateway's default SESSION_TTL_SECONDS. */
const TTL_MS = 120 * SECOND;

const INNOACD = 'innoacd';
const ZOOM = 'zoom-contact-center';
const STORM = 'connect-storm';

const iso = (ms: number) => new Date(ms).toISOString();
const LICENSE = `query($id: ID!) { organization(id: $id) { license { state validUntil graceUntil demoAgentLimit } } }`;
const USER_SESSIONS = `query($id: ID!) { user(id: $id) { sessions { id endedAt endReason seatKind } } }`;

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    /** A licensed organization with one configuration group of `functions` and `count` members. */
    async function staffed(
      catalog: string,
      bought: readonly Bought[] | null,
      functions: string[],
      count: number,
    ): Promise<{ org: OrgFixture; users: string[] }> {
      const org = await licensedOrg(gw, catalog, bought);
      const group = await createGroup(gw, org, 'Agents', functions);
      const users = await createUsers(gw, org, count, { configurationGroupId: group });
      return { org, users };
    }

    const eventsOfType = async (org: OrgFixture, type: string): Promise<EventView[]> => {
      const all: EventView[] = [];
      let after: string | null = null;
      for (;;) {
        const page = await eventsPage(gw, org, 500, after);
        all.push(...page.edges.map((e) => e.node));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      return all.filter((e) => e.type === type);
    };

    // ---------------------------------------------------------------- R-CONC-1

    describe('sessions take and free seats', () => {
      it('[R-CONC-1] innoACD: an agent logging in takes an ACD_AGENT seat, logging out frees it', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 3 }], ['ACD_AGENT'], 2);
        const [agent] = users;

        const started = await startSession(gw, org, agent!);
        expect(started).toMatchObject({ granted: true, denial: null, grantedChannels: [], deniedChannels: [] });
        expect(started.session).toMatchObject({
          seatKind: 'REGULAR',
          startedAt: NOW.toISOString(),
          expiresAt: iso(NOW.getTime() + TTL_MS),
          endedAt: null,
          user: { id: agent },
        });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ capacity: 3, inUse: 1, maxPossible: 3 });
        expect(await mappingRow(gw, org, 'ACD_AGENT')).toMatchObject({ concurrentTotal: 3, concurrentInUse: 1, concurrentAvailable: 2 });

        gw.clock.advance(MINUTE);
        const ended = await endSession(gw, org, started.session!.id);
        expect(ended).toMatchObject({ id: started.session!.id, endedAt: iso(NOW.getTime() + MINUTE), endReason: 'ENDED' });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ capacity: 3, inUse: 0, peakToday: 1 });

        // Ending it again changes nothing and frees nothing more.
        gw.clock.advance(MINUTE);
        expect(await endSession(gw, org, started.session!.id)).toMatchObject({ endedAt: iso(NOW.getTime() + MINUTE), endReason: 'ENDED' });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);

        // Logging in again opens a new session.
        const again = await startGranted(gw, org, agent!);
        expect(again.id).not.toBe(started.session!.id);
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
      });

      it('[R-CONC-1] a second start of the same user returns the open session and takes no second seat', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 3 }], ['ACD_AGENT'], 2);
        const first = await startGranted(gw, org, users[0]!);
        gw.clock.advance(10 * SECOND);
        const second = await startSession(gw, org, users[0]!, ['VOICE']);
        expect(second.granted).toBe(true);
        expect(second.session).toEqual(first);
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
        const sessions = (await gw.ok(USER_SESSIONS, { id: users[0] }, org.admin)).user.sessions as {
          id: string;
          endedAt: string | null;
        }[];
        expect(sessions).toEqual([{ id: first.id, endedAt: null, endReason: null, seatKind: 'REGULAR' }]);
        expect(await eventsOfType(org, 'SESSION_STARTED')).toHaveLength(1);
      });
    });

    // ---------------------------------------------------------------- R-CONC-0, R-CONC-2, denials

    describe('eligibility and denials', () => {
      it('[R-CONC-0][R-CONC-2] Zoom seed example, scaled to 4 concurrent seats shared by 10 staff: all 10 are eligible, 4 work at once, a freed seat goes to the next', async () => {
        const { org, users } = await staffed(
          ZOOM,
          [{ product: 'ESSENTIALS', quantity: 4, allocation: 'CONCURRENT', overageAllowed: false }],
          ['ESSENTIALS'],
          10,
        );
        // Eligibility is not limited by the seats bought.
        for (const user of users) expect((await statusesOf(gw, org, user)).ESSENTIALS).toBe('GRANTED');
        expect(await mappingRow(gw, org, 'ESSENTIALS')).toMatchObject({ concurrentTotal: 4, concurrentInUse: 0, concurrentAvailable: 4 });

        const sessions: SessionView[] = [];
        for (const user of users.slice(0, 4)) sessions.push(await startGranted(gw, org, user));
        expect(sessions.map((s) => s.seatKind)).toEqual(['REGULAR', 'REGULAR', 'REGULAR', 'REGULAR']);
        const fifth = await startSession(gw, org, users[4]!);
        expect(fifth).toMatchObject({ granted: false, session: null, denial: { code: 'NO_SEAT_AVAILABLE' } });
        expect(fifth.denial?.message).toContain('ESSENTIALS');
        expect(await poolCounter(gw, org.organizationId, 'ESSENTIALS')).toBe(4);
        expect(await mappingRow(gw, org, 'ESSENTIALS')).toMatchObject({ concurrentTotal: 4, concurrentInUse: 4, concurrentAvailable: 0 });

        // Two agents clock out: their two seats are free for the next two.
        await endSession(gw, org, sessions[0]!.id);
        await endSession(gw, org, sessions[1]!.id);
        expect((await startSession(gw, org, users[4]!)).granted).toBe(true);
        expect((await startSession(gw, org, users[5]!)).granted).toBe(true);
        expect((await startSession(gw, org, users[6]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
        expect(await poolCounter(gw, org.organizationId, 'ESSENTIALS')).toBe(4);
        expect(await eventsOfType(org, 'SESSION_STARTED')).toHaveLength(6);
      });

      it('[R-CONC-2][R-TEN-1] only ACTIVE users start sessions: PREPARING and INACTIVE users get USER_NOT_ACTIVE and take no seat', async () => {
        const org = await licensedOrg(gw, INNOACD, [{ product: 'ACD_AGENT', quantity: 3 }]);
        const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
        const [preparing] = await createUsers(gw, org, 1, { configurationGroupId: group, status: 'PREPARING', prefix: 'Preparing' });
        const [inactive] = await createUsers(gw, org, 1, { configurationGroupId: group, status: 'INACTIVE', prefix: 'Inactive' });
        for (const user of [preparing!, inactive!]) {
          const result = await startSession(gw, org, user);
          expect(result).toMatchObject({
            granted: false,
            session: null,
            denial: { code: 'USER_NOT_ACTIVE' },
            grantedChannels: [],
            deniedChannels: [],
          });
        }
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
        expect(await eventsOfType(org, 'SESSION_STARTED')).toHaveLength(0);
      });

      it('[R-CONC-1] NOT_LICENSED: no concurrent seat product is configured for the user, or the organization bought none', async () => {
        const org = await licensedOrg(gw, INNOACD, [{ product: 'ACD_AGENT', quantity: 3 }]);
        const [unconfigured] = await createUsers(gw, org, 1);
        const result = await startSession(gw, org, unconfigured!);
        expect(result).toMatchObject({ granted: false, session: null, denial: { code: 'NOT_LICENSED' } });

        // connect storm: AGENT_SEAT configured (with BASE), but the key has no AGENT_SEAT.
        const { org: storm, users } = await staffed(STORM, [{ product: 'BASE', quantity: 5 }], ['BASE', 'AGENT_SEAT'], 1);
        const none = await startSession(gw, storm, users[0]!);
        expect(none).toMatchObject({ granted: false, denial: { code: 'NOT_LICENSED' } });
        expect(none.denial?.message).toContain('AGENT_SEAT');
        expect(await poolCounter(gw, storm.organizationId, 'AGENT_SEAT')).toBe(0);
      });

      it('[R-CONC-1][R-NAMED-3] MISSING_PREREQUISITE: connect storm AGENT_SEAT configured without the BASE licence it requires', async () => {
        const { org, users } = await staffed(
          STORM,
          [
            { product: 'BASE', quantity: 5 },
            { product: 'AGENT_SEAT', quantity: 5 },
          ],
          ['AGENT_SEAT'],
          1,
        );
        expect((await statusesOf(gw, org, users[0]!)).AGENT_SEAT).toBe('MISSING_PREREQUISITE');
        const result = await startSession(gw, org, users[0]!);
        expect(result).toMatchObject({ granted: false, session: null, denial: { code: 'MISSING_PREREQUISITE' } });
        expect(result.denial?.message).toContain('AGENT_SEAT');
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(0);
      });
    });

    // ---------------------------------------------------------------- R-EMER

    describe('emergency seats', () => {
      it('[R-EMER-1][R-MON-1] when the regular seats are full an emergency seat is taken (seatKind EMERGENCY); seatUsage and the licence mapping show both', async () => {
        const { org, users } = await staffed(
          STORM,
          [
            { product: 'BASE', quantity: 10 },
            { product: 'AGENT_SEAT', quantity: 2, emergencyQuantity: 2 },
          ],
          ['BASE', 'AGENT_SEAT'],
          5,
        );
        const kinds: string[] = [];
        const sessions: SessionView[] = [];
        for (const user of users.slice(0, 4)) {
          const s = await startGranted(gw, org, user);
          sessions.push(s);
          kinds.push(s.seatKind);
        }
        expect(kinds).toEqual(['REGULAR', 'REGULAR', 'EMERGENCY', 'EMERGENCY']);
        expect((await startSession(gw, org, users[4]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');

        expect(await pool(gw, org, 'AGENT_SEAT')).toEqual({
          capacity: 2,
          inUse: 2,
          emergencyCapacity: 2,
          emergencyInUse: 2,
          overageInUse: 0,
          maxPossible: 4,
          peakToday: 4,
        });
        // Supervisors watch the same figures (R-MON-1).
        const seen = (
          await gw.ok(
            `query($id: ID!) { organization(id: $id) { seatUsage { organizationId pools { product { code } maxPossible } } } }`,
            { id: org.organizationId },
            org.tokens.SUPERVISOR,
          )
        ).organization.seatUsage;
        expect(seen).toEqual({ organizationId: org.organizationId, pools: [{ product: { code: 'AGENT_SEAT' }, maxPossible: 4 }] });
        expect(await mappingRow(gw, org, 'AGENT_SEAT')).toMatchObject({
          concurrentTotal: 2,
          concurrentInUse: 2,
          concurrentAvailable: 0,
          emergencyTotal: 2,
          emergencyInUse: 2,
          emergencyPeakThisPeriod: 2,
          emergencyAvailable: 0,
        });

        // Two leave: the counter drops below capacity + 1, emergency use is 0, the period's peak stays.
        gw.clock.advance(MINUTE);
        await endSession(gw, org, sessions[0]!.id);
        await endSession(gw, org, sessions[2]!.id);
        expect(await pool(gw, org, 'AGENT_SEAT')).toEqual({
          capacity: 2,
          inUse: 2,
          emergencyCapacity: 2,
          emergencyInUse: 0,
          overageInUse: 0,
          maxPossible: 4,
          peakToday: 4,
        });
        expect(await mappingRow(gw, org, 'AGENT_SEAT')).toMatchObject({
          concurrentInUse: 2,
          emergencyInUse: 0,
          emergencyPeakThisPeriod: 2,
          emergencyAvailable: 2,
        });
        // The next login takes an emergency seat again.
        expect((await startGranted(gw, org, users[4]!)).seatKind).toBe('EMERGENCY');
      });

      it('[R-EMER-2] emergencyPeakThisPeriod is the most emergency seats in use at once in the billing period (calendar month)', async () => {
        const { org, users } = await staffed(
          STORM,
          [
            { product: 'BASE', quantity: 10 },
            { product: 'AGENT_SEAT', quantity: 1, emergencyQuantity: 3 },
          ],
          ['BASE', 'AGENT_SEAT'],
          4,
        );
        const sessions: SessionView[] = [];
        for (const user of users) sessions.push(await startGranted(gw, org, user));
        gw.clock.advance(MINUTE);
        for (const s of sessions.slice(1)) await endSession(gw, org, s.id);
        gw.clock.advance(MINUTE);
        await startGranted(gw, org, users[1]!);
        expect(await mappingRow(gw, org, 'AGENT_SEAT')).toMatchObject({ emergencyInUse: 1, emergencyPeakThisPeriod: 3 });
        const today = await usageOf(gw, org, 'AGENT_SEAT', new Date('2026-11-01T00:00:00.000Z'), new Date(gw.clock.now().getTime() + 1));
        expect(today).toMatchObject({ peakConcurrent: 4, emergencyPeak: 3, overageEpisodes: [], billableOverage: 0 });

        // Next billing period: what is in force on the 1st (1 emergency seat) is its peak so far.
        gw.clock.set(new Date('2026-12-01T00:00:10.000Z'));
        expect(await mappingRow(gw, org, 'AGENT_SEAT')).toMatchObject({ emergencyPeakThisPeriod: 1 });
        expect(
          await usageOf(gw, org, 'AGENT_SEAT', new Date('2026-12-01T00:00:00.000Z'), new Date('2027-01-01T00:00:00.000Z')),
        ).toMatchObject({ peakConcurrent: 2, emergencyPeak: 1 });
      });
    });

    // ---------------------------------------------------------------- R-OVER

    describe('overage', () => {
      const zoomOverage: Bought[] = [
        { product: 'ESSENTIALS', quantity: 2, allocation: 'CONCURRENT', overageAllowed: true, overageGraceMinutes: 30 },
      ];
      const HOUR_BEFORE = new Date(NOW.getTime() - 60 * MINUTE);

      it('[R-OVER-1] Zoom concurrent with overage: a session beyond capacity is granted with seatKind OVERAGE and counted apart', async () => {
        const { org, users } = await staffed(ZOOM, zoomOverage, ['ESSENTIALS'], 4);
        const regular = [await startGranted(gw, org, users[0]!), await startGranted(gw, org, users[1]!)];
        expect(regular.map((s) => s.seatKind)).toEqual(['REGULAR', 'REGULAR']);
        const over = await startSession(gw, org, users[2]!);
        expect(over).toMatchObject({ granted: true, denial: null, session: { seatKind: 'OVERAGE' } });
        expect((await startGranted(gw, org, users[3]!)).seatKind).toBe('OVERAGE');
        expect(await pool(gw, org, 'ESSENTIALS')).toEqual({
          capacity: 2,
          inUse: 2,
          emergencyCapacity: 0,
          emergencyInUse: 0,
          overageInUse: 2,
          maxPossible: 2,
          peakToday: 4,
        });
        expect(await poolCounter(gw, org.organizationId, 'ESSENTIALS')).toBe(4);
        // Back within capacity: the next one is regular again.
        await endSession(gw, org, regular[0]!.id);
        await endSession(gw, org, regular[1]!.id);
        await endSession(gw, org, over.session!.id);
        expect((await startGranted(gw, org, users[0]!)).seatKind).toBe('REGULAR');
      });

      it('[R-OVER-1] usage(from, to): an overage episode of exactly 30 minutes is not billable, 30 min + 1 ms is; billableOverage sums the billable peak excess', async () => {
        const { org, users } = await staffed(ZOOM, zoomOverage, ['ESSENTIALS'], 4);
        const base = [(await startGranted(gw, org, users[0]!)).id, (await startGranted(gw, org, users[1]!)).id];

        // Episode 1: one agent above capacity for exactly 30 minutes.
        await advanceKeepingAlive(gw, org, MINUTE, base);
        const t1 = gw.clock.now().getTime();
        const over1 = await startGranted(gw, org, users[2]!);
        expect(over1.seatKind).toBe('OVERAGE');
        await advanceKeepingAlive(gw, org, 30 * MINUTE, [...base, over1.id]);
        await endSession(gw, org, over1.id);
        let row = await usageOf(gw, org, 'ESSENTIALS', HOUR_BEFORE, new Date(gw.clock.now().getTime() + 60 * MINUTE));
        expect(row).toMatchObject({ peakConcurrent: 3, emergencyPeak: 0, billableOverage: 0 });
        expect(row?.overageEpisodes).toEqual([{ startedAt: iso(t1), endedAt: iso(t1 + 30 * MINUTE), peakExcess: 1, billable: false }]);

        // Episode 2: 30 minutes and 1 ms, two above capacity at its peak.
        await advanceKeepingAlive(gw, org, MINUTE, base);
        const t2 = gw.clock.now().getTime();
        const over2 = await startGranted(gw, org, users[2]!);
        await advanceKeepingAlive(gw, org, MINUTE, [...base, over2.id]);
        const over3 = await startGranted(gw, org, users[3]!);
        expect(over3.seatKind).toBe('OVERAGE');
        await advanceKeepingAlive(gw, org, 9 * MINUTE, [...base, over2.id, over3.id]);
        await endSession(gw, org, over3.id);
        await advanceKeepingAlive(gw, org, 20 * MINUTE + 1, [...base, over2.id]);
        expect(gw.clock.now().getTime()).toBe(t2 + 30 * MINUTE + 1);
        await endSession(gw, org, over2.id);
        row = await usageOf(gw, org, 'ESSENTIALS', HOUR_BEFORE, new Date(gw.clock.now().getTime() + 60 * MINUTE));
        expect(row?.overageEpisodes).toEqual([
          { startedAt: iso(t1), endedAt: iso(t1 + 30 * MINUTE), peakExcess: 1, billable: false },
          { startedAt: iso(t2), endedAt: iso(t2 + 30 * MINUTE + 1), peakExcess: 2, billable: true },
        ]);
        expect(row).toMatchObject({ peakConcurrent: 4, billableOverage: 2 });

        // An interval that starts after episode 1 ended sees only episode 2.
        const later = await usageOf(gw, org, 'ESSENTIALS', new Date(t1 + 30 * MINUTE), new Date(gw.clock.now().getTime() + 60 * MINUTE));
        expect(later?.overageEpisodes.map((e) => e.startedAt)).toEqual([iso(t2)]);
        expect(later?.billableOverage).toBe(2);
      });

      it('[R-OVER-1] an ongoing overage episode is judged at now: not billable at exactly 30 minutes, billable 1 ms later', async () => {
        const { org, users } = await staffed(ZOOM, zoomOverage, ['ESSENTIALS'], 3);
        const base = [(await startGranted(gw, org, users[0]!)).id, (await startGranted(gw, org, users[1]!)).id];
        await advanceKeepingAlive(gw, org, MINUTE, base);
        const t = gw.clock.now().getTime();
        const over = await startGranted(gw, org, users[2]!);
        await advanceKeepingAlive(gw, org, 30 * MINUTE, [...base, over.id]);
        const to = new Date(t + 120 * MINUTE);
        expect(await usageOf(gw, org, 'ESSENTIALS', HOUR_BEFORE, to)).toMatchObject({
          overageEpisodes: [{ startedAt: iso(t), endedAt: null, peakExcess: 1, billable: false }],
          billableOverage: 0,
        });
        gw.clock.advance(1);
        expect(await usageOf(gw, org, 'ESSENTIALS', HOUR_BEFORE, to)).toMatchObject({
          overageEpisodes: [{ startedAt: iso(t), endedAt: null, peakExcess: 1, billable: true }],
          billableOverage: 1,
        });
      });

      it('[R-OVER-1] an interval that ends inside a past episode reports the episode whole: its real end, billable by its real length', async () => {
        const { org, users } = await staffed(ZOOM, zoomOverage, ['ESSENTIALS'], 3);
        const base = [(await startGranted(gw, org, users[0]!)).id, (await startGranted(gw, org, users[1]!)).id];
        await advanceKeepingAlive(gw, org, MINUTE, base);
        const t = gw.clock.now().getTime();
        const over = await startGranted(gw, org, users[2]!);
        await advanceKeepingAlive(gw, org, 20 * MINUTE, [...base, over.id]);
        await endSession(gw, org, over.id);
        // Much later, ask for an interval that ends 10 minutes into the 20-minute episode.
        await advanceKeepingAlive(gw, org, 60 * MINUTE, base);
        const row = await usageOf(gw, org, 'ESSENTIALS', HOUR_BEFORE, new Date(t + 10 * MINUTE));
        expect(row?.overageEpisodes).toEqual([{ startedAt: iso(t), endedAt: iso(t + 20 * MINUTE), peakExcess: 1, billable: false }]);
        expect(row?.billableOverage).toBe(0);
      });

      it('[R-OVER-1] usage refuses an empty interval with BAD_USER_INPUT naming `to`', async () => {
        const org = await licensedOrg(gw, ZOOM, zoomOverage);
        const result = await gw.gql(
          `query($id: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $id) { usage(from: $from, to: $to) { billableOverage } } }`,
          {
            id: org.organizationId,
            from: NOW.toISOString(),
            to: NOW.toISOString(),
          },
          org.admin,
        );
        expect(codeOf(result)).toBe('BAD_USER_INPUT');
        expect(result.errors?.[0]?.message).toContain('to');
      });
    });

    // ---------------------------------------------------------------- R-DEMO-1, R-LIFE-5

    describe('demo mode', () => {
      it('[R-DEMO-1][R-LIFE-5] seed example "2 demo agents": with no key (NONE) only 2 sessions at once, the third gets DEMO_LIMIT_REACHED; a key restores full use at once', async () => {
        const { org, users } = await staffed(INNOACD, null, ['ACD_AGENT'], 4);
        expect((await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license).toMatchObject({
          state: 'NONE',
          demoAgentLimit: 2,
        });

        const first = await startGranted(gw, org, users[0]!);
        const second = await startGranted(gw, org, users[1]!);
        expect([first.seatKind, second.seatKind]).toEqual(['DEMO', 'DEMO']);
        const third = await startSession(gw, org, users[2]!);
        expect(third).toMatchObject({ granted: false, session: null, denial: { code: 'DEMO_LIMIT_REACHED' } });
        expect(third.denial?.message).toContain('2');
        expect(await pool(gw, org, 'ACD_AGENT')).toEqual({
          capacity: 0,
          inUse: 2,
          emergencyCapacity: 0,
          emergencyInUse: 0,
          overageInUse: 0,
          maxPossible: 2,
          peakToday: 2,
        });

        // One leaves: the third gets the demo seat.
        await endSession(gw, org, first.id);
        expect((await startGranted(gw, org, users[2]!)).seatKind).toBe('DEMO');
        expect((await startSession(gw, org, users[0]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');

        // A valid key: full use at once, no restart; more than 2 agents work at the same time.
        await activateKey(gw, org, issueLicenseKey(INNOACD, [{ product: 'ACD_AGENT', quantity: 10 }], { org }));
        expect((await startGranted(gw, org, users[0]!)).seatKind).toBe('REGULAR');
        expect((await startGranted(gw, org, users[3]!)).seatKind).toBe('REGULAR');
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(2);
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ capacity: 10, inUse: 2, maxPossible: 10 });
      });

      it('[R-DEMO-1][R-LIFE-4][R-LIFE-5] after term + 14 days of grace: DEMO, only 2 sessions at once; a new key restores full use', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }], ['ACD_AGENT'], 3);
        const license = (await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license as {
          validUntil: string;
          graceUntil: string;
        };
        expect(new Date(license.graceUntil).getTime() - new Date(license.validUntil).getTime()).toBe(14 * DAY);

        // Last minute of grace: everything still works.
        gw.clock.set(new Date(new Date(license.graceUntil).getTime() - MINUTE));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        expect((await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license.state).toBe('GRACE');
        const inGrace: SessionView[] = [];
        for (const user of users) inGrace.push(await startGranted(gw, org, user));
        expect(inGrace.map((s) => s.seatKind)).toEqual(['REGULAR', 'REGULAR', 'REGULAR']);
        for (const s of inGrace) await endSession(gw, org, s.id);

        // Past term + grace.
        gw.clock.set(new Date(new Date(license.graceUntil).getTime() + MINUTE));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        expect((await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license).toMatchObject({
          state: 'DEMO',
          demoAgentLimit: 2,
        });
        expect((await startGranted(gw, org, users[0]!)).seatKind).toBe('DEMO');
        expect((await startGranted(gw, org, users[1]!)).seatKind).toBe('DEMO');
        expect((await startSession(gw, org, users[2]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ inUse: 2, maxPossible: 2 });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);

        // A new valid key: full use again at once.
        const validFrom = new Date(gw.clock.now().getTime() - DAY).toISOString();
        await activateKey(gw, org, issueLicenseKey(INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }], { org, validFrom }));
        expect((await startGranted(gw, org, users[2]!)).seatKind).toBe('REGULAR');
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
      });
    });

    // ---------------------------------------------------------------- R-CHAN-1

    describe('channels', () => {
      const stormChannels: Bought[] = [
        { product: 'BASE', quantity: 10 },
        { product: 'AGENT_SEAT', quantity: 10 },
        { product: 'VOICE', quantity: 1, emergencyQuantity: 1 },
        { product: 'EMAIL', quantity: 5 },
      ];
      const sortedChannels = (list: { channel: string; code: string }[]) => list.map((d) => `${d.channel}:${d.code}`).sort();

      it('[R-CHAN-1] a channel without licence is denied NOT_LICENSED with the reason; the session goes on with the licensed channels', async () => {
        // SMS is configured but not bought, WEBCHAT neither configured nor bought, FAX no channel of the catalog.
        const { org, users } = await staffed(STORM, stormChannels, ['BASE', 'AGENT_SEAT', 'VOICE', 'EMAIL', 'SMS'], 1);
        const result = await startSession(gw, org, users[0]!, ['voice', 'EMAIL', 'SMS', 'WEBCHAT', 'FAX']);
        expect(result.granted).toBe(true);
        expect([...result.grantedChannels].sort()).toEqual(['EMAIL', 'VOICE']);
        expect([...(result.session?.channels ?? [])].sort()).toEqual(['EMAIL', 'VOICE']);
        expect(sortedChannels(result.deniedChannels)).toEqual(['FAX:NOT_LICENSED', 'SMS:NOT_LICENSED', 'WEBCHAT:NOT_LICENSED']);
        for (const d of result.deniedChannels) expect(d.message).toContain(d.channel);
        expect(result.session?.seatKind).toBe('REGULAR');
        expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'SMS')).toBe(0);
      });

      it('[R-CHAN-1] concurrent channel pool: emergency units are used first, then NO_SEAT_AVAILABLE; units are freed with the session', async () => {
        const { org, users } = await staffed(STORM, stormChannels, ['BASE', 'AGENT_SEAT', 'VOICE', 'EMAIL'], 4);
        const a = await startSession(gw, org, users[0]!, ['VOICE', 'EMAIL']);
        expect([...a.grantedChannels].sort()).toEqual(['EMAIL', 'VOICE']);
        expect(await pool(gw, org, 'VOICE')).toMatchObject({
          capacity: 1,
          inUse: 1,
          emergencyCapacity: 1,
          emergencyInUse: 0,
          maxPossible: 2,
        });

        // The one regular VOICE unit is taken: the emergency unit serves the next agent.
        const b = await startSession(gw, org, users[1]!, ['VOICE']);
        expect(b).toMatchObject({ granted: true, grantedChannels: ['VOICE'], deniedChannels: [] });
        expect(await pool(gw, org, 'VOICE')).toMatchObject({ inUse: 1, emergencyInUse: 1 });

        // Both taken: VOICE is refused, the session goes on with EMAIL.
        const c = await startSession(gw, org, users[2]!, ['VOICE', 'EMAIL']);
        expect(c.granted).toBe(true);
        expect(c.grantedChannels).toEqual(['EMAIL']);
        expect(c.session?.channels).toEqual(['EMAIL']);
        expect(c.deniedChannels).toEqual([{ channel: 'VOICE', code: 'NO_SEAT_AVAILABLE', message: expect.stringContaining('VOICE') }]);
        expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(2);
        expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(2);
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(3);

        // The first agent leaves: its VOICE and EMAIL units come back with its seat.
        await endSession(gw, org, a.session!.id);
        expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(2);
        const d = await startSession(gw, org, users[3]!, ['VOICE']);
        expect(d).toMatchObject({ granted: true, grantedChannels: ['VOICE'], deniedChannels: [] });

        for (const s of [b, c, d]) await endSession(gw, org, s.session!.id);
        for (const product of ['AGENT_SEAT', 'VOICE', 'EMAIL']) expect(await poolCounter(gw, org.organizationId, product)).toBe(0);
      });

      it('[R-CHAN-1] Zoom: the channels come with the tier: ESSENTIALS has VOICE and CHAT, not the e-mail channel', async () => {
        const { org, users } = await staffed(ZOOM, [{ product: 'ESSENTIALS', quantity: 5, allocation: 'CONCURRENT' }], ['ESSENTIALS'], 1);
        const result = await startSession(gw, org, users[0]!, ['VOICE', 'EMAIL', 'CHAT']);
        expect(result.granted).toBe(true);
        expect([...result.grantedChannels].sort()).toEqual(['CHAT', 'VOICE']);
        expect(sortedChannels(result.deniedChannels)).toEqual(['EMAIL:NOT_LICENSED']);
      });

      it('[R-CHAN-1][R-LIFE-5] in demo mode channel licences are not granted: LICENSE_INACTIVE, the demo session goes on', async () => {
        // MISSING_PREREQUISITE for a channel is not reachable with the presets: every channel feature needs the
        // same BASE licence as the seat, so a user missing it is refused the whole session (tested above).
        const { org, users } = await staffed(STORM, stormChannels, ['BASE', 'AGENT_SEAT', 'VOICE'], 1);
        const license = (await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license as { graceUntil: string };
        gw.clock.set(new Date(new Date(license.graceUntil).getTime() + MINUTE));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        expect((await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license.state).toBe('DEMO');
        const result = await startSession(gw, org, users[0]!, ['VOICE']);
        expect(result).toMatchObject({ granted: true, grantedChannels: [], session: { seatKind: 'DEMO', channels: [] } });
        expect(sortedChannels(result.deniedChannels)).toEqual(['VOICE:LICENSE_INACTIVE']);
        expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(0);
      });

      it('[R-API-1] a channel name that is no channel name is BAD_USER_INPUT naming the field', async () => {
        const { org, users } = await staffed(STORM, stormChannels, ['BASE', 'AGENT_SEAT', 'VOICE'], 1);
        const result = await startSessionRaw(gw, org.tokens.AGENT_CLIENT, users[0]!, ['VOICE', 'voice mail; drop table']);
        expect(codeOf(result)).toBe('BAD_USER_INPUT');
        expect(result.errors?.[0]?.message).toContain('input.channels[1]');
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(0);
      });
    });

    // ---------------------------------------------------------------- R-CONC-3

    describe('expiry', () => {
      const acd: Bought[] = [{ product: 'ACD_AGENT', quantity: 2 }];

      it('[R-CONC-3] heartbeat renews the session for another SESSION_TTL_SECONDS', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 1);
        const s = await startGranted(gw, org, users[0]!);
        expect(s.expiresAt).toBe(iso(NOW.getTime() + TTL_MS));
        gw.clock.advance(TTL_MS - 1);
        const renewed = await heartbeat(gw, org, s.id);
        expect(renewed).toMatchObject({ id: s.id, endedAt: null, expiresAt: iso(NOW.getTime() + 2 * TTL_MS - 1) });
        // Past the first expiry, still open: a sweep leaves it alone.
        gw.clock.advance(TTL_MS - 1);
        await sweepExpiredSessions(gw.database.db, gw.clock);
        expect(await heartbeat(gw, org, s.id)).toMatchObject({ endedAt: null, expiresAt: iso(NOW.getTime() + 3 * TTL_MS - 2) });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
      });

      it('[R-CONC-3] a heartbeat after expiry returns the session ended (EXPIRED) and its seat is freed', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 1);
        const s = await startGranted(gw, org, users[0]!);
        gw.clock.set(new Date(s.expiresAt));
        const late = await heartbeat(gw, org, s.id);
        expect(late).toMatchObject({ id: s.id, endedAt: s.expiresAt, endReason: 'EXPIRED' });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
        const expired = await eventsOfType(org, 'SESSION_EXPIRED');
        expect(expired).toHaveLength(1);
        expect(expired[0]).toMatchObject({ user: { id: users[0] }, actor: 'system', apiTokenId: null });

        // Later heartbeats and an endSession return it as it is; nothing is freed twice.
        gw.clock.advance(MINUTE);
        expect(await heartbeat(gw, org, s.id)).toMatchObject({ endedAt: s.expiresAt, endReason: 'EXPIRED' });
        expect(await endSession(gw, org, s.id)).toMatchObject({ endedAt: s.expiresAt, endReason: 'EXPIRED' });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
        expect(await eventsOfType(org, 'SESSION_EXPIRED')).toHaveLength(1);
      });

      it('[R-CONC-3] sweepExpiredSessions frees the seats of overdue sessions, with SESSION_EXPIRED events', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 2);
        const a = await startGranted(gw, org, users[0]!);
        const b = await startGranted(gw, org, users[1]!);
        gw.clock.advance(TTL_MS + 1);
        expect(await sweepExpiredSessions(gw.database.db, gw.clock)).toBeGreaterThanOrEqual(2);
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ inUse: 0 });
        const expired = await eventsOfType(org, 'SESSION_EXPIRED');
        expect(expired.map((e) => e.user?.id).sort()).toEqual([...users].sort());
        for (const e of expired) expect(e).toMatchObject({ actor: 'system', apiTokenId: null });
        for (const s of [a, b])
          expect(await heartbeat(gw, org, s.id)).toMatchObject({ endReason: 'EXPIRED', endedAt: iso(NOW.getTime() + TTL_MS + 1) });

        // A second sweep finds nothing more of this organization.
        await sweepExpiredSessions(gw.database.db, gw.clock);
        expect(await eventsOfType(org, 'SESSION_EXPIRED')).toHaveLength(2);
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
      });

      it('[R-CONC-3] lazy expiry: with the pool full of overdue sessions the next startSession succeeds without a sweep', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 3);
        await startGranted(gw, org, users[0]!);
        await startGranted(gw, org, users[1]!);
        expect((await startSession(gw, org, users[2]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
        // Not yet overdue one millisecond before expiry.
        gw.clock.advance(TTL_MS - 1);
        expect((await startSession(gw, org, users[2]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
        gw.clock.advance(1);
        const late = await startSession(gw, org, users[2]!);
        expect(late).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
        expect((await eventsOfType(org, 'SESSION_EXPIRED')).map((e) => e.user?.id).sort()).toEqual([users[0], users[1]].sort());
      });

      it('[R-CONC-3] the same user starting again after their session expired gets a new session; the old one is expired', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 1);
        const old = await startGranted(gw, org, users[0]!);
        gw.clock.advance(TTL_MS + SECOND);
        const fresh = await startGranted(gw, org, users[0]!);
        expect(fresh.id).not.toBe(old.id);
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
        const sessions = (await gw.ok(USER_SESSIONS, { id: users[0] }, org.admin)).user.sessions as {
          id: string;
          endReason: string | null;
        }[];
        expect(sessions.find((s) => s.id === old.id)?.endReason).toBe('EXPIRED');
        expect(sessions.find((s) => s.id === fresh.id)?.endReason).toBeNull();
      });
    });

    // ---------------------------------------------------------------- R-EVENT-1

    describe('events', () => {
      it('[R-EVENT-1] session, licence and key events name who did it (actor, apiTokenId), newest first', async () => {
        const org = await licensedOrg(gw, INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }]);
        gw.clock.advance(SECOND);
        const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
        const [u1, u2] = await createUsers(gw, org, 2, { configurationGroupId: group, stepMs: SECOND });
        const [adminId, agentId] = [await tokenIdOf(gw, org, 'ADMIN'), await tokenIdOf(gw, org, 'AGENT_CLIENT')];

        gw.clock.advance(SECOND);
        const s1 = await startGranted(gw, org, u1!);
        gw.clock.advance(SECOND);
        await endSession(gw, org, s1.id);
        gw.clock.advance(SECOND);
        await startGranted(gw, org, u2!);
        gw.clock.advance(TTL_MS + SECOND);
        await sweepExpiredSessions(gw.database.db, gw.clock);

        const page = await eventsPage(gw, org, 100);
        expect(page.pageInfo.hasNextPage).toBe(false);
        const events = page.edges.map((e) => e.node);
        expect(events.slice(0, 4).map((e) => [e.type, e.user?.id])).toEqual([
          ['SESSION_EXPIRED', u2],
          ['SESSION_STARTED', u2],
          ['SESSION_ENDED', u1],
          ['SESSION_STARTED', u1],
        ]);
        // Newest first: ids strictly descending, times never increasing.
        for (let i = 1; i < events.length; i++) {
          expect(events[i - 1]!.id > events[i]!.id).toBe(true);
          expect(new Date(events[i - 1]!.at).getTime()).toBeGreaterThanOrEqual(new Date(events[i]!.at).getTime());
        }
        expect(events.at(-1)).toMatchObject({ type: 'ORGANIZATION_CREATED', actor: 'operator', apiTokenId: null });

        const byType = (type: string) => events.filter((e) => e.type === type);
        expect(byType('SESSION_STARTED')).toHaveLength(2);
        for (const e of byType('SESSION_STARTED'))
          expect(e).toMatchObject({ actor: `token:${agentId}`, apiTokenId: agentId, product: { code: 'ACD_AGENT' } });
        expect(byType('SESSION_ENDED')).toEqual([
          expect.objectContaining({ actor: `token:${agentId}`, apiTokenId: agentId, user: { id: u1 } }),
        ]);
        expect(byType('SESSION_EXPIRED')).toEqual([expect.objectContaining({ actor: 'system', apiTokenId: null, user: { id: u2 } })]);
        expect(byType('KEY_ACTIVATED')).toEqual([expect.objectContaining({ actor: `token:${adminId}`, apiTokenId: adminId })]);
        expect(byType('KEY_ACTIVATED')[0]?.detail).toContain(INNOACD);
        const granted = byType('LICENSE_GRANTED');
        expect(granted.map((e) => e.user?.id).sort()).toEqual([u1, u2].sort());
        for (const e of granted)
          expect(e).toMatchObject({ actor: `token:${adminId}`, apiTokenId: adminId, product: { code: 'ACD_AGENT' } });

        // A supervisor reads the same log.
        expect((await eventsPage(gw, org, 100, null, org.tokens.SUPERVISOR)).edges.map((e) => e.node.id)).toEqual(events.map((e) => e.id));
      });

      it('[R-EVENT-1][R-API-3] events pages through the log with first/after, without gaps or repeats', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }], ['ACD_AGENT'], 3);
        for (const user of users) {
          gw.clock.advance(SECOND);
          const s = await startGranted(gw, org, user);
          gw.clock.advance(SECOND);
          await endSession(gw, org, s.id);
        }
        const all = (await eventsPage(gw, org, 500)).edges.map((e) => e.node.id);
        expect(all.length).toBeGreaterThan(10);

        const paged: string[] = [];
        let after: string | null = null;
        let pages = 0;
        for (;;) {
          const page = await eventsPage(gw, org, 4, after);
          pages += 1;
          expect(page.edges.length).toBeLessThanOrEqual(4);
          paged.push(...page.edges.map((e) => e.node.id));
          expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
          if (!page.pageInfo.hasNextPage) break;
          expect(page.edges).toHaveLength(4);
          after = page.pageInfo.endCursor;
        }
        expect(paged).toEqual(all);
        expect(pages).toBe(Math.ceil(all.length / 4));
        expect((await eventsPage(gw, org, 0)).edges).toEqual([]);
        const bad = await gw.gql(
          `query($id: ID!) { organization(id: $id) { events(first: 2, after: "nonsense") { edges { cursor } } } }`,
          { id: org.organizationId },
          org.admin,
        );
        expect(codeOf(bad)).toBe('BAD_USER_INPUT');
      });
    });

    // ---------------------------------------------------------------- R-SEC

    describe('who may manage sessions', () => {
      const acd: Bought[] = [{ product: 'ACD_AGENT', quantity: 5 }];
      const expectCode = (result: Result, code: string) => {
        expect(result.errors, JSON.stringify(result)).toHaveLength(1);
        expect(codeOf(result)).toBe(code);
        expect(JSON.stringify(result.errors)).not.toMatch(/\.ts:\d+|stack|select |update /i);
      };

      it('[R-SEC-1] AGENT_CLIENT may start, renew and end sessions; SUPERVISOR and INTEGRATOR get FORBIDDEN and change nothing', async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 1);
        for (const role of ['SUPERVISOR', 'INTEGRATOR'] as const)
          expectCode(await startSessionRaw(gw, org.tokens[role], users[0]!), 'FORBIDDEN');
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);

        const started = await startSessionRaw(gw, org.tokens.AGENT_CLIENT, users[0]!);
        expect(started.errors).toBeUndefined();
        const id = started.data!.startSession.session!.id;
        gw.clock.advance(MINUTE);
        for (const role of ['SUPERVISOR', 'INTEGRATOR'] as const) {
          expectCode(await gw.gql(HEARTBEAT, { input: { sessionId: id } }, org.tokens[role]), 'FORBIDDEN');
          expectCode(await gw.gql(END_SESSION, { input: { sessionId: id } }, org.tokens[role]), 'FORBIDDEN');
        }
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);

        const renewed = await gw.gql(HEARTBEAT, { input: { sessionId: id } }, org.tokens.AGENT_CLIENT);
        expect(renewed.errors).toBeUndefined();
        expect(renewed.data?.heartbeat.session).toMatchObject({ id, endedAt: null, expiresAt: iso(NOW.getTime() + MINUTE + TTL_MS) });
        const ended = await gw.gql(END_SESSION, { input: { sessionId: id } }, org.tokens.AGENT_CLIENT);
        expect(ended.errors).toBeUndefined();
        expect(ended.data?.endSession.session).toMatchObject({ id, endReason: 'ENDED' });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(0);
      });

      it("[R-SEC-2] another organization's token gets NOT_FOUND for the user and the session, as for ids that do not exist", async () => {
        const { org, users } = await staffed(INNOACD, acd, ['ACD_AGENT'], 1);
        const other = await licensedOrg(gw, INNOACD, acd);
        const session = await startGranted(gw, org, users[0]!);

        expectCode(await startSessionRaw(gw, other.tokens.AGENT_CLIENT, users[0]!), 'NOT_FOUND');
        expectCode(await gw.gql(HEARTBEAT, { input: { sessionId: session.id } }, other.tokens.AGENT_CLIENT), 'NOT_FOUND');
        expectCode(await gw.gql(END_SESSION, { input: { sessionId: session.id } }, other.tokens.AGENT_CLIENT), 'NOT_FOUND');
        expectCode(await gw.gql(END_SESSION, { input: { sessionId: session.id } }, other.admin), 'NOT_FOUND');
        // The same answer for ids that exist nowhere, and for ids of the wrong shape.
        expectCode(await startSessionRaw(gw, org.tokens.AGENT_CLIENT, '01890000-0000-7000-8000-000000000000'), 'NOT_FOUND');
        expectCode(
          await gw.gql(END_SESSION, { input: { sessionId: '01890000-0000-7000-8000-000000000000' } }, org.tokens.AGENT_CLIENT),
          'NOT_FOUND',
        );
        expectCode(await gw.gql(HEARTBEAT, { input: { sessionId: 'not-an-id' } }, org.tokens.AGENT_CLIENT), 'NOT_FOUND');
        // No token at all.
        expectCode(await gw.gql(START_SESSION, { input: { userId: users[0] } }, null), 'UNAUTHENTICATED');

        expect(await heartbeat(gw, org, session.id)).toMatchObject({ id: session.id, endedAt: null });
        expect(await poolCounter(gw, org.organizationId, 'ACD_AGENT')).toBe(1);
        expect(await poolCounter(gw, other.organizationId, 'ACD_AGENT')).toBe(0);
      });
    });
  });
}
