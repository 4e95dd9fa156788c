/**
 * Billing periods and days (R-TEN-2, R-METER-1). A billing period is the
 * calendar month (UTC); a pool's daily peak belongs to the calendar day
 * (UTC). Pure.
 *
 * @example
 * billingPeriod(new Date('2026-11-17T08:00:00Z')); // { from: 2026-11-01T00:00Z, to: 2026-12-01T00:00Z }
 * dayOf(new Date('2026-11-17T23:59:59Z')); // '2026-11-17'
 */

/** The calendar month (UTC) containing `now`: the billing period (R-TEN-2). */
export function billingPeriod(now: Date): { from: Date; to: Date } {
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
  return { from, to };
}

/** The calendar day (UTC) of `at`, as YYYY-MM-DD: the day a pool's peak belongs to. */
export const dayOf = (at: Date): string => at.toISOString().slice(0, 10);

/** A stored day (a `date` column: text on PostgreSQL, a Date on PGlite, or null) as YYYY-MM-DD. */
export function storedDay(day: string | Date | null): string | null {
  if (day === null) return null;
  return typeof day === 'string' ? day : new Date(day).toISOString().slice(0, 10);
}
