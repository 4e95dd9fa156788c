/**
 * The switch to demo mode with sessions open (R-DEMO-1, R-DEMO-2). When the
 * grace period ends (or a key is gone) while agents are logged in, their
 * sessions are kept: nobody is thrown out by the clock. They keep their seats
 * until they end or expire, and they count against the demo agent limit like
 * demo sessions: a new session is granted only while the open sessions of
 * the organization (demo ones and those carried over from full use) number
 * fewer than the limit. Pure.
 *
 * @example
 * demoSessionsAfterStart({ demoInUse: 1, carriedOver: 3 }); // 4: over a limit of 2, the start is refused
 */

/** The sessions counted against the demo limit once a demo start has taken its demo seat (`demoInUse` includes it). */
export function demoSessionsAfterStart(counts: { demoInUse: number; carriedOver: number }): number {
  return counts.demoInUse + counts.carriedOver;
}

/** R-DEMO-2: a demo start stands only when every open session, its own included, fits the demo agent limit. */
export function demoStartFits(counts: { demoInUse: number; carriedOver: number }, demoAgentLimit: number): boolean {
  return demoSessionsAfterStart(counts) <= demoAgentLimit;
}

/**
 * The utilization of a seat product in demo mode (R-DEMO-2, R-MON-1): the
 * demo sessions plus the sessions still holding a seat of the product from
 * before the switch, against the demo agent limit; today's peak is the most
 * of either pool's peak and the current use.
 */
export function demoUtilization(
  demo: { inUse: number; peakToday: number },
  carried: { inUse: number; peakToday: number },
  demoAgentLimit: number,
): { capacity: number; inUse: number; maxPossible: number; peakToday: number } {
  const inUse = demo.inUse + carried.inUse;
  return { capacity: 0, inUse, maxPossible: demoAgentLimit, peakToday: Math.max(inUse, demo.peakToday, carried.peakToday) };
}
