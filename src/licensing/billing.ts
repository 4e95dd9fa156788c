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

/** A billing period named by its month, YYYY-MM (UTC), e.g. `2026-11`. */
export interface MonthPeriod {
  period: string;
  from: Date;
  to: Date;
}

/**
 * The calendar month (UTC) named `YYYY-MM` (years 2000–9999), or null when
 * the text is no such month (R-BILL-1).
 *
 * @example
 * monthPeriod('2026-11'); // { period: '2026-11', from: 2026-11-01T00:00Z, to: 2026-12-01T00:00Z }
 * monthPeriod('2026-13'); // null
 */
export function monthPeriod(text: string): MonthPeriod | null {
  const match = /^([2-9]\d{3})-(0[1-9]|1[0-2])$/.exec(text);
  if (!match) return null;
  const year = Number(match[1]);
  const month = Number(match[2]) - 1;
  return { period: text, from: new Date(Date.UTC(year, month, 1)), to: new Date(Date.UTC(year, month + 1, 1)) };
}

/** The month `YYYY-MM` (UTC) of `at`. */
export const monthOf = (at: Date): string => at.toISOString().slice(0, 7);
