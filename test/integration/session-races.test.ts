import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createMembers, eventsOf, licensedOrg } from '../support/licensing.ts';
import {
  END_SESSION,
  START_SESSION,
  endSession,
  openSessions,
  pool,
  poolCounter,
  seatsHeld,
  secondInstance,
  startGranted,
  startSession,
  type SessionView,
  type StartView,
} from '../support/sessions.ts';

/*
 * R-CONC-4: under any concurrency, on one instance or many, seats in use
 * never exceed capacity + emergency. Every call here is fired at once
 * (Promise.all); on PostgreSQL they run on many connections (the gateway's
 * pool has 10, a second instance brings 10 more), on PGlite they are
 * serialized by its one connection, and the counts must be exact on both.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const STORM = 'connect-storm';
const TTL_MS = 120_000;

/** connect storm with 50 agent seats + 10 emergency seats and `users` agents (BASE + AGENT_SEAT). */
async function stormPool(gw: TestGateway, users: number, seats = 50, emergency = 10): Promise<{ org: OrgFixture; agents: string[] }> {
  const org = await licensedOrg(gw, STORM, [
    { product: 'BASE', quantity: users },
    { product: 'AGENT_SEAT', quantity: seats, emergencyQuantity: emergency },
  ]);
  const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
  const agents = await createMembers(gw, org, users, group, { prefix: 'Agent' });
  return { org, agents };
}

function startRaw(gw: TestGateway, org: OrgFixture, userId: string): Promise<Result<{ startSession: StartView }>> {
  return gw.gql(START_SESSION, { input: { userId } }, org.tokens.AGENT_CLIENT);
}

/** Every call answered without an error; their payloads. */
function payloads(results: Result<{ startSession: StartView }>[]): StartView[] {
  for (const r of results) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
  return results.map((r) => r.data!.startSession);
}

function tally(results: StartView[]) {
  const granted = results.filter((r) => r.granted);
  return {
    granted: granted.length,
    regular: granted.filter((r) => r.session?.seatKind === 'REGULAR').length,
    emergency: granted.filter((r) => r.session?.seatKind === 'EMERGENCY').length,
    denied: results.filter((r) => !r.granted).length,
    denials: [...new Set(results.filter((r) => !r.granted).map((r) => r.denial?.code))],
  };
}

