import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParsedKeys } from '../../src/allocation/keys.ts';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { LIVE_CHANNEL, noticePayload } from '../../src/db/announcer.ts';
import type { LicenseEvent as EventRow } from '../../src/events/event.ts';
import type { Channel } from '../../src/live/channel.ts';
import { createLiveHub, FANOUT_BATCH, type HubTimers, type LiveHub, type SeatUsagePayload } from '../../src/live/hub.ts';
import { DATABASES } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';

const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted } }`;

/** Timers that only move when the test says so: the coalescing is asserted by order and count, never by elapsed time. */
class ManualTimers implements HubTimers {
  #now = 0;
  #next = 1;
  readonly #due = new Map<number, { at: number; run: () => void }>();
  now = () => this.#now;
  setTimeout = (run: () => void, ms: number) => {
    const handle = this.#next++;
    this.#due.set(handle, { at: this.#now + ms, run });
    return handle;
  };
  clearTimeout = (handle: unknown) => {
    this.#due.delete(handle as number);
  };
  pending(): number {
    return this.#due.size;
  }
  /** Moves time on and runs what fell due. */
  advance(ms: number): void {
    this.#now += ms;
    for (const [handle, timer] of [...this.#due].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.#now) continue;
      this.#due.delete(handle);
      timer.run();
    }
  }
}

const inUse = (payload: SeatUsagePayload) => payload.snapshot.pools.find((p) => p.product === 'ACD_AGENT')?.inUse;

/**
 * Waits for the SESSION_STARTED events of these users: once they arrived, the
 * hub has handled the notices of their changes (it schedules the snapshot
 * before it reads the events).
 */
async function started(channel: Channel<EventRow>, userIds: readonly string[]): Promise<void> {
  const waiting = new Set(userIds);
  while (waiting.size > 0) {
    const item = await channel.next();
    if (item.done) throw new Error('event channel closed');
    if (item.value.type === 'SESSION_STARTED' && item.value.user_id) waiting.delete(item.value.user_id);
  }
}

for (const kind of DATABASES) {
  describe(`live hub coalescing on ${kind}`, () => {
    let gw: TestGateway;
    let hub: LiveHub;
    let timers: ManualTimers;

    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      timers = new ManualTimers();
      hub = createLiveHub({
        database: gw.database,
        clock: gw.clock,
        catalogs: loadPresetCatalogs(),
        parsedKeys: new ParsedKeys(),
        coalesceMs: 100,
        timers,
        // The coalescing is asserted by count: no reconciliation read in between (live-reconcile.test.ts has those).
        reconcileMs: 0,
      });
      await hub.ready();
    });
    afterAll(async () => {
      await hub.stop();
      await gw.close();
    });

    /**
     * An organization with `users` agents, subscribed, and quiet: the setup's
     * own notices (NOTIFY arrives asynchronously on PostgreSQL) are handled,
     * no snapshot is being read or waiting, and the window has passed. The
     * first user ("the barrier") holds a session from here on, so the other
     * users' changes count from 1.
     */
    async function quietOrg(users: number) {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: users + 1 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [barrier, ...ids] = await createUsers(gw, org, users + 1, { configurationGroupId: group });
      const seats = hub.subscribeSeatUsage(org.organizationId);
      const log = hub.subscribeEvents(org.organizationId);
      await start(org.tokens.AGENT_CLIENT, barrier!);
      // Notices arrive in commit order: once the barrier's event is here, every earlier notice was handled.
      await started(log, [barrier!]);
      // Until the last snapshot sent shows the barrier and no read is left. A read may end without a message (it
      // found the pools as last sent: a read begun after the barrier's commit sent 1, then its notice came), so
      // the loop looks at the hub rather than wait for a message. It takes only what is queued: a next() left
      // waiting would take, and lose, a message meant for the test.
      let seen: number | undefined;
      for (;;) {
        if (timers.pending() > 0) timers.advance(1000);
        if (seats.backlog() > 0) seen = inUse((await seats.next()).value as SeatUsagePayload);
        else if (seen === 1 && !hub.snapshotPending(org.organizationId)) break;
        else await new Promise((resolve) => setTimeout(resolve, 10));
      }
      timers.advance(1000);
      return { org, ids, seats, log, token: org.tokens.AGENT_CLIENT };
    }
    const start = (token: string, userId: string) => gw.ok(START, { input: { userId } }, token);
    /**
     * The seats in use of the next snapshot that shows `expected`; earlier
     * ones may only repeat an older state (a late notice of the setup can
     * still cause one read), never a later one.
     */
    const next = async (channel: Channel<SeatUsagePayload>, expected: number) => {
      for (;;) {
        const value = inUse((await channel.next()).value as SeatUsagePayload) ?? 0;
        if (value >= expected) return value;
      }
    };

    it('[R-LIVE-1] a single change goes out at once (leading edge), without waiting for the window', async () => {
      const { ids, seats, log, token } = await quietOrg(1);
      await start(token, ids[0]!);
      // Time does not move here: a snapshot held back for the window would never come.
      expect(await next(seats, 2)).toBe(2);
      await started(log, ids);
      expect(timers.pending()).toBe(0);
      expect(seats.backlog()).toBe(0);
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] a read that sends nothing (a change that left the pools as they were) does not hold back the next change', async () => {
      const { org, ids, seats, log, token } = await quietOrg(1);
      // A new user changes no pool: its notice causes a read that finds the pools as last sent and sends nothing.
      const [newcomer] = await createUsers(gw, org, 1);
      for (;;) {
        const item = await log.next();
        if (item.done) throw new Error('event channel closed');
        if (item.value.type === 'USER_CREATED' && item.value.user_id === newcomer) break;
      }
      // Time does not move: the start right after is still the first message of the window, so it goes at once.
      await start(token, ids[0]!);
      await started(log, ids);
      expect(timers.pending()).toBe(0);
      expect(await next(seats, 2)).toBe(2);
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] a burst: one message at once, the rest folded into one trailing message with the exact final state', async () => {
      const { ids, seats, log, token } = await quietOrg(12);
      await start(token, ids[0]!);
      expect(await next(seats, 2)).toBe(2);
      await started(log, ids.slice(0, 1));

      // Eleven more changes within the window (time stands still): nothing is sent, one trailing read waits.
      await Promise.all(ids.slice(1).map((id) => start(token, id)));
      await started(log, ids.slice(1));
      expect(seats.backlog()).toBe(0);
      expect(timers.pending()).toBe(1);

      timers.advance(100);
      expect(await next(seats, 13)).toBe(13);
      expect(timers.pending()).toBe(0);
      expect(seats.backlog()).toBe(0); // 12 changes, 2 messages
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] a change inside the window waits for its end; after a quiet period the next one goes out at once again', async () => {
      const { ids, seats, log, token } = await quietOrg(3);
      await start(token, ids[0]!);
      expect(await next(seats, 2)).toBe(2);
      await started(log, ids.slice(0, 1));

      timers.advance(40); // inside the window: held back
      await start(token, ids[1]!);
      await started(log, ids.slice(1, 2));
      expect(seats.backlog()).toBe(0);
      expect(timers.pending()).toBe(1);
      timers.advance(59); // 99 ms after the leading read: still held back
      expect(seats.backlog()).toBe(0);
      expect(timers.pending()).toBe(1);
      timers.advance(1); // the window ends: one trailing read
      expect(await next(seats, 3)).toBe(3);

      timers.advance(500); // quiet
      await start(token, ids[2]!);
      expect(await next(seats, 4)).toBe(4);
      await started(log, ids.slice(2));
      expect(timers.pending()).toBe(0);
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] a subscriber who joins while a snapshot is being read is not sent that older read after its own first one', async () => {
      const { org, ids, seats, log, token } = await quietOrg(3);
      await start(token, ids[0]!);
      expect(await next(seats, 2)).toBe(2);
      await started(log, ids.slice(0, 1));
      // A change inside the window: its trailing read waits for the timer.
      await start(token, ids[1]!);
      await started(log, ids.slice(1, 2));
      expect(timers.pending()).toBe(1);

      // The window ends and the hub's read begins; before it is done a subscriber joins. The seatUsage resolver
      // reads that subscriber's own first snapshot right after joining: at least as new as the hub's read.
      timers.advance(100);
      const late = hub.subscribeSeatUsage(org.organizationId);
      expect(await next(seats, 3)).toBe(3);
      // The hub's read went out to the earlier subscriber in one batch. Had it gone to `late`, it would wait in
      // its queue now and reach it after its first snapshot: the same or an older state, sent as news.
      expect(late.backlog()).toBe(0);

      // What the hub reads after the subscriber joined reaches it.
      timers.advance(500);
      await start(token, ids[2]!);
      expect(await next(late, 4)).toBe(4);
      expect(await next(seats, 4)).toBe(4);
      late.close();
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] a read that finds the pools as last sent is not sent again (a late notice); a subscriber who joined since still gets it', async () => {
      const { org, ids, seats, log, token } = await quietOrg(1);
      // Joins after the last snapshot sent was read, so it was not sent that one (its resolver reads its own first).
      const observer = hub.subscribeSeatUsage(org.organizationId);
      // A notice for a change every read since has shown: one more for the barrier's start, as a notice that
      // arrives after the read it caused, or a write that leaves the pools as they were, would send.
      const barrier = await gw.database.db
        .selectFrom('events')
        .select('id')
        .where('organization_id', '=', org.organizationId)
        .where('type', '=', 'SESSION_STARTED')
        .executeTakeFirstOrThrow();
      await gw.database.db.announcer.send(LIVE_CHANNEL, [noticePayload(org.organizationId, [barrier.id])]);
      // Its read: to the observer, which has no snapshot of the hub yet; not to `seats`, which has this one.
      expect(inUse((await observer.next()).value as SeatUsagePayload)).toBe(1);
      expect(seats.backlog()).toBe(0);

      // A change reaches both.
      timers.advance(1000);
      await start(token, ids[0]!);
      expect(await next(seats, 2)).toBe(2);
      expect(await next(observer, 2)).toBe(2);
      observer.close();
      seats.close();
      log.close();
    });

    it('[R-LIVE-1] every subscriber of an organization gets the same snapshot object (executed once for all)', async () => {
      const before = hub.subscribers();
      const { org, ids, seats, log, token } = await quietOrg(1);
      const other = hub.subscribeSeatUsage(org.organizationId);
      await start(token, ids[0]!);
      const [a, b] = await Promise.all([seats.next(), other.next()]);
      expect(a.value).toBe(b.value);
      seats.close();
      other.close();
      log.close();
      expect(hub.subscribers()).toBe(before);
    });

    it('[R-PERF-3] a fan-out beyond one batch yields to the event loop between batches; every subscriber gets the one snapshot', async () => {
      const { org, ids, seats, log, token } = await quietOrg(1);
      // Not iterated: a pushed value waits in each one's queue (backlog 1).
      const others = Array.from({ length: 2 * FANOUT_BATCH + 1 }, () => hub.subscribeSeatUsage(org.organizationId));
      await start(token, ids[0]!);
      const first = (await seats.next()).value as SeatUsagePayload;
      expect(inUse(first)).toBe(2);
      // The first batch is out; the last subscriber's turn has not come yet: I/O may run in between.
      expect(others.at(-1)!.backlog()).toBe(0);
      while (others.at(-1)!.backlog() === 0) await new Promise((resolve) => setImmediate(resolve));
      for (const channel of others) {
        expect(channel.backlog()).toBe(1);
        expect((await channel.next()).value).toBe(first);
      }
      for (const channel of others) channel.close();
      seats.close();
      log.close();
    });
  });
}
