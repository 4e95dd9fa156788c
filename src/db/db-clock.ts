/**
 * The clock of record: the database's (R-LIFE-6). One instance with a wrong
 * OS clock must not age every tenant, so the gateway never decides with its
 * own wall clock:
 *
 * - `now()` is the database's time, carried forward between measurements by
 *   the process's monotonic clock: anchor (database time, monotonic time)
 *   from `select clock_timestamp()`, taken at the middle of the round trip,
 *   plus the monotonic time elapsed since. The OS wall clock plays no part.
 * - `health()` compares the OS wall clock with that time: the skew, known to
 *   ± half the round trip. Beyond `maxSkewMs` (CLOCK_SKEW_MAX_SECONDS) the
 *   instance reports not ready, refuses mutations (CLOCK_SKEW) and skips its
 *   background sweeps. The skew is computed at every call, so an OS clock
 *   that jumps between measurements is seen at once.
 * - Every `intervalMs` (10 s) the anchor is measured again. A sample with a
 *   slow round trip (a busy pool, PGlite's one connection inside a long
 *   write) that agrees with the current anchor within its own uncertainty
 *   leaves the more precise anchor in place; one that disagrees (the
 *   database's clock moved) replaces it. A failed measurement keeps the last
 *   anchor: monotonic time stays valid across a database outage, which
 *   /readyz reports on its own.
 * - `databaseBoundMs`: SQL caps the high-water marks it writes at the
 *   database's `now()` plus this bound.
 *
 * On PGlite the database runs inside the process and reads the same OS
 * clock: the skew is always about zero and the process has only its own
 * clock (see the README, "Clock of record").
 *
 * @example
 * const clock = new DbClock({ db, maxSkewMs: 60_000 });
 * await clock.start();            // first measurement, then every 10 s
 * clock.now();                    // the database's time
 * clock.health().ok;              // false when the OS clock is off by more than 60 s
 */
import { sql } from 'kysely';
import type { Clock, ClockHealth } from '../clock.ts';
import type { Db } from './database.ts';

export interface DbClockOptions {
  db: Db;
  /** CLOCK_SKEW_MAX_SECONDS in ms: the largest skew of the OS clock an instance may have and still write. */
  maxSkewMs: number;
  /** How often the anchor is measured again (default 10 s); 0: only by `measure()`. */
  intervalMs?: number;
  /** The OS wall clock, ms since the epoch (default Date.now); tests stand an instance's OS clock elsewhere with it. */
  wall?: () => number;
  /** Called when `health().ok` changes at a measurement (to log it). */
  onHealthChange?: (health: ClockHealth) => void;
}

interface Anchor {
  /** Database time at the middle of the round trip, ms since the epoch. */
  dbMs: number;
  /** performance.now() at the middle of the round trip. */
  mono: number;
  roundTripMs: number;
}

export class DbClock implements Clock {
  readonly databaseBoundMs: number;
  readonly #db: Db;
  readonly #maxSkewMs: number;
  readonly #intervalMs: number;
  readonly #wall: () => number;
  readonly #onHealthChange: ((health: ClockHealth) => void) | undefined;
  #anchor: Anchor | null = null;
  /** Database time of the last successful measurement (kept anchor or not). */
  #measuredAt: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastOk: boolean | null = null;
  #measuring: Promise<ClockHealth> | null = null;

  constructor(options: DbClockOptions) {
    this.#db = options.db;
    this.#maxSkewMs = options.maxSkewMs;
    this.databaseBoundMs = options.maxSkewMs;
    this.#intervalMs = options.intervalMs ?? 10_000;
    this.#wall = options.wall ?? Date.now;
    this.#onHealthChange = options.onHealthChange;
  }

  /** The database's time now. Before the first measurement: the OS clock (and `health()` is not ok, so nothing is written). */
  now(): Date {
    const anchor = this.#anchor;
    if (!anchor) return new Date(this.#wall());
    return new Date(anchor.dbMs + (performance.now() - anchor.mono));
  }

  health(): ClockHealth {
    const anchor = this.#anchor;
    const bound = `CLOCK_SKEW_MAX_SECONDS=${this.#maxSkewMs / 1000}`;
    if (!anchor) {
      return {
        ok: false,
        skewMs: null,
        maxSkewMs: this.#maxSkewMs,
        roundTripMs: null,
        measuredAt: null,
        message: `the clock has not been measured against the database yet (${bound})`,
      };
    }
    const skewMs = Math.round(this.#wall() - this.now().getTime());
    const ok = Math.abs(skewMs) <= this.#maxSkewMs;
    const direction = skewMs >= 0 ? 'ahead of' : 'behind';
    return {
      ok,
      skewMs,
      maxSkewMs: this.#maxSkewMs,
      roundTripMs: Math.round(anchor.roundTripMs * 1000) / 1000,
      measuredAt: new Date(this.#measuredAt ?? anchor.dbMs),
      message: `this instance's clock is ${formatSkew(Math.abs(skewMs))} ${direction} the database's (bound ${bound})`,
    };
  }

  /** Measures the database's time once (one round trip) and re-anchors. Rejects when the database does not answer. */
  measure(): Promise<ClockHealth> {
    this.#measuring ??= this.#measureOnce().finally(() => {
      this.#measuring = null;
    });
    return this.#measuring;
  }

  async #measureOnce(): Promise<ClockHealth> {
    const before = performance.now();
    const { rows } = await sql<{ t: Date }>`select clock_timestamp() as t`.execute(this.#db);
    const after = performance.now();
    const t = rows[0]?.t;
    if (!(t instanceof Date) || Number.isNaN(t.getTime())) throw new Error('the database returned no time');
    const sample: Anchor = { dbMs: t.getTime(), mono: (before + after) / 2, roundTripMs: after - before };
    const current = this.#anchor;
    // ±1 ms: the database's time arrives in whole milliseconds.
    const consistent =
      current !== null && Math.abs(current.dbMs + (sample.mono - current.mono) - sample.dbMs) <= sample.roundTripMs / 2 + 1;
    if (!current || !consistent || sample.roundTripMs <= 2 * current.roundTripMs) this.#anchor = sample;
    this.#measuredAt = sample.dbMs;
    const health = this.health();
    if (health.ok !== this.#lastOk) {
      this.#lastOk = health.ok;
      this.#onHealthChange?.(health);
    }
    return health;
  }

  /** The first measurement (a failure is reported, and retried at the interval), then one every `intervalMs`. */
  async start(): Promise<ClockHealth> {
    if (this.#intervalMs > 0 && !this.#timer) {
      this.#timer = setInterval(() => void this.measure().catch(() => undefined), this.#intervalMs);
      this.#timer.unref();
    }
    try {
      return await this.measure();
    } catch {
      return this.health();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** "800d 0h 0m 12s" / "1.5 s": readable at any size. */
function formatSkew(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  return `${days > 0 ? `${days}d ` : ''}${hours}h ${minutes}m ${s % 60}s`;
}
