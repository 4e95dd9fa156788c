import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { ParsedKeys } from '../../src/allocation/keys.ts';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { eventRow } from '../../src/events/events.repository.ts';
import { firstIdAt, idTimeMs, newId } from '../../src/ids.ts';
import type { LicenseEvent as EventRow } from '../../src/events/event.ts';
import type { Channel } from '../../src/live/channel.ts';
import { createLiveHub, type LiveHub, type SeatUsagePayload } from '../../src/live/hub.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';

/*
 * Changes no notice announced (R-LIVE-1): the announcer sends a change's
 * notice after its commit (db/announcer.ts), so a process that dies in
 * between leaves the other processes without it, as does a write made past
 * the gateway. The hub reads every watched organization every
 * `reconcileMs` and sends what changed: the snapshot when its pools differ
 * from the last one sent, and the events after the last one delivered.
 */

const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted } }`;
const inUse = (payload: SeatUsagePayload) => payload.snapshot.pools.find((p) => p.product === 'ACD_AGENT')?.inUse;

async function nextWhere<T>(channel: Channel<T>, test: (value: T) => boolean): Promise<T> {
  for (;;) {
    const item = await channel.next();
    if (item.done) throw new Error('channel closed');
    if (test(item.value)) return item.value;
  }
}

/**
 * Moves the clock a second past the newest id this process made: ids never go back, and the other database's
 * gateway, with a clock of its own, made some. What was made before is older than what is watched from here on.
 */
function pastEveryId(gw: TestGateway): void {
  gw.clock.advance(idTimeMs(newId(gw.clock.now())) - gw.clock.now().getTime() + 1000);
}

for (const kind of DATABASES) {
  describe(`live hub reconciliation on ${kind}`, () => {
    let gw: TestGateway;
    let hub: LiveHub;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      hub = createLiveHub({
        database: gw.database,
        clock: gw.clock,
        catalogs: loadPresetCatalogs(),
        parsedKeys: new ParsedKeys(),
        coalesceMs: 20,
        reconcileMs: 100,
      });
      await hub.ready();
    });
    afterAll(async () => {
      await hub.stop();
      await gw.close();
    });

    it('[R-LIVE-1] a change committed without its notice (its process died in between) still reaches subscribers: the snapshot and the event', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [first, second] = await createUsers(gw, org, 2, { configurationGroupId: group });
      const seats = hub.subscribeSeatUsage(org.organizationId);
      const log = hub.subscribeEvents(org.organizationId);
      await gw.ok(START, { input: { userId: first } }, org.tokens.AGENT_CLIENT);
      await nextWhere(log, (e: EventRow) => e.type === 'SESSION_STARTED' && e.user_id === first);
      await nextWhere(seats, (p) => inUse(p) === 1);

      // What a start commits, written with no notice at all: the pool's counter and the event.
      const { db } = gw.database;
      const row = eventRow({
        organizationId: org.organizationId,
        type: 'SESSION_STARTED',
        at: gw.clock.now(),
        userId: second!,
        productCode: 'ACD_AGENT',
        actor: 'a process that died',
        apiTokenId: null,
      });
      await db.transaction().execute(async (trx) => {
        await sql`update seat_pools set in_use = in_use + 1 where organization_id = ${org.organizationId} and product_code = 'ACD_AGENT'`.execute(
          trx,
        );
        await trx.insertInto('events').values(row).execute();
      });

      expect(inUse(await nextWhere(seats, (p) => inUse(p) !== 1))).toBe(2);
      expect((await nextWhere(log, (e: EventRow) => e.id === row.id)).user_id).toBe(second);
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] an event that commits after a newer one was delivered, its notice lost, still reaches subscribers, and nothing comes twice', async () => {
      // Ids sort by creation, not by commit: a transaction that made its event's id first may commit last.
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [first, second] = await createUsers(gw, org, 2, { configurationGroupId: group });
      // The organization's earlier events were made before it was watched: no catch-up reads them.
      pastEveryId(gw);
      const log = hub.subscribeEvents(org.organizationId);
      gw.clock.advance(10);
      await gw.ok(START, { input: { userId: first } }, org.tokens.AGENT_CLIENT);
      const delivered = await nextWhere(log, (e: EventRow) => e.type === 'SESSION_STARTED' && e.user_id === first);

      // The slower transaction commits now, and its process dies before the notice.
      const late = eventRow(
        {
          organizationId: org.organizationId,
          type: 'SESSION_STARTED',
          at: new Date(delivered.at.getTime() - 1),
          userId: second!,
          productCode: 'ACD_AGENT',
          actor: 'a slow transaction',
          apiTokenId: null,
        },
        firstIdAt(idTimeMs(delivered.id) - 1),
      );
      await gw.database.db.insertInto('events').values(late).execute();

      // Many reconciliation rounds (100 ms apart) within the wait.
      const next = await Promise.race([log.next(), new Promise<null>((resolve) => setTimeout(() => resolve(null), 3000))]);
      expect(next?.value?.id).toBe(late.id);
      // Later rounds (100 ms apart) read the same events again: none is delivered a second time.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(log.backlog()).toBe(0);
      log.close();
    });

    it('[R-LIVE-1] an event written past the gateway with an id of any time does not blind the catch-up to later events', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the organization's own notices came and went
      pastEveryId(gw);
      const log = hub.subscribeEvents(org.organizationId);
      const event = (id: string | undefined, actor: string) =>
        eventRow({ organizationId: org.organizationId, type: 'STATE_CHANGED', at: gw.clock.now(), actor, apiTokenId: null }, id);
      const within = (ms: number) => new Promise<null>((resolve) => setTimeout(() => resolve(null), ms));
      // A random (version 4) id whose first bits read as a time centuries ahead, then an ordinary event: no notice for either.
      const odd = event('f1e2d3c4-b5a6-4978-8a6b-5c4d3e2f1a0b', 'a script');
      await gw.database.db.insertInto('events').values(odd).execute();
      expect((await Promise.race([log.next(), within(3000)]))?.value?.id).toBe(odd.id);
      const later = event(undefined, 'a process that died');
      await gw.database.db.insertInto('events').values(later).execute();
      expect((await Promise.race([log.next(), within(3000)]))?.value?.id).toBe(later.id);
      log.close();
    });

    it('[R-LIVE-1] an event subscriber who joins an organization watched for seat usage since earlier gets no older events', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const seats = hub.subscribeSeatUsage(org.organizationId);
      await createUsers(gw, org, 2);
      await new Promise((resolve) => setTimeout(resolve, 300)); // their notices came and went (no event subscriber)
      pastEveryId(gw);
      const log = hub.subscribeEvents(org.organizationId);
      // Many reconciliation rounds (100 ms apart): the users' events were made before this subscriber joined.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(log.backlog()).toBe(0);
      log.close();
      seats.close();
    });

    it('[R-LIVE-1] with nothing changed, a reconciliation sends nothing', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      const seats = hub.subscribeSeatUsage(org.organizationId);
      await seats.next(); // the first reconciliation's snapshot: nothing was sent before it
      // Several reconciliation rounds pass (100 ms apart); none may repeat the unchanged snapshot.
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(seats.backlog()).toBe(0);
      seats.close();
    });
  });
}
