import { describe, expect, it } from 'vitest';
import { kindOfSeat, split, summarizeUsage, type UsagePoint } from '../../src/licensing/metering.ts';

/*
 * Seat metering arithmetic (SPEC §4.4, §4.9): one pool counter split into
 * regular, emergency and overage seats; peaks, emergency peaks and overage
 * episodes of any interval from the recorded series of counter values.
 */

const MIN = 60_000;
const T0 = new Date('2026-11-02T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
/** A counter value from `T0 + ms` on. */
const pt = (ms: number, inUse: number, capacity = 4, emergencyCapacity = 0): UsagePoint => ({
  at: at(ms),
  inUse,
  capacity,
  emergencyCapacity,
});

describe('split', () => {
  it('[R-METER-0] fills regular seats first, then emergency seats, then overage', () => {
    expect(split(0, 25, 5)).toEqual({ regular: 0, emergency: 0, overage: 0 });
    expect(split(24, 25, 5)).toEqual({ regular: 24, emergency: 0, overage: 0 });
    expect(split(25, 25, 5)).toEqual({ regular: 25, emergency: 0, overage: 0 });
    expect(split(26, 25, 5)).toEqual({ regular: 25, emergency: 1, overage: 0 });
    expect(split(30, 25, 5)).toEqual({ regular: 25, emergency: 5, overage: 0 });
    expect(split(31, 25, 5)).toEqual({ regular: 25, emergency: 5, overage: 1 });
  });

  it('[R-METER-0] without emergency seats everything beyond capacity is overage; with no capacity at all every seat is beyond it', () => {
    expect(split(27, 25, 0)).toEqual({ regular: 25, emergency: 0, overage: 2 });
    expect(split(3, 0, 0)).toEqual({ regular: 0, emergency: 0, overage: 3 });
    expect(split(3, 0, 2)).toEqual({ regular: 0, emergency: 2, overage: 1 });
  });

  it('[R-METER-0] the parts always add up to the counter', () => {
    for (let capacity = 0; capacity <= 4; capacity++) {
      for (let emergency = 0; emergency <= 3; emergency++) {
        for (let inUse = 0; inUse <= 10; inUse++) {
          const s = split(inUse, capacity, emergency);
          expect(s.regular + s.emergency + s.overage).toBe(inUse);
          expect(s.regular).toBeLessThanOrEqual(capacity);
          expect(s.emergency).toBeLessThanOrEqual(emergency);
          expect(Math.min(s.regular, s.emergency, s.overage)).toBeGreaterThanOrEqual(0);
        }
      }
    }
  });
});

describe('kindOfSeat', () => {
  it('[R-EMER-1] the seat that brings the counter to capacity is regular, the next ones emergency up to capacity + emergency', () => {
    expect(kindOfSeat(1, 25, 5)).toBe('REGULAR');
    expect(kindOfSeat(25, 25, 5)).toBe('REGULAR');
    expect(kindOfSeat(26, 25, 5)).toBe('EMERGENCY');
    expect(kindOfSeat(30, 25, 5)).toBe('EMERGENCY');
  });

  it('[R-OVER-1] a seat beyond capacity and emergency is overage', () => {
    expect(kindOfSeat(31, 25, 5)).toBe('OVERAGE');
    expect(kindOfSeat(26, 25, 0)).toBe('OVERAGE');
    expect(kindOfSeat(1, 0, 0)).toBe('OVERAGE');
    expect(kindOfSeat(1, 0, 1)).toBe('EMERGENCY');
  });
});

describe('summarizeUsage: peaks', () => {
  it('[R-METER-1] the peak of an interval is the most seats in use at once within it', () => {
    const points = [pt(5 * MIN, 2, 10), pt(10 * MIN, 5, 10), pt(20 * MIN, 1, 10)];
    expect(summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN))).toEqual({
      peakConcurrent: 5,
      emergencyPeak: 0,
      episodes: [],
      billableOverage: 0,
    });
  });

  it('[R-METER-1] the value in force at `from` counts, although it was recorded before', () => {
    const points = [pt(-10 * MIN, 4), pt(5 * MIN, 2), pt(10 * MIN, 3)];
    expect(summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN)).peakConcurrent).toBe(4);
    // Recorded long before and never changed since: still in force.
    expect(summarizeUsage([pt(-3 * 86_400_000, 3)], T0, at(60 * MIN), 30, at(60 * MIN)).peakConcurrent).toBe(3);
  });

  it('[R-METER-1] a value that ended exactly at `from`, or begins exactly at `to`, lies outside the interval', () => {
    const points = [pt(-10 * MIN, 4), pt(0, 1), pt(60 * MIN, 4)];
    expect(summarizeUsage(points, T0, at(60 * MIN), 30, at(90 * MIN)).peakConcurrent).toBe(1);
    // One millisecond earlier `to` would still see 1; one later, the 4.
    expect(summarizeUsage(points, T0, at(60 * MIN + 1), 30, at(90 * MIN)).peakConcurrent).toBe(4);
    expect(summarizeUsage(points, at(-1), at(60 * MIN), 30, at(90 * MIN)).peakConcurrent).toBe(4);
  });

  it('[R-METER-0] several changes in one instant: every value counts, however short', () => {
    const points = [pt(0, 2), pt(5 * MIN, 3), pt(5 * MIN, 4), pt(5 * MIN, 3), pt(6 * MIN, 1)];
    expect(summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN)).peakConcurrent).toBe(4);
  });

  it('[R-METER-1] no recorded change: all figures zero', () => {
    expect(summarizeUsage([], T0, at(60 * MIN), 30, at(60 * MIN))).toEqual({
      peakConcurrent: 0,
      emergencyPeak: 0,
      episodes: [],
      billableOverage: 0,
    });
  });

  it('[R-EMER-2] the emergency peak is the most emergency seats in use at once; peakConcurrent counts every kind (R-METER-0)', () => {
    // capacity 4 + 3 emergency
    const points = [pt(0, 5, 4, 3), pt(10 * MIN, 7, 4, 3), pt(20 * MIN, 6, 4, 3), pt(30 * MIN, 9, 4, 3), pt(31 * MIN, 2, 4, 3)];
    const s = summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN));
    expect(s.emergencyPeak).toBe(3);
    expect(s.peakConcurrent).toBe(9);
  });

  it('[R-EMER-2] an emergency peak before the interval is not billed in it, the emergency use in force at `from` is', () => {
    const points = [pt(-20 * MIN, 7, 4, 3), pt(-10 * MIN, 5, 4, 3), pt(10 * MIN, 4, 4, 3)];
    const s = summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN));
    expect(s.emergencyPeak).toBe(1);
    expect(s.peakConcurrent).toBe(5);
  });
});

