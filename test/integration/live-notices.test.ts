import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Announcer, LIVE_CHANNEL, type LiveNotice } from '../../src/db/announcer.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { appendEvents } from '../../src/events/events.repository.ts';
import { newId } from '../../src/ids.ts';
import { DATABASES } from '../support/databases.ts';
import { countingDatabase } from '../support/licensing.ts';

/*
 * Live notices after the commit (R-LIVE-1, db/announcer.ts). A NOTIFY in a
 * transaction makes PostgreSQL serialize its commit with every other
 * notifying commit of the database; the writes hand their events to the
 * announcer instead, which sends them once committed, coalesced. What must
 * hold: nothing is announced before its commit or for a rollback, every
 * committed event is announced, and the notices arrive at every listener.
 */

const event = (organizationId: string) => ({
  organizationId,
  type: 'SESSION_STARTED' as const,
  at: new Date(),
  actor: 'test',
  apiTokenId: null,
});

for (const kind of DATABASES) {
  describe(kind, () => {
    let counted: Awaited<ReturnType<typeof countingDatabase>>;
    const received: LiveNotice[] = [];
    let unlisten: () => Promise<void>;

    beforeAll(async () => {
      counted = await countingDatabase(kind);
      unlisten = await counted.database.listen(LIVE_CHANNEL, (payload) => received.push(JSON.parse(payload) as LiveNotice));
    });
    afterAll(async () => {
      await unlisten();
      await counted.database.dispose();
    });

    /** Waits until the notices of `org` name every id in `ids` (or fails after a while). */
    async function noticed(org: string, ids: readonly string[]): Promise<void> {
      for (let i = 0; i < 200; i++) {
        const named = new Set(received.filter((n) => n.o === org).flatMap((n) => n.ids ?? []));
        if (ids.every((id) => named.has(id))) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      throw new Error(`notices of ${org} never named ${ids.join(', ')}`);
    }

    it('[R-LIVE-1] a write transaction issues no NOTIFY inside it: its events are announced after the commit', async () => {
      const { db } = counted.database;
      const org = newId();
      counted.reset();
      let inside: string[] = [];
      const rows = await withTransaction(db, async (trx) => {
        const written = await appendEvents(trx, [event(org), event(org)]);
        inside = counted.notices();
        return written;
      });
      expect(inside).toEqual([]);
      await noticed(
        org,
        rows.map((r) => r.id),
      );
      expect(counted.notices().length).toBeGreaterThan(0);
    });

    it('[R-LIVE-1] a rolled-back transaction announces nothing', async () => {
      const { db } = counted.database;
      const org = newId();
      await expect(
        withTransaction(db, async (trx) => {
          await appendEvents(trx, [event(org)]);
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      // A later committed change of the same organization is announced alone.
      const [later] = await withTransaction(db, (trx) => appendEvents(trx, [event(org)]));
      await noticed(org, [later!.id]);
      await db.announcer.flushed();
      expect(received.filter((n) => n.o === org).flatMap((n) => n.ids ?? [])).toEqual([later!.id]);
    });

    it('[R-LIVE-1] events written in a transaction not run by withTransaction are refused: rolled back, nothing NOTIFYed', async () => {
      const { db } = counted.database;
      const org = newId();
      counted.reset();
      await expect(db.transaction().execute((trx) => appendEvents(trx, [event(org)]))).rejects.toThrow(/not run by withTransaction/);
      await db.announcer.flushed();
      expect(counted.notices()).toEqual([]);
      const kept = await db.selectFrom('events').select('id').where('organization_id', '=', org).execute();
      expect(kept).toEqual([]);
    });

    it('[R-LIVE-1] many commits at once are announced in a few coalesced statements (PGlite: none), every event named', async () => {
      const { db } = counted.database;
      const orgs = [newId(), newId(), newId()];
      counted.reset();
      const written = await Promise.all(
        Array.from({ length: 60 }, (_, i) => withTransaction(db, (trx) => appendEvents(trx, [event(orgs[i % 3]!)]))),
      );
      for (const org of orgs)
        await noticed(
          org,
          written
            .flat()
            .filter((r) => r.organization_id === org)
            .map((r) => r.id),
        );
      await db.announcer.flushed();
      if (kind === 'postgres') {
        // One statement can carry many organizations' notices: fewer statements than commits.
        expect(counted.notices().length).toBeLessThan(60);
        expect(counted.noticeStatements()).toHaveLength(counted.notices().length);
      } else {
        // One process owns a PGlite database: the notices reach its listeners without any statement.
        expect(counted.noticeStatements()).toEqual([]);
      }
    });
  });
}

describe('Announcer', () => {
  it('[R-LIVE-1] keeps notices it could not send and sends them once the database answers again', async () => {
    const sent: string[][] = [];
    let down = true;
    const announcer = new Announcer(async (_channel, payloads) => {
      if (down) throw new Error('connection refused');
      sent.push([...payloads]);
    });
    announcer.announce('org-a', ['01']);
    announcer.announce('org-b', ['02']);
    await new Promise((resolve) => setTimeout(resolve, 50));
    announcer.announce('org-a', ['03']);
    down = false;
    await announcer.flushed();
    const notices = sent.flat().map((p) => JSON.parse(p) as LiveNotice);
    expect(notices.filter((n) => n.o === 'org-a').flatMap((n) => n.ids)).toEqual(['01', '03']);
    expect(notices.filter((n) => n.o === 'org-b').flatMap((n) => n.ids)).toEqual(['02']);
    await announcer.close();
  });

  it('[R-LIVE-1] beyond 100 events of one organization, a notice names their range', async () => {
    const sent: string[] = [];
    const announcer = new Announcer(async (_channel, payloads) => {
      sent.push(...payloads);
    });
    const ids = Array.from({ length: 150 }, (_, i) => String(i).padStart(4, '0'));
    announcer.announce('org', ids);
    await announcer.flushed();
    expect(sent.map((p) => JSON.parse(p))).toEqual([{ o: 'org', from: '0000', to: '0149' }]);
  });
});
