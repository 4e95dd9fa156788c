import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { DatabaseHandle } from '../db/database.ts';
import type { EventRow } from '../db/schema.ts';
import { eventsAfter, eventsByIds, eventsInRange, LIVE_CHANNEL, type LiveNotice } from '../events/events.repository.ts';
import { seatUsage, type SeatUsageSnapshot } from '../sessions/usage.service.ts';
import { findOrganization } from '../tenancy/tenancy.repository.ts';
import { Channel } from './channel.ts';

/**
 * Live utilization for this process (R-LIVE-1). Changes arrive as NOTIFY from
 * the transaction that made them, on every gateway process attached to the
 * database (PGlite: in-process), so a subscriber sees changes made anywhere.
 *
 * Seat usage is coalesced per organization: a burst of changes (a login
 * storm) is computed once per `coalesceMs` and every subscriber gets that one
 * snapshot; a subscriber that falls behind keeps only the newest. The last
 * snapshot is always computed after the last change, so the final state is
 * exact. Events are delivered one by one, none skipped.
 *
 * @example
 * const sub = hub.subscribeSeatUsage(orgId);
 * for await (const snapshot of sub) render(snapshot);
 */
export interface LiveHub {
  /** Starts listening (once; every subscription awaits it before its first value). */
  ready(): Promise<void>;
  stop(): Promise<void>;
  /** Registers at once (nothing after this call is missed); yields snapshots after changes. */
  subscribeSeatUsage(organizationId: string): Channel<SeatUsageSnapshot>;
  subscribeEvents(organizationId: string): Channel<EventRow>;
  subscribers(): number;
}

export interface LiveHubDeps {
  database: DatabaseHandle;
  clock: Clock;
  catalogs: ReadonlyMap<string, Catalog>;
  coalesceMs?: number;
  /** Called when the number of subscribers changes (metrics). */
  onSubscribers?: (count: number) => void;
}

interface OrgState {
  seat: Set<Channel<SeatUsageSnapshot>>;
  events: Set<Channel<EventRow>>;
  /** Newest event delivered, to catch up after a lost LISTEN connection. */
  lastEventId: string | null;
  /** Ids delivered lately: a catch-up read may overlap notifications. */
  recent: Set<string>;
  timer: NodeJS.Timeout | null;
  computing: boolean;
  dirty: boolean;
}

/** A slow event subscriber is dropped rather than let memory grow without bound. */
const MAX_EVENT_BACKLOG = 10_000;

export function createLiveHub(deps: LiveHubDeps): LiveHub {
  const { db } = deps.database;
  const coalesceMs = deps.coalesceMs ?? 100;
  const orgs = new Map<string, OrgState>();
  let unlisten: (() => Promise<void>) | null = null;
  let listening: Promise<void> | null = null;
  let count = 0;

  const stateOf = (id: string): OrgState => {
    let s = orgs.get(id);
    if (!s) {
      s = { seat: new Set(), events: new Set(), lastEventId: null, recent: new Set(), timer: null, computing: false, dirty: false };
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
      if (s.timer) clearTimeout(s.timer);
      orgs.delete(id);
    }
  };

  async function computeSnapshot(organizationId: string): Promise<SeatUsageSnapshot | null> {
    const org = await findOrganization(db, organizationId);
    const catalog = org ? deps.catalogs.get(org.catalog_code) : undefined;
    if (!org || !catalog) return null;
    return seatUsage(db, org, catalog, deps.clock.now());
  }

  /** Trailing-edge coalescing: one computation per burst, and always one after the last change. */
  function scheduleSnapshot(id: string): void {
    const s = orgs.get(id);
    if (!s || s.seat.size === 0) return;
    s.dirty = true;
    if (s.timer || s.computing) return;
    s.timer = setTimeout(() => void flush(id), coalesceMs);
  }

  async function flush(id: string): Promise<void> {
    const s = orgs.get(id);
    if (!s) return;
    s.timer = null;
    s.dirty = false;
    s.computing = true;
    try {
      const snapshot = await computeSnapshot(id);
      if (snapshot) for (const channel of s.seat) channel.push(snapshot);
    } catch {
      s.dirty = true; // try again with the next change or tick
    } finally {
      s.computing = false;
      if (s.dirty && s.seat.size > 0 && !s.timer) s.timer = setTimeout(() => void flush(id), coalesceMs);
    }
  }

  function deliver(s: OrgState, rows: readonly EventRow[]): void {
    for (const row of rows) {
      if (s.recent.has(row.id)) continue;
      s.recent.add(row.id);
      if (s.recent.size > 2 * MAX_EVENT_BACKLOG) s.recent = new Set([...s.recent].slice(-MAX_EVENT_BACKLOG));
      for (const channel of s.events) {
        if (channel.backlog() >= MAX_EVENT_BACKLOG) channel.fail(new Error('event subscriber too slow; resubscribe'));
        else channel.push(row);
      }
      if (s.lastEventId === null || row.id > s.lastEventId) s.lastEventId = row.id;
    }
  }

  async function onNotice(payload: string): Promise<void> {
    let notice: LiveNotice;
    try {
      notice = JSON.parse(payload) as LiveNotice;
    } catch {
      return;
    }
    const s = orgs.get(notice.o);
    if (!s) return;
    scheduleSnapshot(notice.o);
    if (s.events.size === 0) return;
    const rows = notice.ids ? await eventsByIds(db, notice.o, notice.ids) : notice.from && notice.to ? await eventsInRange(db, notice.o, notice.from, notice.to) : [];
    deliver(s, rows);
  }

  /** After the LISTEN connection came back: deliver what was missed, refresh every snapshot. */
  async function catchUp(): Promise<void> {
    for (const [id, s] of orgs) {
      scheduleSnapshot(id);
      if (s.events.size > 0 && s.lastEventId !== null) deliver(s, await eventsAfter(db, id, s.lastEventId, MAX_EVENT_BACKLOG));
    }
  }

  return {
    ready() {
      listening ??= deps.database
        .listen(LIVE_CHANNEL, (payload) => void onNotice(payload).catch(() => undefined), () => void catchUp().catch(() => undefined))
        .then((stop) => {
          unlisten = stop;
        })
        .catch((error: unknown) => {
          listening = null; // the next subscriber tries again
          throw error;
        });
      return listening;
    },
    async stop() {
      for (const s of orgs.values()) {
        if (s.timer) clearTimeout(s.timer);
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
      const channel = new Channel<SeatUsageSnapshot>({
        latestOnly: true,
        onClose: () => {
          s.seat.delete(channel);
          changed(-1);
          forget(organizationId, s);
        },
      });
      s.seat.add(channel);
      changed(1);
      return channel;
    },
    subscribeEvents(organizationId) {
      const s = stateOf(organizationId);
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
  };
}
