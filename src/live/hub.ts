import type { ParsedKeys } from '../allocation/keys.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { LicenseEvent as EventRow } from '../events/event.ts';
import { eventIdsAfter, eventsByIds, eventsInRange, LIVE_CHANNEL, parseNotice } from '../events/events.repository.ts';
import { firstIdAt, idTimeMs } from '../ids.ts';
import { seatUsage, type SeatUsageSnapshot } from '../sessions/seat-usage.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';
import { Channel } from './channel.ts';
import { shareable } from './shared-execution.ts';

/** What a seatUsage subscription yields: the organization's catalog (for product fields) and its pools. */
export interface SeatUsagePayload {
  catalog: Catalog;
  snapshot: SeatUsageSnapshot;
}

/** Monotonic time and timers of the coalescing; tests pass their own to move time by hand. */
export interface HubTimers {
  now(): number;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: HubTimers = {
  now: () => performance.now(),
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Live utilization for this process (R-LIVE-1). Changes arrive as NOTIFY from
 * the transaction that made them, on every gateway process attached to the
 * database (PGlite: in-process), so a subscriber sees changes made anywhere.
 *
 * Seat usage is coalesced per organization, leading edge first: the first
 * change after a quiet period is read and sent at once; changes that arrive
 * while that read and send are under way, or within `coalesceMs` of its
 * start, are folded into one trailing snapshot, read after the window (a
 * read that sent nothing opens no window: its start does not count). So a
 * single change goes out without waiting, a storm costs each subscriber at
 * most one message per `coalesceMs`, and the last snapshot is always read
 * after the last change (the final state is exact). One snapshot object is
 * pushed to every subscriber of the organization (they share its execution,
 * see shared-execution.ts), FANOUT_BATCH subscribers per turn of the event
 * loop so that other requests are served in between; a subscriber that falls
 * behind keeps only the newest. A read whose pools are those of the last one
 * sent goes only to subscribers who joined since (each of the others has
 * them), so a late notice, or a write that left the pools as they were, sends
 * nothing. Events are delivered one by one, none skipped.
 *
 * @example
 * const sub = hub.subscribeSeatUsage(orgId);
 * for await (const { snapshot } of sub) render(snapshot);
 */
export interface LiveHub {
  /** Starts listening (once; every subscription awaits it before its first value). */
  ready(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Registers at once (nothing after this call is missed); yields the snapshots of reads that begin after this
   * call, after changes. The subscriber reads its own first snapshot right after it.
   */
  subscribeSeatUsage(organizationId: string): Channel<SeatUsagePayload>;
  subscribeEvents(organizationId: string): Channel<EventRow>;
  subscribers(): number;
  /**
   * Whether a seat usage snapshot of the organization is being read or sent,
   * or waits for its window: a read may end without sending anything (the
   * pools as last sent), so only this tells that none is left.
   */
  snapshotPending(organizationId: string): boolean;
}

export interface LiveHubDeps {
  database: DatabaseHandle;
  clock: Clock;
  catalogs: ReadonlyMap<string, Catalog>;
  /** Minimum time between two snapshots of one organization (default 100 ms). */
  coalesceMs?: number;
  timers?: HubTimers;
  /**
   * How often every watched organization is read for changes no notice
   * announced (default 30 s; 0: never): a process that died between a
   * commit and its notice (db/announcer.ts), or a write made past the
   * gateway. Subscribers get a snapshot only when it differs from the last
   * one sent (as after any read), and the events they missed.
   */
  reconcileMs?: number;
  /** Called when the number of subscribers changes (metrics). */
  onSubscribers?: (count: number) => void;
  /** The app's parsed-key cache: a snapshot does not parse the organization's keys again. */
  parsedKeys: ParsedKeys;
}

interface OrgState {
  seat: Set<Channel<SeatUsagePayload>>;
  events: Set<Channel<EventRow>>;
  /** When its first event subscriber (of now) joined (ms of the hub's clock): no catch-up reads before it. */
  watchedSinceMs: number;
  /** The time of the newest event delivered (ms, from its id); -Infinity before the first. */
  newestEventMs: number;
  /** Ids delivered within CATCH_UP_MARGIN_MS of the newest (and a few older): a catch-up reads them again. */
  recent: Set<string>;
  /** The size of `recent` after its last pruning. */
  recentPruned: number;
  /** The trailing snapshot's timer. */
  timer: unknown;
  /** A snapshot is being read or sent. */
  computing: boolean;
  /** A change arrived that no snapshot read so far may have seen. */
  dirty: boolean;
  /** When the last snapshot read started (timers.now()); -Infinity before the first. */
  lastStart: number;
  /** The pools of the last snapshot sent (JSON), and the number of its read (see `reads`); 0 before the first. */
  lastSent: string | null;
  lastSentRead: number;
  /** The number (see `reads`) of the newest seatUsage subscriber. */
  newestJoin: number;
}

/** A slow event subscriber is dropped rather than let memory grow without bound. */
const MAX_EVENT_BACKLOG = 10_000;

/**
 * How far before the newest event delivered a catch-up looks for events
 * whose notice never came. Ids sort by when they were made (the clock of
 * record), not by commit: a transaction may commit after a newer event was
 * delivered, at most its statement timeouts later (15 s each by default).
 * An event committed later than this after its id was made, whose notice was
 * also lost, is only in Organization.events.
 */
export const CATCH_UP_MARGIN_MS = 60_000;

/** Ids of delivered events kept per organization at most (beyond: a catch-up may deliver an event twice, same id). */
const MAX_RECENT = 50_000;

/** Ids a catch-up compares per read, and events it reads per statement. */
const CATCH_UP_PAGE = 10_000;
const CATCH_UP_CHUNK = 1_000;

/**
 * Subscribers handed a snapshot in one turn of the event loop. Each push
 * runs its subscriber's delivery (shared result, frame, socket write) in the
 * microtasks that follow; between batches the loop serves I/O, so another
 * tenant's request waits for one batch, not for a fan-out to thousands.
 */
export const FANOUT_BATCH = 256;

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export function createLiveHub(deps: LiveHubDeps): LiveHub {
  const { db } = deps.database;
  const coalesceMs = deps.coalesceMs ?? 100;
  const timers = deps.timers ?? realTimers;
  const orgs = new Map<string, OrgState>();
  let unlisten: (() => Promise<void>) | null = null;
  let listening: Promise<void> | null = null;
  let count = 0;

  /** The catch-up state of an organization whose events are watched from now on (see subscribeEvents). */
  const eventsWatchedFromNow = (): Pick<OrgState, 'watchedSinceMs' | 'newestEventMs' | 'recent' | 'recentPruned'> => ({
    watchedSinceMs: deps.clock.now().getTime(),
    newestEventMs: -Infinity,
    recent: new Set(),
    recentPruned: 0,
  });

  const stateOf = (id: string): OrgState => {
    let s = orgs.get(id);
    if (!s) {
      s = {
        seat: new Set(),
        events: new Set(),
        ...eventsWatchedFromNow(),
        timer: null,
        computing: false,
        dirty: false,
        lastStart: -Infinity,
        lastSent: null,
        lastSentRead: 0,
        newestJoin: 0,
      };
      orgs.set(id, s);
    }
    return s;
  };
  const changed = (delta: number) => {
    count += delta;
    deps.onSubscribers?.(count);
  };
  const forget = (id: string, s: OrgState) => {
    if (s.seat.size === 0 && s.events.size === 0) {
      if (s.timer !== null) timers.clearTimeout(s.timer);
      orgs.delete(id);
    }
  };

  /**
   * Snapshot reads and seatUsage subscribers, numbered in one sequence as they
   * begin and join. A subscriber reads its own first snapshot right after it
   * joins (live.schema.ts), so a read that began before it joined is not sent
   * to it: that read shows the same or an older state than its first one. A
   * change the first read missed committed after the subscriber joined, so
   * its notice comes after that and starts a read numbered after it.
   */
  let reads = 0;
  const joinedAt = new WeakMap<Channel<SeatUsagePayload>, number>();

  async function computeSnapshot(organizationId: string): Promise<SeatUsagePayload | null> {
    const org = await findOrganization(db, organizationId);
    const catalog = org ? deps.catalogs.get(org.catalog_code) : undefined;
    if (!org || !catalog) return null;
    return shareable({ catalog, snapshot: await seatUsage(db, org, catalog, deps.clock.now(), deps.parsedKeys) });
  }

  /**
   * A change of the organization: read and send at once when the last read
   * started at least `coalesceMs` ago and none is under way (leading edge);
   * otherwise one read when the window ends (trailing edge), however many
   * changes arrive until then.
   */
  function scheduleSnapshot(id: string): void {
    const s = orgs.get(id);
    if (!s || s.seat.size === 0) return;
    s.dirty = true;
    if (s.timer !== null || s.computing) return; // the timer, or the end of the read under way, picks it up
    const wait = s.lastStart + coalesceMs - timers.now();
    if (wait <= 0) void flush(id);
    else s.timer = timers.setTimeout(() => void flush(id), wait);
  }

  async function flush(id: string): Promise<void> {
    const s = orgs.get(id);
    if (!s) return;
    s.timer = null;
    s.dirty = false; // changes from here on may be missed by this read: they set it again
    s.computing = true;
    // The window runs from the start of the last read that sent something: one that sends nothing holds back no change.
    const windowStart = s.lastStart;
    s.lastStart = timers.now();
    try {
      const read = ++reads;
      const payload = await computeSnapshot(id);
      const pools = payload ? JSON.stringify(payload.snapshot.pools) : null;
      // Pools as last sent (a late notice, a write that left them so, a reconciliation that found nothing): only
      // for subscribers who joined after that read began, which were not sent it. Each has read its own first.
      const since = pools === s.lastSent ? s.lastSentRead : 0;
      if (payload) {
        s.lastSent = pools; // from here on, every subscriber who joined before this read has these pools
        s.lastSentRead = read;
      }
      // The subscribers of this moment (one who joins during the fan-out reads its own first snapshot), a batch
      // per turn. No await after the last batch: its pushes and the scheduling below happen in one turn.
      // Nobody joined since (the usual case of a repeat): no subscriber to walk.
      const channels = payload && s.newestJoin > since ? [...s.seat] : [];
      let sent = false;
      for (let i = 0; payload && i < channels.length; i += FANOUT_BATCH) {
        if (i > 0) await nextTurn();
        for (const channel of channels.slice(i, i + FANOUT_BATCH)) {
          const joined = joinedAt.get(channel) ?? 0;
          if (read > joined && joined > since) {
            channel.push(payload);
            sent = true;
          }
        }
      }
      if (!sent) s.lastStart = windowStart;
    } catch {
      s.dirty = true; // try again after the window
    } finally {
      s.computing = false;
      // A change during the read: at once if the window is over, else when it ends (as any change).
      if (s.dirty && orgs.get(id) === s) scheduleSnapshot(id);
    }
  }

  function deliver(s: OrgState, rows: readonly EventRow[]): void {
    // An id not made by newId (a write past the gateway) may carry any time: one ahead of the clock is not the newest.
    const latestPlausibleMs = deps.clock.now().getTime() + CATCH_UP_MARGIN_MS;
    for (const row of rows) {
      if (s.recent.has(row.id)) continue;
      s.recent.add(row.id);
      for (const channel of s.events) {
        if (channel.backlog() >= MAX_EVENT_BACKLOG) channel.fail(new Error('event subscriber too slow; resubscribe'));
        else channel.push(row);
      }
      const ms = idTimeMs(row.id);
      if (ms > s.newestEventMs && ms <= latestPlausibleMs) s.newestEventMs = ms;
    }
    if (s.recent.size >= 2 * Math.max(s.recentPruned, 1000)) pruneRecent(s);
  }

  /** Forgets the ids a catch-up no longer reads (older than its margin, with 5 s to spare), then the oldest beyond MAX_RECENT. */
  function pruneRecent(s: OrgState): void {
    const keepFrom = s.newestEventMs - CATCH_UP_MARGIN_MS - 5_000;
    for (const id of s.recent) if (!(idTimeMs(id) >= keepFrom)) s.recent.delete(id);
    if (s.recent.size > MAX_RECENT) s.recent = new Set([...s.recent].slice(-MAX_RECENT));
    s.recentPruned = s.recent.size;
  }

  /**
   * Delivers the events of the organization that no notice brought: every
   * event made since CATCH_UP_MARGIN_MS before the newest one delivered (not
   * before the organization was watched) whose id was not delivered. The ids
   * are compared first (the primary key alone); only the missing events are read.
   */
  async function catchUpEvents(id: string, s: OrgState): Promise<void> {
    let after = firstIdAt(Math.max(s.watchedSinceMs, s.newestEventMs - CATCH_UP_MARGIN_MS));
    for (;;) {
      const ids = await eventIdsAfter(db, id, after, CATCH_UP_PAGE);
      const missing = ids.filter((eventId) => !s.recent.has(eventId));
      for (let i = 0; i < missing.length; i += CATCH_UP_CHUNK) deliver(s, await eventsByIds(db, id, missing.slice(i, i + CATCH_UP_CHUNK)));
      if (ids.length < CATCH_UP_PAGE) return;
      after = ids[ids.length - 1]!;
    }
  }

  async function onNotice(payload: string): Promise<void> {
    // Not one the announcer wrote (any database user can NOTIFY): nothing of it reaches a read.
    const notice = parseNotice(payload);
    if (notice === null) return;
    const s = orgs.get(notice.o);
    if (!s) return;
    scheduleSnapshot(notice.o);
    if (s.events.size === 0) return;
    const rows = notice.ids
      ? await eventsByIds(db, notice.o, notice.ids)
      : notice.from && notice.to
        ? await eventsInRange(db, notice.o, notice.from, notice.to)
        : [];
    deliver(s, rows);
  }

  /**
   * Reads every watched organization as if a notice had come, for changes
   * none announced: a snapshot read (sent only if its pools changed) unless
   * one is due anyway, and the events not delivered (catchUpEvents).
   */
  async function reconcile(): Promise<void> {
    for (const [id, s] of orgs) {
      if (s.seat.size > 0 && s.timer === null && !s.computing) void flush(id);
      if (s.events.size > 0) await catchUpEvents(id, s);
    }
  }

  /** After the LISTEN connection came back: deliver what was missed, refresh every snapshot. */
  async function catchUp(): Promise<void> {
    for (const [id, s] of orgs) {
      scheduleSnapshot(id);
      if (s.events.size > 0) await catchUpEvents(id, s);
    }
  }

  /**
   * Catches up, and tries again (100 ms apart, doubling up to 2 s) while the
   * database does not answer: right after a restart the LISTEN connection may
   * be back before reads succeed, and a notice whose events could not be read
   * must not be lost. Delivery skips what was delivered already.
   */
  let catchUpTimer: NodeJS.Timeout | null = null;
  const reconcileMs = deps.reconcileMs ?? 30_000;
  let reconcileTimer: NodeJS.Timeout | null = null;
  let catchUpAttempt = 0;
  let stopped = false;
  function catchUpUntilDone(): void {
    if (catchUpTimer || stopped) return;
    void catchUp().then(
      () => {
        catchUpAttempt = 0;
      },
      () => {
        if (stopped) return;
        catchUpTimer = setTimeout(
          () => {
            catchUpTimer = null;
            catchUpUntilDone();
          },
          Math.min(2000, 100 * 2 ** Math.min(catchUpAttempt++, 10)),
        );
        catchUpTimer.unref();
      },
    );
  }

  return {
    ready() {
      listening ??= deps.database
        .listen(LIVE_CHANNEL, (payload) => void onNotice(payload).catch(catchUpUntilDone), catchUpUntilDone)
        .then((stop) => {
          unlisten = stop;
          if (reconcileMs > 0 && !reconcileTimer && !stopped) {
            // A read that fails (the database is away) is the next round's to do again.
            reconcileTimer = setInterval(() => void reconcile().catch(() => undefined), reconcileMs);
            reconcileTimer.unref();
          }
        })
        .catch((error: unknown) => {
          listening = null; // the next subscriber tries again
          throw error;
        });
      return listening;
    },
    async stop() {
      stopped = true;
      if (catchUpTimer) clearTimeout(catchUpTimer);
      if (reconcileTimer) clearInterval(reconcileTimer);
      for (const s of orgs.values()) {
        if (s.timer !== null) timers.clearTimeout(s.timer);
        for (const c of s.seat) c.close();
        for (const c of s.events) c.close();
      }
      orgs.clear();
      await listening?.catch(() => undefined);
      await unlisten?.();
      unlisten = null;
      listening = null;
    },
    subscribeSeatUsage(organizationId) {
      const s = stateOf(organizationId);
      const channel = new Channel<SeatUsagePayload>({
        latestOnly: true,
        onClose: () => {
          s.seat.delete(channel);
          changed(-1);
          forget(organizationId, s);
        },
      });
      s.seat.add(channel);
      s.newestJoin = ++reads;
      joinedAt.set(channel, s.newestJoin);
      changed(1);
      return channel;
    },
    subscribeEvents(organizationId) {
      const s = stateOf(organizationId);
      // Watched for events from now on (the state may be older: seat usage subscribers, or earlier event ones).
      if (s.events.size === 0) Object.assign(s, eventsWatchedFromNow());
      const channel = new Channel<EventRow>({
        latestOnly: false,
        onClose: () => {
          s.events.delete(channel);
          changed(-1);
          forget(organizationId, s);
        },
      });
      s.events.add(channel);
      changed(1);
      return channel;
    },
    subscribers: () => count,
    snapshotPending(organizationId) {
      const s = orgs.get(organizationId);
      return s !== undefined && (s.computing || s.timer !== null);
    },
  };
}