describe('summarizeUsage: overage episodes (30-minute grace)', () => {
  const FROM = at(-60 * MIN);
  const TO = at(120 * MIN);
  const NOW = at(180 * MIN);

  it('[R-OVER-1] seed example "30-minute overage grace": an episode of exactly 30 minutes is not billable', () => {
    const s = summarizeUsage([pt(-5 * MIN, 4), pt(0, 5), pt(30 * MIN, 4)], FROM, TO, 30, NOW);
    expect(s.episodes).toEqual([{ startedAt: T0, endedAt: at(30 * MIN), peakExcess: 1, peakExcessInInterval: 1, billable: false }]);
    expect(s.billableOverage).toBe(0);
  });

  it('[R-OVER-1] seed example "30-minute overage grace": an episode of 30 minutes and 1 ms is billable', () => {
    const s = summarizeUsage([pt(-5 * MIN, 4), pt(0, 5), pt(30 * MIN + 1, 4)], FROM, TO, 30, NOW);
    expect(s.episodes).toEqual([{ startedAt: T0, endedAt: at(30 * MIN + 1), peakExcess: 1, peakExcessInInterval: 1, billable: true }]);
    expect(s.billableOverage).toBe(1);
  });

  it('[R-OVER-1] seed example: 105 agents log in on 100 seats at a shift change for less than 30 minutes: no charge', () => {
    const points = [pt(0, 100, 100), pt(1 * MIN, 103, 100), pt(2 * MIN, 105, 100), pt(20 * MIN, 101, 100), pt(25 * MIN, 100, 100)];
    const s = summarizeUsage(points, FROM, TO, 30, NOW);
    expect(s.episodes).toEqual([
      { startedAt: at(1 * MIN), endedAt: at(25 * MIN), peakExcess: 5, peakExcessInInterval: 5, billable: false },
    ]);
    expect(s.billableOverage).toBe(0);
    expect(s.peakConcurrent).toBe(105);
  });

  it('[R-OVER-1] an episode runs from the first moment above capacity + emergency to the moment usage is back within it', () => {
    // capacity 4 + 2 emergency: 6 is within, 7 is one above; going back to 6 (still emergency) ends the episode.
    const points = [pt(0, 6, 4, 2), pt(10 * MIN, 7, 4, 2), pt(20 * MIN, 8, 4, 2), pt(30 * MIN, 7, 4, 2), pt(50 * MIN, 6, 4, 2)];
    const s = summarizeUsage(points, FROM, TO, 30, NOW);
    expect(s.episodes).toEqual([
      { startedAt: at(10 * MIN), endedAt: at(50 * MIN), peakExcess: 2, peakExcessInInterval: 2, billable: true },
    ]);
    expect(s.billableOverage).toBe(2);
    // Emergency seats alone are never overage.
    expect(summarizeUsage([pt(0, 6, 4, 2), pt(600 * MIN, 0, 4, 2)], FROM, at(700 * MIN), 30, at(700 * MIN)).episodes).toEqual([]);
  });

  it('[R-OVER-1] an ongoing episode is judged at `now`: not billable at exactly the grace, billable 1 ms later', () => {
    const points = [pt(-5 * MIN, 4), pt(0, 6)];
    const atGrace = summarizeUsage(points, FROM, TO, 30, at(30 * MIN));
    expect(atGrace.episodes).toEqual([{ startedAt: T0, endedAt: null, peakExcess: 2, peakExcessInInterval: 2, billable: false }]);
    expect(atGrace.billableOverage).toBe(0);
    const after = summarizeUsage(points, FROM, TO, 30, at(30 * MIN + 1));
    expect(after.episodes).toEqual([{ startedAt: T0, endedAt: null, peakExcess: 2, peakExcessInInterval: 2, billable: true }]);
    expect(after.billableOverage).toBe(2);
  });

  it("[R-OVER-1] the grace is the product's: 45 minutes make a 40-minute episode free, 0 minutes bill any", () => {
    const points = [pt(0, 5), pt(40 * MIN, 4)];
    expect(summarizeUsage(points, FROM, TO, 45, NOW).episodes[0]?.billable).toBe(false);
    expect(summarizeUsage(points, FROM, TO, 30, NOW).episodes[0]?.billable).toBe(true);
    expect(summarizeUsage([pt(0, 5), pt(1, 4)], FROM, TO, 0, NOW).episodes[0]?.billable).toBe(true);
  });

  it('[R-OVER-1] billableOverage sums the peak excess of billable episodes only', () => {
    const points = [
      pt(0, 4),
      // A: 10 minutes, excess up to 3: free.
      pt(1 * MIN, 7),
      pt(11 * MIN, 4),
      // B: 45 minutes, excess 2 then 4: billable, peak excess 4.
      pt(20 * MIN, 6),
      pt(30 * MIN, 8),
      pt(40 * MIN, 5),
      pt(65 * MIN, 3),
      // C: 31 minutes, excess 1: billable.
      pt(70 * MIN, 5),
      pt(101 * MIN, 4),
      // D: exactly 30 minutes, excess 6: free.
      pt(102 * MIN, 10),
      pt(112 * MIN, 4),
    ];
    const s = summarizeUsage(points, FROM, at(200 * MIN), 30, at(200 * MIN));
    expect(s.episodes.map((e) => ({ start: e.startedAt, peak: e.peakExcess, billable: e.billable }))).toEqual([
      { start: at(1 * MIN), peak: 3, billable: false },
      { start: at(20 * MIN), peak: 4, billable: true },
      { start: at(70 * MIN), peak: 1, billable: true },
      { start: at(102 * MIN), peak: 6, billable: false },
    ]);
    expect(s.billableOverage).toBe(5);
  });

  it('[R-OVER-1][R-OVER-2] an episode that began before `from` is reported whole, judged by its whole length, and billed for its part in the interval', () => {
    // 35 minutes in all, of which only 15 inside the interval: billable; 2 over before `from`, 1 over inside.
    const points = [pt(-30 * MIN, 4), pt(-20 * MIN, 6), pt(-10 * MIN, 5), pt(15 * MIN, 4)];
    const s = summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN));
    expect(s.episodes).toEqual([
      { startedAt: at(-20 * MIN), endedAt: at(15 * MIN), peakExcess: 2, peakExcessInInterval: 1, billable: true },
    ]);
    expect(s.billableOverage).toBe(1);
    // The interval before bills the other part: each excess is billed once across the two.
    expect(summarizeUsage(points, at(-60 * MIN), T0, 30, at(60 * MIN)).billableOverage).toBe(2);
  });

  it('[R-OVER-1] an episode that ended exactly at `from` is outside the interval; one that ends 1 ms later is inside', () => {
    const points = [pt(-60 * MIN, 5), pt(0, 4)];
    expect(summarizeUsage(points, T0, at(60 * MIN), 30, at(60 * MIN)).episodes).toEqual([]);
    const inside = summarizeUsage([pt(-60 * MIN, 5), pt(1, 4)], T0, at(60 * MIN), 30, at(60 * MIN));
    expect(inside.episodes).toEqual([{ startedAt: at(-60 * MIN), endedAt: at(1), peakExcess: 1, peakExcessInInterval: 1, billable: true }]);
    expect(inside.billableOverage).toBe(1);
  });

  it('[R-OVER-1] an episode that starts exactly at `to` is outside; one that starts before and ends after `to` is reported with its end', () => {
    expect(summarizeUsage([pt(0, 4), pt(60 * MIN, 5), pt(70 * MIN, 4)], T0, at(60 * MIN), 30, at(90 * MIN)).episodes).toEqual([]);
    const across = summarizeUsage([pt(0, 4), pt(50 * MIN, 5), pt(85 * MIN, 4)], T0, at(60 * MIN), 30, at(90 * MIN));
    expect(across.episodes).toEqual([
      { startedAt: at(50 * MIN), endedAt: at(85 * MIN), peakExcess: 1, peakExcessInInterval: 1, billable: true },
    ]);
    // The interval's own peak stays within it.
    expect(across.peakConcurrent).toBe(5);
  });
});

