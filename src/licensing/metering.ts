/**
 * Seat metering arithmetic (R-METER-0/1, R-EMER-2, R-OVER-1). A pool's one
 * counter is split at capacity and capacity + emergency: regular seats first,
 * then emergency seats, then overage. Usage figures for any interval follow
 * from the series of counter values. Pure.
 *
 * @example
 * split(27, 25, 0); // { regular: 25, emergency: 0, overage: 2 }
 */

export interface Split {
  regular: number;
  emergency: number;
  overage: number;
}

export function split(inUse: number, capacity: number, emergencyCapacity: number): Split {
  const regular = Math.min(inUse, capacity);
  const emergency = Math.min(Math.max(0, inUse - capacity), emergencyCapacity);
  return { regular, emergency, overage: Math.max(0, inUse - capacity - emergencyCapacity) };
}

export type SeatKind = 'REGULAR' | 'EMERGENCY' | 'OVERAGE';

/** The kind of the seat that brought the counter to `inUse` (R-EMER-1, R-OVER-1). */
export function kindOfSeat(inUse: number, capacity: number, emergencyCapacity: number): SeatKind {
  if (inUse <= capacity) return 'REGULAR';
  if (inUse <= capacity + emergencyCapacity) return 'EMERGENCY';
  return 'OVERAGE';
}

/** One value of a pool's counter from `at` until the next point. */
export interface UsagePoint {
  at: Date;
  inUse: number;
  capacity: number;
  emergencyCapacity: number;
}

export interface OverageEpisode {
  startedAt: Date;
  /** Null while usage is still above capacity and emergency seats. */
  endedAt: Date | null;
  /** The most seats beyond capacity + emergency at once during the episode. */
  peakExcess: number;
  /**
   * The most seats beyond capacity + emergency at once within the interval
   * asked for: the part of the episode that interval bills. An episode that
   * crosses a month boundary is split at it, each month billing the peak of
   * its own part (R-OVER-2).
   */
  peakExcessInInterval: number;
  /** Only an episode that lasted longer than the grace is billed (shift changes: R-OVER-1). */
  billable: boolean;
}

export interface UsageSummary {
  /** Most seats in use at once, every kind counted (R-METER-0). */
  peakConcurrent: number;
  emergencyPeak: number;
  episodes: OverageEpisode[];
  /** Sum over billable episodes of their peak excess within the interval (R-OVER-1, R-OVER-2). */
  billableOverage: number;
}

/**
 * Figures for [from, to) from a pool's series. `points` are in time order;
 * the first may lie before `from` (the value in force at `from`, or the start
 * of an episode still running at `from`). An episode overlapping the interval
 * is reported whole, and its `billable` is judged by its whole length (at
 * `now` while it runs: a shift change across midnight is still a shift
 * change); what the interval bills of it is its peak excess within the
 * interval (`peakExcessInInterval`, R-OVER-2), so consecutive months never
 * bill one month's excess twice.
 *
 * @example
 * // 23:40 → 00:40 across 1 December, 3 over capacity in November, 1 in December:
 * summarizeUsage(points, dec1, jan1, 30, now).billableOverage; // 1 (November's report bills 3)
 */
export function summarizeUsage(points: readonly UsagePoint[], from: Date, to: Date, graceMinutes: number, now: Date): UsageSummary {
  const graceMs = graceMinutes * 60_000;
  let peakConcurrent = 0;
  let emergencyPeak = 0;
  const episodes: OverageEpisode[] = [];
  let open: { startedAt: Date; peakExcess: number; inInterval: number } | null = null;

  const close = (endedAt: Date | null) => {
    if (!open) return;
    const end = endedAt ?? now;
    const startsBeforeTo = open.startedAt.getTime() < to.getTime();
    const endsAfterFrom = endedAt === null || endedAt.getTime() > from.getTime();
    if (startsBeforeTo && endsAfterFrom) {
      episodes.push({
        startedAt: open.startedAt,
        endedAt,
        peakExcess: open.peakExcess,
        peakExcessInInterval: open.inInterval,
        billable: end.getTime() - open.startedAt.getTime() > graceMs,
      });
    }
    open = null;
  };

  points.forEach((p, i) => {
    const next = points[i + 1];
    const s = split(p.inUse, p.capacity, p.emergencyCapacity);
    // The value holds from p.at until the next point: it counts if that span meets [from, to).
    // A value that lasted no time at all still was in use at once (several changes in one instant).
    const spanEnd = next ? next.at.getTime() : Number.POSITIVE_INFINITY;
    const inInterval = p.at.getTime() < to.getTime() && (spanEnd > from.getTime() || p.at.getTime() >= from.getTime());
    if (inInterval) {
      peakConcurrent = Math.max(peakConcurrent, p.inUse);
      emergencyPeak = Math.max(emergencyPeak, s.emergency);
    }
    if (s.overage > 0) {
      if (!open) open = { startedAt: p.at, peakExcess: 0, inInterval: 0 };
      if (p.at.getTime() < to.getTime()) open.peakExcess = Math.max(open.peakExcess, s.overage);
      if (inInterval) open.inInterval = Math.max(open.inInterval, s.overage);
    } else {
      close(p.at);
    }
  });
  close(null);
  const billableOverage = episodes.filter((e) => e.billable).reduce((sum, e) => sum + e.peakExcessInInterval, 0);
  return { peakConcurrent, emergencyPeak, episodes, billableOverage };
}
