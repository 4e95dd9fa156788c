import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { sweepExpiredSessions } from '../../src/sessions/sweep.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createMembers, createUsers, licensedOrg, type Bought } from '../support/licensing.ts';
import {
  START_SESSION,
  endSession,
  heartbeat,
  openSessions,
  pool,
  poolCounter,
  seatUsage,
  seatsHeld,
  startGranted,
  startSession,
  type StartView,
} from '../support/sessions.ts';

/*
 * The seed rules of sessions (docs/rules.md R-NAMED-5, R-FIX-1, R-FEAT-1,
 * R-DEMO-2) through the public API on every database: a holder of a named
 * or fixed-seat licence logs in without a seat; concurrent feature licences
 * other than channels are taken and freed like channel units; and the switch
 * to demo mode with agents logged in keeps their sessions, counts them
 * against the demo limit and shows them in the utilization.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const SECOND = 1000;
const TTL_MS = 120 * SECOND;
const ZOOM = 'zoom-contact-center';
const STORM = 'connect-storm';
const INNOACD = 'innoacd';
const LICENSE = `query($id: ID!) { organization(id: $id) { license { state graceUntil demoAgentLimit } } }`;
const USER_SESSIONS = `query($id: ID!) { user(id: $id) { sessions { id endedAt seatKind } } }`;

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    async function staffed(catalog: string, bought: readonly Bought[], functions: string[], count: number) {
      const org = await licensedOrg(gw, catalog, bought);
      const group = await createGroup(gw, org, `Group ${functions.join(' ')}`, functions);
      const users = await createUsers(gw, org, count, { configurationGroupId: group });
      return { org, users, group };
    }

    const poolTotals = async (org: OrgFixture) =>
      (await seatUsage(gw, org)).pools.reduce((sum, p) => sum + p.inUse + p.emergencyInUse + p.overageInUse, 0);

    // ---------------------------------------------------------------- R-NAMED-5, R-FIX-1

    describe('named sessions', () => {
      it('[R-NAMED-5] seed 003: the holder of a named Zoom PREMIUM licence logs in without a seat (seatKind NAMED); one session per user, heartbeat and end as others', async () => {
        const { org, users } = await staffed(ZOOM, [{ product: 'PREMIUM', quantity: 2, allocation: 'NAMED' }], ['PREMIUM'], 2);
        const started = await startSession(gw, org, users[0]!, ['VOICE', 'EMAIL']);
        expect(started).toMatchObject({
          granted: true,
          denial: null,
          session: { seatKind: 'NAMED', endedAt: null, user: { id: users[0] } },
        });
        expect([...started.grantedChannels].sort()).toEqual(['EMAIL', 'VOICE']);
        // Counted nowhere as a seat.
        expect(await poolTotals(org)).toBe(0);
        expect(await poolCounter(gw, org.organizationId, 'PREMIUM')).toBe(0);

        // Starting again returns the open session; the second holder gets a session of their own.
        const again = await startSession(gw, org, users[0]!);
        expect(again.session?.id).toBe(started.session!.id);
        expect((await startGranted(gw, org, users[1]!)).seatKind).toBe('NAMED');
        expect(await openSessions(gw, org.organizationId)).toHaveLength(2);

        gw.clock.advance(TTL_MS / 2);
        expect((await heartbeat(gw, org, started.session!.id)).expiresAt).toBe(new Date(gw.clock.now().getTime() + TTL_MS).toISOString());
        expect(await endSession(gw, org, started.session!.id)).toMatchObject({ endReason: 'ENDED', seatKind: 'NAMED' });

        // The other one expires without heartbeat.
        gw.clock.advance(TTL_MS + SECOND);
        await sweepExpiredSessions(gw.database.db, gw.clock);
        expect(await openSessions(gw, org.organizationId)).toHaveLength(0);
        expect(await poolTotals(org)).toBe(0);
      });

      it('[R-NAMED-5] a Zoom user without a tier licence is still NOT_LICENSED', async () => {
        const org = await licensedOrg(gw, ZOOM, [{ product: 'PREMIUM', quantity: 1, allocation: 'NAMED' }]);
        const [user] = await createUsers(gw, org, 1);
        const result = await startSession(gw, org, user!);
        expect(result).toMatchObject({ granted: false, session: null, denial: { code: 'NOT_LICENSED' } });
      });

      it('[R-FIX-1][R-NAMED-5] seed 004: the holder of the fixed seat UC_USER logs in (seatKind NAMED); a BASE licence alone does not', async () => {
        const { org, users } = await staffed(
          STORM,
          [
            { product: 'BASE', quantity: 2 },
            { product: 'UC_USER', quantity: 1 },
          ],
          ['BASE', 'UC_USER'],
          1,
        );
        const result = await startSession(gw, org, users[0]!);
        expect(result).toMatchObject({ granted: true, session: { seatKind: 'NAMED' } });
        expect(await poolTotals(org)).toBe(0);

        // "Every agent needs a base licence, and a concurrent seat on top": BASE alone lets a named user exist, not log in.
        const baseOnly = await createGroup(gw, org, 'Base only', ['BASE']);
        const [plain] = await createMembers(gw, org, 1, baseOnly, { prefix: 'Base' });
        expect((await startSession(gw, org, plain!)).denial?.code).toBe('NOT_LICENSED');
      });
    });

    // ---------------------------------------------------------------- R-FEAT-1

    describe('concurrent feature licences', () => {
      const bought: Bought[] = [
        { product: 'BASE', quantity: 20 },
        { product: 'AGENT_SEAT', quantity: 20 },
        { product: 'CALL_RECORDING', quantity: 2 },
        { product: 'REPORTING', quantity: 5 },
      ];

      it('[R-FEAT-1] seed 004: CALL_RECORDING is taken per session up to the number bought, refused beyond, and freed at end and at expiry', async () => {
        const { org, users } = await staffed(STORM, bought, ['BASE', 'AGENT_SEAT', 'CALL_RECORDING', 'REPORTING'], 4);
        const a = await startSession(gw, org, users[0]!, ['CALL_RECORDING', 'REPORTING']);
        expect(a).toMatchObject({ granted: true, deniedChannels: [] });
        expect([...a.grantedChannels].sort()).toEqual(['CALL_RECORDING', 'REPORTING']);
        expect(await pool(gw, org, 'CALL_RECORDING')).toMatchObject({ capacity: 2, inUse: 1 });
        expect(await pool(gw, org, 'REPORTING')).toMatchObject({ capacity: 5, inUse: 1 });

        const b = await startSession(gw, org, users[1]!, ['CALL_RECORDING']);
        expect(b.grantedChannels).toEqual(['CALL_RECORDING']);
        const c = await startSession(gw, org, users[2]!, ['CALL_RECORDING']);
        expect(c).toMatchObject({
          granted: true,
          grantedChannels: [],
          deniedChannels: [{ channel: 'CALL_RECORDING', code: 'NO_SEAT_AVAILABLE', message: expect.stringContaining('CALL_RECORDING') }],
        });
        expect(await poolCounter(gw, org.organizationId, 'CALL_RECORDING')).toBe(2);

        // Freed at end: the next agent gets it.
        await endSession(gw, org, a.session!.id);
        expect(await poolCounter(gw, org.organizationId, 'CALL_RECORDING')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'REPORTING')).toBe(0);
        const d = await startSession(gw, org, users[3]!, ['CALL_RECORDING']);
        expect(d.grantedChannels).toEqual(['CALL_RECORDING']);

        // Freed at expiry.
        gw.clock.advance(TTL_MS + SECOND);
        await sweepExpiredSessions(gw.database.db, gw.clock);
        expect(await poolCounter(gw, org.organizationId, 'CALL_RECORDING')).toBe(0);
        expect(await seatsHeld(gw, org.organizationId, 'CALL_RECORDING')).toBe(0);
      });

      it('[R-FEAT-1] a feature unit is taken only when the group has the function: not entitled is NOT_LICENSED, the pool untouched', async () => {
        const { org, users } = await staffed(STORM, bought, ['BASE', 'AGENT_SEAT'], 1);
        const result = await startSession(gw, org, users[0]!, ['CALL_RECORDING']);
        expect(result).toMatchObject({ granted: true, grantedChannels: [] });
        expect(result.deniedChannels).toEqual([
          { channel: 'CALL_RECORDING', code: 'NOT_LICENSED', message: expect.stringContaining('CALL_RECORDING') },
        ]);
        expect(await poolCounter(gw, org.organizationId, 'CALL_RECORDING')).toBe(0);
      });

      it('[R-FEAT-1][R-CONC-4] 30 agents asking for CALL_RECORDING at once against 2 + 1 emergency units: exactly 3 get it, counters exact', async () => {
        const org = await licensedOrg(gw, STORM, [
          { product: 'BASE', quantity: 30 },
          { product: 'AGENT_SEAT', quantity: 30 },
          { product: 'CALL_RECORDING', quantity: 2, emergencyQuantity: 1 },
        ]);
        const group = await createGroup(gw, org, 'Recorded', ['BASE', 'AGENT_SEAT', 'CALL_RECORDING']);
        const agents = await createMembers(gw, org, 30, group, { prefix: 'Agent' });
        const results = await Promise.all(
          agents.map((userId) => gw.gql(START_SESSION, { input: { userId, channels: ['CALL_RECORDING'] } }, org.tokens.AGENT_CLIENT)),
        );
        const payloads = (results as Result<{ startSession: StartView }>[]).map((r) => {
          expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
          return r.data!.startSession;
        });
        expect(payloads.every((p) => p.granted)).toBe(true);
        expect(payloads.filter((p) => p.grantedChannels.includes('CALL_RECORDING'))).toHaveLength(3);
        expect(payloads.filter((p) => p.deniedChannels.some((d) => d.code === 'NO_SEAT_AVAILABLE'))).toHaveLength(27);
        expect(await poolCounter(gw, org.organizationId, 'CALL_RECORDING')).toBe(3);
        expect(await seatsHeld(gw, org.organizationId, 'CALL_RECORDING')).toBe(3);
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(30);
        expect(await pool(gw, org, 'CALL_RECORDING')).toMatchObject({ inUse: 2, emergencyInUse: 1 });
      });
    });

    // ---------------------------------------------------------------- R-DEMO-2

    describe('the switch to demo mode with agents logged in', () => {
      it('[R-DEMO-2][R-DEMO-1] seed 000: 3 agents logged in when grace ends keep their sessions and show in the utilization; new ones are refused until fewer than 2 are open', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }], ['ACD_AGENT'], 5);
        const { graceUntil } = (await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license as { graceUntil: string };
        const end = new Date(graceUntil).getTime();

        gw.clock.set(new Date(end - 30 * SECOND));
        const open = [];
        for (const user of users.slice(0, 3)) open.push(await startGranted(gw, org, user));
        expect(open.map((s) => s.seatKind)).toEqual(['REGULAR', 'REGULAR', 'REGULAR']);

        // The switch: grace is over while the three are logged in.
        gw.clock.set(new Date(end + 30 * SECOND));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        expect((await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license).toMatchObject({
          state: 'DEMO',
          demoAgentLimit: 2,
        });
        // Kept, and true in the utilization: 3 in use against the demo limit of 2.
        for (const s of open) expect((await heartbeat(gw, org, s.id)).endedAt).toBeNull();
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ capacity: 0, inUse: 3, maxPossible: 2 });
        expect((await pool(gw, org, 'ACD_AGENT'))!.peakToday).toBeGreaterThanOrEqual(3);

        // A 4th agent: refused while 2 or more are open.
        expect((await startSession(gw, org, users[3]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');
        await endSession(gw, org, open[0]!.id);
        expect((await startSession(gw, org, users[3]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ inUse: 2, maxPossible: 2 });

        // Below the limit: the 4th gets a demo seat, and then the limit holds again.
        await endSession(gw, org, open[1]!.id);
        expect((await startGranted(gw, org, users[3]!)).seatKind).toBe('DEMO');
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ inUse: 2, maxPossible: 2 });
        expect((await startSession(gw, org, users[4]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');
        expect(await openSessions(gw, org.organizationId)).toHaveLength(2);
        const sessions = (await gw.ok(USER_SESSIONS, { id: users[2] }, org.admin)).user.sessions as { endedAt: string | null }[];
        expect(sessions[0]?.endedAt).toBeNull();
      });

      it('[R-DEMO-2] carried-over sessions that expire free their place under the demo limit', async () => {
        const { org, users } = await staffed(INNOACD, [{ product: 'ACD_AGENT', quantity: 5 }], ['ACD_AGENT'], 4);
        const { graceUntil } = (await gw.ok(LICENSE, { id: org.organizationId }, org.admin)).organization.license as { graceUntil: string };
        const end = new Date(graceUntil).getTime();
        gw.clock.set(new Date(end - 30 * SECOND));
        for (const user of users.slice(0, 3)) await startGranted(gw, org, user);
        gw.clock.set(new Date(end + 30 * SECOND));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        expect((await startSession(gw, org, users[3]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');

        // Nobody renews: the start itself expires the overdue sessions and takes a demo seat.
        gw.clock.set(new Date(end + TTL_MS));
        expect((await startGranted(gw, org, users[3]!)).seatKind).toBe('DEMO');
        expect(await openSessions(gw, org.organizationId)).toHaveLength(1);
        expect(await pool(gw, org, 'ACD_AGENT')).toMatchObject({ inUse: 1, maxPossible: 2 });
      });
    });
  });
}
