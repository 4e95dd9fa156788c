/**
 * The one source of "now" (R-LIFE-6). Everything that depends on time takes a
 * `Clock`, so tests can stand on a term boundary to the millisecond and a
 * clock set back can be simulated without touching the system time.
 *
 * The gateway process runs on the clock of record, the database's
 * (`DbClock` in src/db/db-clock.ts): its `now()` is the database's time
 * whatever the OS clock of the instance says, it caps the times SQL writes at
 * the database's `now()` plus the skew bound (`databaseBoundMs`), and its
 * `health()` says how far the OS clock is off (an instance beyond the bound is
 * not ready and refuses mutations). Tests inject a `ManualClock`, which has no
 * database to answer to: the times it gives are written as they are, so a
 * test may move time years ahead on purpose.
 *
 * @example
 * const clock = new ManualClock(new Date('2026-01-15T00:00:00Z'));
 * clock.advance(60_000);
 * clock.now(); // 2026-01-15T00:01:00.000Z
 */
export interface Clock {
  now(): Date;
  /**
   * Set by a clock anchored to the database: a time SQL writes from this
   * clock's `now()` (high-water marks) is capped at the database's `now()`
   * plus this many ms, so no instance can push a mark into the future, even
   * with a bug. Absent: the clock's own time is written as it is (tests).
   */
  readonly databaseBoundMs?: number;
  /** How far the instance's OS clock is from the clock of record. Absent: always fine (tests). */
  health?(): ClockHealth;
}

/** The skew of the instance's OS clock against the clock of record (the database's `now()`). */
export interface ClockHealth {
  /** False when the skew is beyond the bound, or not measured yet: not ready, mutations refused, no sweeps. */
  ok: boolean;
  /** OS wall clock minus the clock of record, in ms (positive: the OS clock is ahead); null before the first measurement. */
  skewMs: number | null;
  /** CLOCK_SKEW_MAX_SECONDS in ms. */
  maxSkewMs: number;
  /** Round trip of the last measurement: the skew is known to ± half of it. */
  roundTripMs: number | null;
  /** Clock-of-record time of the last successful measurement. */
  measuredAt: Date | null;
  /** For people: what was measured against what. */
  message: string;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; returns a fresh Date each time so callers cannot mutate it. */
export class ManualClock implements Clock {
  #ms: number;
  readonly databaseBoundMs?: number;

  /** `databaseBoundMs`: act as a clock of record whose writes the database caps (tests of that cap). */
  constructor(start: Date = new Date(), options: { databaseBoundMs?: number } = {}) {
    this.#ms = start.getTime();
    if (options.databaseBoundMs !== undefined) this.databaseBoundMs = options.databaseBoundMs;
  }

  now(): Date {
    return new Date(this.#ms);
  }

  set(date: Date): void {
    this.#ms = date.getTime();
  }

  /** Moves the clock by `ms` (negative to set it back). */
  advance(ms: number): void {
    this.#ms += ms;
  }
}
