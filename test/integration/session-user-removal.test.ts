import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { codeOf, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import { createGroup, createMembers, eventsOf, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import {
  END_SESSION,
  HEARTBEAT,
  SESSION_FIELDS,
  openSessions,
  poolCounter,
  seatsHeld,
  startGranted,
  startSession,
  type SessionView,
} from '../support/sessions.ts';

/*
 * A deleted user, or one taken out of ACTIVE (INACTIVE, back to PREPARING),
 * loses their session at once: the status change or deletion ends it in its
 * own transaction, frees its seat and channel units, records SESSION_ENDED
 * with the reason, and live utilization shows the freed seat. A later
 * heartbeat or endSession gets a coded answer: the session ended
 * (endReason USER_INACTIVE / USER_PREPARING), or NOT_FOUND with reason
 * USER_DELETED for a session whose user no longer exists; never
 * "Unexpected error.".
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const UPDATE_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const DELETE_USER = `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId } }`;
const USER_SESSIONS = `query($id: ID!) { user(id: $id) { sessions { ${SESSION_FIELDS} } } }`;
const SEAT_USAGE_SUBSCRIPTION = `subscription($id: ID!) { seatUsage(organizationId: $id) { pools { product { code } inUse } } }`;

type Pools = { product: { code: string }; inUse: number }[];

/** A seatUsage subscription over server-sent events (yoga's handler), read value by value. */
async function subscribeSeatUsage(gw: TestGateway, org: OrgFixture) {
  const response = await gw.app.yoga.fetch('http://gateway.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${org.admin}` },
    body: JSON.stringify({ query: SEAT_USAGE_SUBSCRIPTION, variables: { id: org.organizationId } }),
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    /** Reads values until one matches (the stream ends the test with an error if it closes first). */
    async until(test: (pools: Pools) => boolean): Promise<Pools> {
      for (;;) {
        const blocks = buffer.split('\n\n');
        buffer = blocks.pop() ?? '';
        for (const block of blocks) {
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('');
          if (!data) continue;
          const value = JSON.parse(data) as { data?: { seatUsage: { pools: Pools } }; errors?: unknown };
          if (value.errors) throw new Error(JSON.stringify(value.errors));
          if (value.data && test(value.data.seatUsage.pools)) return value.data.seatUsage.pools;
        }
        const chunk = await reader.read();
        if (chunk.done) throw new Error('seatUsage stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    close: () => reader.cancel(),
  };
}

const inUse = (pools: Pools, product: string) => pools.find((p) => p.product.code === product)?.inUse;

for (const kind of DATABASES) {
  describe(`users who may no longer hold a session, on ${kind}`, () => {
    let gw: TestGateway;
    let org: OrgFixture;
    let users: string[];

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
      org = await licensedOrg(gw, 'connect-storm', [
        { product: 'BASE', quantity: 10 },
        { product: 'AGENT_SEAT', quantity: 5 },
        { product: 'VOICE', quantity: 5 },
      ]);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
      users = await createMembers(gw, org, 6, group, { prefix: 'Agent' });
    });
    afterAll(() => gw.close());

    const heartbeatRaw = (sessionId: string): Promise<Result<{ heartbeat: { session: SessionView } }>> =>
      gw.gql(HEARTBEAT, { input: { sessionId } }, org.tokens.AGENT_CLIENT);
    const endRaw = (sessionId: string): Promise<Result<{ endSession: { session: SessionView } }>> =>
      gw.gql(END_SESSION, { input: { sessionId } }, org.tokens.AGENT_CLIENT);
    const sessionEnded = async (sessionId: string) =>
      (await eventsOf(gw, org.organizationId)).filter((e) => e.type === 'SESSION_ENDED' && e.detail?.includes(sessionId));

    it('[R-CONC-1][user-removal] deleteUser of a logged-in user frees its seat and channel unit in that transaction, with SESSION_ENDED (USER_DELETED); heartbeat and endSession then answer NOT_FOUND naming the session and why', async () => {
      const [victim, other] = [users[0]!, users[1]!];
      const kept = await startGranted(gw, org, other);
      const session = await startGranted(gw, org, victim, ['VOICE']);
      expect(session.channels).toEqual(['VOICE']);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(2);
      expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(1);
      const live = await subscribeSeatUsage(gw, org);
      try {
        await live.until((pools) => inUse(pools, 'AGENT_SEAT') === 2);

        const deleted = await gw.gql(DELETE_USER, { input: { userId: victim } }, org.admin);
        expect(deleted.errors).toBeUndefined();

        // Freed by the deletion itself: nothing else ran in between.
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(1);
        expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(0);
        expect(await seatsHeld(gw, org.organizationId, 'AGENT_SEAT')).toBe(1);
        expect((await openSessions(gw, org.organizationId)).map((s) => s.id)).toEqual([kept.id]);
        const [ended] = await sessionEnded(session.id);
        expect(ended).toMatchObject({ type: 'SESSION_ENDED', user_id: victim });
        expect(ended!.detail).toContain('USER_DELETED');
        const stored = await gw.database.db
          .selectFrom('sessions')
          .select(['ended_at', 'end_reason'])
          .where('id', '=', session.id)
          .executeTakeFirstOrThrow();
        expect(stored.end_reason).toBe('USER_DELETED');
        expect(stored.ended_at).not.toBeNull();
        // Written by the deletion's transaction: its SESSION_ENDED comes right after its USER_DELETED in the log.
        const log = await eventsOf(gw, org.organizationId);
        const deletion = log.findIndex((e) => e.type === 'USER_DELETED' && e.user_id === victim);
        expect(log[deletion + 1]).toMatchObject({ type: 'SESSION_ENDED', user_id: victim });

        // Live utilization subscribers see the freed seat.
        await live.until((pools) => inUse(pools, 'AGENT_SEAT') === 1 && inUse(pools, 'VOICE') === 0);
      } finally {
        await live.close();
      }

      for (const answer of [await heartbeatRaw(session.id), await endRaw(session.id)]) {
        expect(codeOf(answer)).toBe('NOT_FOUND');
        expect(answer.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', reason: 'USER_DELETED' });
        expect(answer.errors![0]!.message).toContain(session.id);
        expect(answer.errors![0]!.message).toContain('deleted');
      }
      // Neither freed anything twice; the other session is untouched.
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(1);
      await gw.ok(END_SESSION, { input: { sessionId: kept.id } }, org.tokens.AGENT_CLIENT);
    });

    for (const [status, reason] of [
      ['INACTIVE', 'USER_INACTIVE'],
      ['PREPARING', 'USER_PREPARING'],
    ] as const) {
      it(`[R-CONC-1][R-TEN-1][user-removal] updateUserStatus ${status} of a logged-in user frees its seat in that transaction, with SESSION_ENDED (${reason}); heartbeat no longer renews it and endSession frees nothing twice`, async () => {
        const [victim, other] = status === 'INACTIVE' ? [users[2]!, users[3]!] : [users[4]!, users[5]!];
        const base = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
        const kept = await startGranted(gw, org, other);
        const session = await startGranted(gw, org, victim);
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(base + 2);

        const changed = await gw.gql(UPDATE_STATUS, { input: { userId: victim, status } }, org.admin);
        expect(changed.errors).toBeUndefined();

        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(base + 1);
        expect((await openSessions(gw, org.organizationId)).map((s) => s.id)).toContain(kept.id);
        expect((await openSessions(gw, org.organizationId)).map((s) => s.id)).not.toContain(session.id);
        const [ended] = await sessionEnded(session.id);
        expect(ended?.detail).toContain(reason);
        const listed = (await gw.ok<{ user: { sessions: SessionView[] } }>(USER_SESSIONS, { id: victim }, org.admin)).user.sessions;
        expect(listed.find((s) => s.id === session.id)).toMatchObject({ endReason: reason, endedAt: expect.any(String) });

        // The heartbeat answers the ended session (its reason), renewing nothing; endSession returns it unchanged.
        gw.clock.advance(30_000);
        const beat = await heartbeatRaw(session.id);
        expect(beat.errors).toBeUndefined();
        expect(beat.data!.heartbeat.session).toMatchObject({
          id: session.id,
          endReason: reason,
          expiresAt: session.expiresAt,
          endedAt: expect.any(String),
        });
        const end = await endRaw(session.id);
        expect(end.errors).toBeUndefined();
        expect(end.data!.endSession.session).toMatchObject({ id: session.id, endReason: reason });
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(base + 1);
        // And a new start is refused as data.
        expect(await startSession(gw, org, victim)).toMatchObject({ granted: false, denial: { code: 'USER_NOT_ACTIVE' } });

        await gw.ok(END_SESSION, { input: { sessionId: kept.id } }, org.tokens.AGENT_CLIENT);
        await gw.ok(UPDATE_STATUS, { input: { userId: victim, status: 'ACTIVE' } }, org.admin);
        gw.clock.set(NOW);
      });
    }

    it('[R-CONC-3][user-removal] a session left open by a user who is no longer there (removed past the gateway) is ended by its next heartbeat, which answers NOT_FOUND (USER_DELETED)', async () => {
      const victim = users[1]!;
      const session = await startGranted(gw, org, victim);
      const before = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
      // As a manual fix in psql would: the user row goes, nothing else happens.
      await gw.database.db.deleteFrom('users').where('organization_id', '=', org.organizationId).where('id', '=', victim).execute();

      const beat = await heartbeatRaw(session.id);
      expect(beat.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND', reason: 'USER_DELETED' });
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(before - 1);
      expect((await sessionEnded(session.id))[0]?.detail).toContain('USER_DELETED');
      expect(codeOf(await endRaw(session.id))).toBe('NOT_FOUND');
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(before - 1);
    });
  });
}