describe('summarizeUsage: an episode across a month boundary (R-OVER-2)', () => {
  const NOV = new Date('2026-11-01T00:00:00.000Z');
  const DEC = new Date('2026-12-01T00:00:00.000Z');
  const JAN = new Date('2027-01-01T00:00:00.000Z');
  const t = (iso: string, inUse: number): UsagePoint => ({ at: new Date(iso), inUse, capacity: 100, emergencyCapacity: 0 });
  const LATER = new Date('2026-12-05T00:00:00.000Z');

  it('[R-OVER-2] split at midnight: November bills the peak before it, December the peak after it, each episode judged whole', () => {
    const points = [
      t('2026-11-30T22:00:00Z', 100),
      t('2026-11-30T23:40:00Z', 105),
      t('2026-11-30T23:50:00Z', 102),
      t('2026-12-01T00:40:00Z', 100),
    ];
    const nov = summarizeUsage(points, NOV, DEC, 30, LATER);
    const dec = summarizeUsage(points, DEC, JAN, 30, LATER);
    expect(nov.episodes.map((e) => [e.peakExcess, e.peakExcessInInterval, e.billable])).toEqual([[5, 5, true]]);
    expect(dec.episodes.map((e) => [e.peakExcess, e.peakExcessInInterval, e.billable])).toEqual([[5, 2, true]]);
    expect([nov.billableOverage, dec.billableOverage]).toEqual([5, 2]);
    expect([nov.peakConcurrent, dec.peakConcurrent]).toEqual([105, 102]);
  });

  it('[R-OVER-1][R-OVER-2] 20 minutes on each side of midnight make a 40-minute episode: billable in both months, not free in both', () => {
    const points = [t('2026-11-30T23:40:00Z', 103), t('2026-12-01T00:20:00Z', 100)];
    expect(summarizeUsage(points, NOV, DEC, 30, LATER).billableOverage).toBe(3);
    expect(summarizeUsage(points, DEC, JAN, 30, LATER).billableOverage).toBe(3);
    // A shift change across midnight stays free in both.
    const short = [t('2026-11-30T23:50:00Z', 103), t('2026-12-01T00:15:00Z', 100)];
    expect(summarizeUsage(short, NOV, DEC, 30, LATER).billableOverage).toBe(0);
    expect(summarizeUsage(short, DEC, JAN, 30, LATER).billableOverage).toBe(0);
  });

  it('[R-OVER-2] an episode still running at the month end: the month bills its part once it is longer than the grace', () => {
    const points = [t('2026-11-30T23:50:00Z', 104)];
    expect(summarizeUsage(points, NOV, DEC, 30, new Date('2026-12-01T00:10:00Z')).billableOverage).toBe(0);
    expect(summarizeUsage(points, NOV, DEC, 30, new Date('2026-12-01T00:20:01Z')).billableOverage).toBe(4);
  });
});
