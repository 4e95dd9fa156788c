import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import {
  TRUSTED_KEYS,
  activateKey,
  countingDatabase,
  createGroup,
  createUsers,
  issueLicenseKey,
  licensedOrg,
} from '../support/licensing.ts';
import { endSession, poolCounter, startSession } from '../support/sessions.ts';

/*
 * The round trips of a session start (R-PERF-1): an agent client's usual
 * start, once its organization's licensing is known to the process, is ONE
 * SQL statement that checks in the database what a probe would have read.
 * Whatever changed in between — on this instance or by anyone writing the
 * database — must give exactly the answer the full path gives.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const STORM = 'connect-storm';
/** What an ACD asks for (as the bench does): nothing the start did not produce itself. */
const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } session { id seatKind } } }`;
const UPDATE_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;

/** A new organization whose `users` agents each hold BASE and AGENT_SEAT (five of each bought). */
async function agentsOrg(gw: TestGateway, users: number): Promise<{ org: OrgFixture; staff: string[] }> {
  const org = await licensedOrg(gw, STORM, [
    { product: 'BASE', quantity: 5 },
    { product: 'AGENT_SEAT', quantity: 5 },
  ]);
  const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
  return { org, staff: await createUsers(gw, org, users, { configurationGroupId: group }) };
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;
    let counted: Awaited<ReturnType<typeof countingDatabase>>;
    let org: OrgFixture;
    let users: string[];

    beforeAll(async () => {
      counted = await countingDatabase(kind);
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS, database: counted.database });
      org = await licensedOrg(gw, STORM, [
        { product: 'BASE', quantity: 10 },
        { product: 'AGENT_SEAT', quantity: 3, emergencyQuantity: 1 },
      ]);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      users = await createUsers(gw, org, 8, { configurationGroupId: group });
    });
    afterAll(() => gw.close());

    /**
     * Statements one start costs, with its result; the live notice the
     * announcer sends after the commit (db/announcer.ts) is counted apart.
     */
    async function counting<T>(work: () => Promise<T>): Promise<{ result: T; statements: string[]; notices: string[] }> {
      await counted.settle();
      counted.reset();
      const result = await work();
      await counted.settle();
      return { result, statements: counted.sql(), notices: counted.notices() };
    }

    it('[R-CONC-1][R-PERF-1] once the organization is known, an agent client start is one SQL statement (token cached, no reads before the write)', async () => {
      // The first start of the organization probes (and the token is read once).
      const start = async (userId: string) =>
        (await gw.ok<{ startSession: unknown }>(START, { input: { userId } }, org.tokens.AGENT_CLIENT)).startSession;
      const first = await counting(() => start(users[0]!));
      expect(first.result).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      expect(first.statements.length).toBeGreaterThan(1);

      const second = await counting(() => start(users[1]!));
      expect(second.result).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      expect(second.statements, second.statements.join('\n')).toHaveLength(1);
      expect(second.statements[0]).toMatch(/update seat_pools/);
      expect(second.statements[0]).not.toMatch(/pg_notify/);
      // [R-LIVE-1] The live notice follows the commit, as a statement of its own.
      expect(second.notices).toHaveLength(1);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(2);
    });

    it('[R-CONC-1] a second start of the same user returns the open session (the one-statement start defers to the full path)', async () => {
      const again = await startSession(gw, org, users[1]!);
      expect(again.granted).toBe(true);
      const open = await gw.database.db
        .selectFrom('sessions')
        .select('id')
        .where('user_id', '=', users[1]!)
        .where('ended_at', 'is', null)
        .execute();
      expect(open).toHaveLength(1);
      expect(again.session?.id).toBe(open[0]!.id);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(2);
    });

    it('[R-CONC-2] a user deactivated after the organization became known gets USER_NOT_ACTIVE, not a seat', async () => {
      await gw.ok(UPDATE_STATUS, { input: { userId: users[2]!, status: 'INACTIVE' } }, org.admin);
      const result = await startSession(gw, org, users[2]!);
      expect(result).toMatchObject({ granted: false, denial: { code: 'USER_NOT_ACTIVE' } });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(2);
    });

    it('[R-EMER-1][R-CONC-4] regular seats, then the emergency seat, then NO_SEAT_AVAILABLE: the same decisions on the one-statement start', async () => {
      const third = await startSession(gw, org, users[3]!);
      const emergency = await startSession(gw, org, users[4]!);
      const refused = await startSession(gw, org, users[5]!);
      expect(third).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      expect(emergency).toMatchObject({ granted: true, session: { seatKind: 'EMERGENCY' } });
      expect(refused).toMatchObject({ granted: false, denial: { code: 'NO_SEAT_AVAILABLE' } });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(4);
      // A refusal with nothing overdue to expire is one statement too.
      const again = await counting(() => startSession(gw, org, users[5]!));
      expect(again.result).toMatchObject({
        granted: false,
        denial: { code: 'NO_SEAT_AVAILABLE', message: 'all AGENT_SEAT seats are in use (capacity and emergency seats)' },
      });
      expect(again.statements, again.statements.join('\n')).toHaveLength(1);
      expect(again.notices).toEqual([]);
      await endSession(gw, org, emergency.session!.id);
      await endSession(gw, org, third.session!.id);
    });

    it('[R-CONC-3] a full pool with an overdue session: the start expires it and takes its seat (the one-statement start defers)', async () => {
      const [a, b] = [await startSession(gw, org, users[3]!), await startSession(gw, org, users[4]!)];
      expect([a.granted, b.granted]).toEqual([true, true]);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(4);
      // Everyone's sessions go overdue (no heartbeats); the next start frees theirs and takes a seat.
      gw.clock.advance(121_000);
      const late = await startSession(gw, org, users[5]!);
      expect(late).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBeLessThan(4);
      const expired = await gw.database.db
        .selectFrom('sessions')
        .select('id')
        .where('organization_id', '=', org.organizationId)
        .where('end_reason', '=', 'EXPIRED')
        .execute();
      expect(expired.length).toBeGreaterThan(0);
    });

    it('[R-CONC-1] grants changed past the gateway (SQL by hand) are honoured: the statement reads them, not a copy', async () => {
      const before = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
      await sql`update user_grants set status = 'NOT_LICENSED' where user_id = ${users[6]!} and product_code = 'AGENT_SEAT'`.execute(
        gw.database.db,
      );
      const result = await startSession(gw, org, users[6]!);
      expect(result).toMatchObject({ granted: false, denial: { code: 'NOT_LICENSED' } });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(before);
    });

    it('[R-LIFE-1][R-CONC-1] a key activated after the organization became known takes effect on the next start (the revision changed, so the start re-reads)', async () => {
      // A follow-up key without AGENT_SEAT: the organization has no seat licences any more.
      await activateKey(
        gw,
        org,
        issueLicenseKey(STORM, [{ product: 'BASE', quantity: 10 }], { org, validFrom: NOW.toISOString(), keyId: 'FOLLOW-UP-1' }),
      );
      const before = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
      const refused = await startSession(gw, org, users[7]!);
      expect(refused).toMatchObject({ granted: false, denial: { code: 'NOT_LICENSED' } });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(before);
    });

    it('[R-LIFE-6] a later high-water time recorded by another instance is honoured by the next start (the licence is judged at that time)', async () => {
      const { org: org2, staff } = await agentsOrg(gw, 3);
      expect(await startSession(gw, org2, staff[0]!)).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      // Another instance saw a time three years on: the one-year licence is over there, so it is here too.
      await sql`update organizations set clock_high_water = ${new Date(NOW.getTime() + 3 * 365 * 86_400_000)} where id = ${org2.organizationId}`.execute(
        gw.database.db,
      );
      const late = await startSession(gw, org2, staff[1]!);
      expect(late.session?.seatKind ?? late.denial?.code).not.toBe('REGULAR');
      expect(await poolCounter(gw, org2.organizationId, 'AGENT_SEAT')).toBe(1);
    });
  });
}

/*
 * The one-statement start judges the licence at every start's own time, even
 * with nothing in the database changed since the organization became known:
 * the last instant of the grace period still starts a regular seat, the
 * instant it ends the same start is a demo one (R-LIFE-4, R-DEMO-1).
 */
for (const kind of DATABASES) {
  describe(`${kind}: the licence judged at each start's time`, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    it('[R-LIFE-4][R-DEMO-1] the start just before the grace period ends takes a regular seat; the next, at its end, is a demo session', async () => {
      const { org, staff } = await agentsOrg(gw, 4);
      const license = await gw.ok<{ organization: { license: { graceUntil: string } } }>(
        `query($id: ID!) { organization(id: $id) { license { graceUntil } } }`,
        { id: org.organizationId },
        org.admin,
      );
      const graceUntil = new Date(license.organization.license.graceUntil).getTime();
      // Known to the process: the next starts may take the one statement.
      expect(await startSession(gw, org, staff[0]!)).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      gw.clock.set(new Date(graceUntil - 1));
      expect(await startSession(gw, org, staff[1]!)).toMatchObject({ granted: true, session: { seatKind: 'REGULAR' } });
      gw.clock.set(new Date(graceUntil));
      const late = await startSession(gw, org, staff[2]!);
      expect(late.session?.seatKind ?? late.denial?.code).toBe('DEMO');
    });
  });
}
