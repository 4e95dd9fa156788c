/**
 * UTC calendar arithmetic for licence terms. Pure; every function takes and
 * returns instants, and nothing here reads the clock.
 */
export const DAY_MS = 86_400_000;

/**
 * `date` moved by whole calendar `months` (negative goes back), keeping the
 * time of day; the day is clamped to the end of the target month, because a
 * term that starts on Jan 31 must end in February, not in March.
 *
 * @example
 * addMonthsUtc(new Date('2026-01-31T08:00:00Z'), 1); // 2026-02-28T08:00:00.000Z
 */
export function addMonthsUtc(date: Date, months: number): Date {
  if (!Number.isInteger(months)) throw new RangeError(`months must be a whole number, got ${months}`);
  const monthIndex = date.getUTCFullYear() * 12 + date.getUTCMonth() + months;
  const year = Math.floor(monthIndex / 12);
  const month = monthIndex - year * 12;
  const result = new Date(date.getTime());
  result.setUTCFullYear(year, month, Math.min(date.getUTCDate(), daysInMonthUtc(year, month)));
  return result;
}

/** `date` moved by `days` of exactly 24 hours (UTC has no daylight-saving jumps). */
export function addDaysUtc(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS);
}

/** `month` is 0-based, as in `Date`. */
function daysInMonthUtc(year: number, month: number): number {
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month + 1, 0);
  return lastDay.getUTCDate();
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Strict ISO 8601 parsing; `Date.parse` alone would turn 2026-02-30 into
 * March 2 and read a zone-less time as local time.
 * Returns null for anything that is not a real calendar instant in 1970–9999.
 */
function parseIso(text: string): { date: Date; form: 'DATE' | 'UTC' | 'OFFSET' } | null {
  const m = ISO.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo) - 1;
  const day = Number(d);
  const hour = Number(h ?? 0);
  const minute = Number(mi ?? 0);
  const second = Number(s ?? 0);
  const ms = Number((frac ?? '').padEnd(3, '0').slice(0, 3));
  if (year < 1970 || month > 11 || day < 1 || day > daysInMonthUtc(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const offHours = Number(zone.slice(1, 3));
    const offMinutes = Number(zone.slice(4, 6));
    if (offHours > 23 || offMinutes > 59) return null;
    offsetMinutes = (zone.startsWith('-') ? -1 : 1) * (offHours * 60 + offMinutes);
  }
  const date = new Date(Date.UTC(year, month, day, hour, minute, second, ms) - offsetMinutes * 60_000);
  return { date, form: zone === undefined ? 'DATE' : zone === 'Z' ? 'UTC' : 'OFFSET' };
}

/** An instant written in UTC (`2026-01-15T00:00:00Z`, seconds and fraction optional), as keys carry it. */
export function parseUtcInstant(text: string): Date | null {
  const parsed = parseIso(text);
  return parsed?.form === 'UTC' ? parsed.date : null;
}

/** A plain date (`2026-01-15`, meaning 00:00 UTC) or an instant with `Z` or an offset, as people write orders. */
export function parseDateOrInstant(text: string): Date | null {
  return parseIso(text)?.date ?? null;
}
