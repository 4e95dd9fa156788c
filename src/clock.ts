/**
 * The one source of "now" (R-LIFE-6). Everything that depends on time takes a
 * `Clock`, so tests can stand on a term boundary to the millisecond and a
 * clock set back can be simulated without touching the system time.
 *
 * @example
 * const clock = new ManualClock(new Date('2026-01-15T00:00:00Z'));
 * clock.advance(60_000);
 * clock.now(); // 2026-01-15T00:01:00.000Z
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock that only moves when told to; returns a fresh Date each time so callers cannot mutate it. */
export class ManualClock implements Clock {
  #ms: number;

  constructor(start: Date = new Date()) {
    this.#ms = start.getTime();
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
