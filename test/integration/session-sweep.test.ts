import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isId } from '../../src/ids.ts';
import { sweepExpiredSessions } from '../../src/sessions/sweep.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { createGroup, createMembers, eventsOf, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { openSessions, poolCounter, startGranted } from '../support/sessions.ts';

/*
 * R-CONC-3: the expiry sweep handles each organization on its own: when one
 * organization's expiry fails (here a real database error: a trigger refuses
 * the update of its sessions), the failure is reported and the other
 * organizations are still swept; the next sweep retries the failed one.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');

for (const kind of DATABASES) {
  describe(`session expiry sweep on ${kind}`, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    async function orgWithSession(): Promise<{ org: OrgFixture; sessionId: string }> {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 3 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [user] = await createMembers(gw, org, 1, group);
      return { org, sessionId: (await startGranted(gw, org, user!)).id };
    }

    it('[R-AVAIL-4][R-CONC-3][sweep-isolation] one organization whose expiry fails is reported and retried later; the others are still swept', async () => {
      const failing = await orgWithSession();
      const healthy = await orgWithSession();
      gw.clock.advance(10 * 60_000);
      expect(isId(failing.org.organizationId)).toBe(true);
      await sql`create function refuse_session_update() returns trigger language plpgsql as $$ begin raise exception 'sessions of this organization refuse updates'; end $$`.execute(
        gw.database.db,
      );
      await sql`create trigger refuse_session_update before update on sessions for each row
        when (old.organization_id = ${sql.lit(failing.org.organizationId)}::uuid) execute function refuse_session_update()`.execute(
        gw.database.db,
      );

      const failures: string[] = [];
      try {
        const expired = await sweepExpiredSessions(gw.database.db, gw.clock, {
          onError: (organizationId) => failures.push(organizationId),
        });
        expect(expired).toBe(1);
        expect(failures).toEqual([failing.org.organizationId]);
        expect(await openSessions(gw, healthy.org.organizationId)).toEqual([]);
        expect(await poolCounter(gw, healthy.org.organizationId, 'ACD_AGENT')).toBe(0);
        expect((await eventsOf(gw, healthy.org.organizationId)).filter((e) => e.type === 'SESSION_EXPIRED')).toHaveLength(1);
        // Nothing of the failed organization's expiry remains.
        expect((await openSessions(gw, failing.org.organizationId)).map((s) => s.id)).toEqual([failing.sessionId]);
        expect(await poolCounter(gw, failing.org.organizationId, 'ACD_AGENT')).toBe(1);
      } finally {
        await sql`drop trigger refuse_session_update on sessions`.execute(gw.database.db);
        await sql`drop function refuse_session_update()`.execute(gw.database.db);
      }

      const later: string[] = [];
      expect(await sweepExpiredSessions(gw.database.db, gw.clock, { onError: (organizationId) => later.push(organizationId) })).toBe(1);
      expect(later).toEqual([]);
      expect(await openSessions(gw, failing.org.organizationId)).toEqual([]);
      expect(await poolCounter(gw, failing.org.organizationId, 'ACD_AGENT')).toBe(0);
    });
  });
}
