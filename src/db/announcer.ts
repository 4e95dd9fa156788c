/*
 * Live notices after the commit, coalesced (R-LIVE-1).
 *
 * PostgreSQL serializes the commits of every transaction that issued a
 * NOTIFY, database-wide: at commit it takes one exclusive lock for the whole
 * notification queue and holds it until the commit is done. A NOTIFY inside
 * each seat start therefore made every start of every organization wait for
 * the others' commits, so a storm over 100 pools ran no faster than over one
 * (measured with pgbench on the start's own statement: NOTIFY in it halved
 * the throughput on 100 pools and changed nothing on one).
 *
 * So the hot writes (a start, an end, any `withTransaction`) hand their new
 * event ids to the database's `Announcer` once they have committed, and it
 * sends them as `pg_notify` calls of its own: one statement at a time,
 * carrying everything that arrived while the previous one was under way. A
 * storm of N starts costs a few dozen NOTIFY commits instead of N, and the
 * commits of the writes themselves no longer wait for one another.
 *
 * Guarantees: a notice is only ever sent for a committed change (it is
 * handed over after the commit). A notice that cannot be sent (the database
 * is down) is kept and sent again, 100 ms apart doubling up to 2 s, up to
 * `MAX_PENDING` organizations (more are dropped, counted in `dropped`: the
 * listeners catch up when they reconnect, see live/hub.ts). What it gives
 * up: a process that dies in the instant between a commit and its notice
 * (one round trip) leaves the other instances' live views one change behind
 * until their hubs' next reconciliation (live/hub.ts, every 30 s); the
 * change itself is committed, in the event log and in every read.
 */
import { isId } from '../ids.ts';

/** The NOTIFY channel of live updates; every gateway process LISTENs on it. */
export const LIVE_CHANNEL = 'gateway_live';

/** What a notification carries: the organization and its new events (ids, or an id range for large batches). */
export interface LiveNotice {
  o: string;
  ids?: string[];
  from?: string;
  to?: string;
}

/** At most this many ids by name in one notice; more are sent as their range. */
const IDS_PER_NOTICE = 100;
/** Notices per statement: far below NOTIFY's queue page and the protocol's parameter limit. */
const NOTICES_PER_STATEMENT = 200;
/** Organizations waiting to be announced before new ones are dropped (the database is down). */
export const MAX_PENDING = 10_000;

/**
 * The payloads for new events of one organization: ids of one process are
 * increasing (one clock, see ids.ts), so beyond 100 a range names them all.
 * Payloads stay far below NOTIFY's 8000 bytes.
 */
export function noticePayload(organizationId: string, ids: readonly string[]): string {
  const sorted = [...ids].sort();
  const notice: LiveNotice =
    sorted.length <= IDS_PER_NOTICE ? { o: organizationId, ids: sorted } : { o: organizationId, from: sorted[0], to: sorted.at(-1) };
  return JSON.stringify(notice);
}

/**
 * The notice a payload on LIVE_CHANNEL holds, or null when it is not one
 * noticePayload writes: any database user can NOTIFY on the channel, and the
 * ids go into the hub's reads. Ids are ids (1 to 100 of them), or a range of
 * two ids in order.
 *
 * @example
 * parseNotice(noticePayload(org, [id])); // { o: org, ids: [id] }
 * parseNotice('{"o":"x","ids":[]}'); // null
 */
export function parseNotice(payload: string): LiveNotice | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const { o, ids, from, to } = value as Record<string, unknown>;
  const anId = (v: unknown): v is string => typeof v === 'string' && isId(v);
  if (!anId(o)) return null;
  if (ids !== undefined) return Array.isArray(ids) && ids.length > 0 && ids.length <= IDS_PER_NOTICE && ids.every(anId) ? { o, ids } : null;
  return anId(from) && anId(to) && from <= to ? { o, from, to } : null;
}

/** Sends one statement of `pg_notify(channel, payload)` calls (on PGlite: hands them to this process's listeners). */
export type SendNotices = (channel: string, payloads: readonly string[]) => Promise<void>;

export class Announcer {
  /** Event ids per organization not yet sent. */
  readonly #pending = new Map<string, string[]>();
  #running: Promise<void> | null = null;
  #failures = 0;
  #closed = false;
  /** Notices dropped because too many organizations were waiting (the database was down). */
  dropped = 0;

  /** How the notices go out; PGlite's database replaces it (db/database.ts). */
  constructor(public send: SendNotices) {}

  /** Hands over new events of a committed change; sent as soon as the previous statement is done. */
  announce(organizationId: string, ids: readonly string[]): void {
    if (ids.length === 0 || this.#closed) return;
    const waiting = this.#pending.get(organizationId);
    if (waiting) waiting.push(...ids);
    else if (this.#pending.size >= MAX_PENDING) this.dropped++;
    else this.#pending.set(organizationId, [...ids]);
    this.#running ??= this.#run();
  }

  /** Resolves when everything handed over so far was sent (or given up at close). */
  async flushed(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /**
   * Stops taking notices and waits for the statement under way, at most
   * `waitMs` (a database that went away must not hold up a shutdown).
   */
  async close(waitMs = 1000): Promise<void> {
    this.#closed = true;
    if (!this.#running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#running, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  async #run(): Promise<void> {
    try {
      while (this.#pending.size > 0) {
        const batch = [...this.#pending];
        this.#pending.clear();
        const payloads = batch.map(([o, ids]) => noticePayload(o, ids));
        try {
          for (let i = 0; i < payloads.length; i += NOTICES_PER_STATEMENT)
            await this.send(LIVE_CHANNEL, payloads.slice(i, i + NOTICES_PER_STATEMENT));
          this.#failures = 0;
        } catch {
          // Not sent (the database is away): keep it, ahead of what came meanwhile, and try again later.
          for (const [o, ids] of batch) {
            const later = this.#pending.get(o);
            this.#pending.delete(o);
            this.#pending.set(o, later ? [...ids, ...later] : ids);
          }
          if (this.#closed) return;
          await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** Math.min(this.#failures++, 5))).unref());
        }
      }
    } finally {
      this.#running = null;
    }
  }
}