/** The counter, the open sessions and the seats they hold agree. */
async function expectConsistent(gw: TestGateway, org: OrgFixture, expected: number): Promise<void> {
  expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(expected);
  expect(await seatsHeld(gw, org.organizationId, 'AGENT_SEAT')).toBe(expected);
  expect(await openSessions(gw, org.organizationId)).toHaveLength(expected);
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    // Setting up 200 users one by one through the API is the slow part (on PGlite especially), not the race.
    it('[R-CONC-4] 200 concurrent startSession calls for 200 agents against 50 + 10 emergency seats: exactly 60 granted, 140 NO_SEAT_AVAILABLE, counter 60', {
      timeout: 180_000,
    }, async () => {
      const { org, agents } = await stormPool(gw, 200);
      const results = payloads(await Promise.all(agents.map((id) => startRaw(gw, org, id))));
      expect(tally(results)).toEqual({ granted: 60, regular: 50, emergency: 10, denied: 140, denials: ['NO_SEAT_AVAILABLE'] });
      await expectConsistent(gw, org, 60);
      expect(await pool(gw, org, 'AGENT_SEAT')).toEqual({
        capacity: 50,
        inUse: 50,
        emergencyCapacity: 10,
        emergencyInUse: 10,
        overageInUse: 0,
        maxPossible: 60,
        peakToday: 60,
      });
      // Every granted agent has its own session; the series never recorded more than 60.
      expect(new Set(results.filter((r) => r.granted).map((r) => r.session?.user.id)).size).toBe(60);
      const series = await gw.database.db
        .selectFrom('usage_changes')
        .select('in_use')
        .where('organization_id', '=', org.organizationId)
        .where('product_code', '=', 'AGENT_SEAT')
        .execute();
      expect(series).toHaveLength(60);
      expect(Math.max(...series.map((r) => r.in_use))).toBe(60);
      expect((await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'SESSION_STARTED')).toHaveLength(60);
    });

    it.skipIf(kind !== 'postgres')(
      '[R-CONC-4][R-SCALE-1] two gateway instances on one PostgreSQL, 200 concurrent starts split across them: exactly 60 granted',
      { timeout: 180_000 },
      async () => {
        const other = await secondInstance(gw.database, { now: NOW, trustedKeys: TRUSTED_KEYS });
        try {
          const { org, agents } = await stormPool(gw, 200);
          const results = payloads(await Promise.all(agents.map((id, i) => startRaw(i % 2 === 0 ? gw : other, org, id))));
          expect(tally(results)).toMatchObject({ granted: 60, regular: 50, emergency: 10, denied: 140, denials: ['NO_SEAT_AVAILABLE'] });
          await expectConsistent(gw, org, 60);

          // Both instances end and start at once: the counter still equals the open sessions.
          const open = results.filter((r) => r.granted).map((r) => r.session!);
          const holders = new Set(open.map((s) => s.user.id));
          const waiting = agents.filter((id) => !holders.has(id));
          expect(waiting).toHaveLength(140);
          const churn = await Promise.all([
            ...open
              .slice(0, 30)
              .map((s, i) => (i % 2 === 0 ? other : gw).gql(END_SESSION, { input: { sessionId: s.id } }, org.tokens.AGENT_CLIENT)),
            ...waiting.slice(0, 100).map((id, i) => startRaw(i % 2 === 0 ? gw : other, org, id)),
          ]);
          for (const r of churn) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
          const after = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
          expect(after).toBeLessThanOrEqual(60);
          await expectConsistent(gw, org, after);
          // The freed seats could all be retaken: whatever the interleaving, a second round fills the pool exactly.
          const second = payloads(await Promise.all(waiting.slice(0, 100).map((id, i) => startRaw(i % 2 === 0 ? other : gw, org, id))));
          expect(second.every((r) => r.granted || r.denial?.code === 'NO_SEAT_AVAILABLE')).toBe(true);
          await expectConsistent(gw, org, 60);
        } finally {
          await other.close();
        }
      },
    );

    it('[R-CONC-1][R-CONC-4] the same agent starting 20 times at once holds exactly one seat; every call returns the same session', async () => {
      const { org, agents } = await stormPool(gw, 3, 2, 0);
      const results = payloads(await Promise.all(Array.from({ length: 20 }, () => startRaw(gw, org, agents[0]!))));
      expect(results.every((r) => r.granted)).toBe(true);
      expect(new Set(results.map((r) => r.session?.id)).size).toBe(1);
      await expectConsistent(gw, org, 1);
      expect((await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'SESSION_STARTED')).toHaveLength(1);
      // The lost races left no seat behind: the second seat is still there for another agent, then the pool is full.
      expect((await startSession(gw, org, agents[1]!)).granted).toBe(true);
      expect((await startSession(gw, org, agents[2]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
    });

    it('[R-CONC-4] concurrent endSession of the same session frees exactly one seat', async () => {
      const { org, agents } = await stormPool(gw, 3, 3, 0);
      const [a, b] = [await startGranted(gw, org, agents[0]!), await startGranted(gw, org, agents[1]!)];
      gw.clock.advance(1000);
      const ended = await Promise.all(
        Array.from({ length: 20 }, () =>
          gw.gql<{ endSession: { session: SessionView } }>(END_SESSION, { input: { sessionId: a.id } }, org.tokens.AGENT_CLIENT),
        ),
      );
      for (const r of ended) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      expect(new Set(ended.map((r) => r.data?.endSession.session.endedAt))).toEqual(
        new Set([new Date(NOW.getTime() + 1000).toISOString()]),
      );
      await expectConsistent(gw, org, 1);
      expect((await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'SESSION_ENDED')).toHaveLength(1);
      expect(await endSession(gw, org, b.id)).toMatchObject({ endReason: 'ENDED' });
      await expectConsistent(gw, org, 0);
    });

    it('[R-CONC-4][R-CHAN-1] agents and supervisors asking for the same channel pools in opposite orders, all at once: every call answered, counters exact', async () => {
      const org = await licensedOrg(gw, STORM, [
        { product: 'BASE', quantity: 80 },
        { product: 'AGENT_SEAT', quantity: 40 },
        { product: 'SUPERVISOR_SEAT', quantity: 40 },
        { product: 'VOICE', quantity: 20, emergencyQuantity: 5 },
        { product: 'EMAIL', quantity: 20, emergencyQuantity: 5 },
      ]);
      const agentsGroup = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE', 'EMAIL']);
      const supervisorsGroup = await createGroup(gw, org, 'Supervisors', ['BASE', 'SUPERVISOR_SEAT', 'VOICE', 'EMAIL']);
      const agents = await createMembers(gw, org, 40, agentsGroup, { prefix: 'Agent' });
      const supervisors = await createMembers(gw, org, 40, supervisorsGroup, { prefix: 'Supervisor' });
      const calls = agents.flatMap((agent, i) => [
        gw.gql<{ startSession: StartView }>(
          START_SESSION,
          { input: { userId: agent, channels: ['VOICE', 'EMAIL'] } },
          org.tokens.AGENT_CLIENT,
        ),
        gw.gql<{ startSession: StartView }>(
          START_SESSION,
          { input: { userId: supervisors[i], channels: ['EMAIL', 'VOICE'] } },
          org.tokens.AGENT_CLIENT,
        ),
      ]);
      const results = payloads(await Promise.all(calls));
      // Every seat product has room for everyone; the channel pools for 25 each.
      expect(results.every((r) => r.granted)).toBe(true);
      const grantedVoice = results.filter((r) => r.grantedChannels.includes('VOICE')).length;
      const grantedEmail = results.filter((r) => r.grantedChannels.includes('EMAIL')).length;
      expect([grantedVoice, grantedEmail]).toEqual([25, 25]);
      for (const r of results) {
        expect([...r.grantedChannels, ...r.deniedChannels.map((d) => d.channel)].sort()).toEqual(['EMAIL', 'VOICE']);
        for (const d of r.deniedChannels) expect(d.code).toBe('NO_SEAT_AVAILABLE');
      }
      for (const [product, held] of [
        ['AGENT_SEAT', 40],
        ['SUPERVISOR_SEAT', 40],
        ['VOICE', 25],
        ['EMAIL', 25],
      ] as const) {
        expect(await poolCounter(gw, org.organizationId, product)).toBe(held);
        expect(await seatsHeld(gw, org.organizationId, product)).toBe(held);
      }
      // And all end at once: everything is freed exactly.
      const ended = await Promise.all(
        results.map((r) => gw.gql(END_SESSION, { input: { sessionId: r.session!.id } }, org.tokens.AGENT_CLIENT)),
      );
      for (const r of ended) expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
      for (const product of ['AGENT_SEAT', 'SUPERVISOR_SEAT', 'VOICE', 'EMAIL'])
        expect(await poolCounter(gw, org.organizationId, product)).toBe(0);
    });

    it('[R-CONC-4][R-CONC-3] starts racing over a pool full of overdue sessions: each is expired once, never more seats than capacity', async () => {
      const { org, agents } = await stormPool(gw, 40, 10, 0);
      for (const id of agents.slice(0, 10)) await startGranted(gw, org, id);
      gw.clock.advance(TTL_MS + 1);
      const results = payloads(await Promise.all(agents.slice(10).map((id) => startRaw(gw, org, id))));
      const { granted, denials } = tally(results);
      expect(granted).toBeGreaterThanOrEqual(1);
      expect(granted).toBeLessThanOrEqual(10);
      expect(denials.filter((d) => d !== 'NO_SEAT_AVAILABLE')).toEqual([]);
      await expectConsistent(gw, org, granted);
      const expired = (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'SESSION_EXPIRED');
      expect(expired.map((e) => e.user_id).sort()).toEqual(agents.slice(0, 10).sort());
      // The seats freed but lost in the race are all there for the next agents.
      for (const id of agents
        .slice(10)
        .filter((id) => !results.some((r) => r.granted && r.session?.user.id === id))
        .slice(0, 10 - granted)) {
        expect((await startSession(gw, org, id)).granted).toBe(true);
      }
      await expectConsistent(gw, org, 10);
    });
  });
}
