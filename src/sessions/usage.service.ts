import type { Catalog } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import { badInput } from '../errors.ts';
import { billingPeriod } from '../licensing/billing.ts';
import { split, summarizeUsage, type UsagePoint, type UsageSummary } from '../licensing/metering.ts';
import type { SeatFigures } from '../licensing/reports.ts';
import * as repo from './sessions.repository.ts';

export interface UsageRow extends UsageSummary {
  product: string;
}

const MAX_INTERVAL_MS = 400 * 86_400_000;

/**
 * Peaks, emergency peaks and overage episodes of every pool for [from, to)
 * (R-METER-1, R-EMER-2, R-OVER-1), from the recorded series.
 */
export async function usageBetween(
  db: Executor,
  org: Organization,
  catalog: Catalog,
  from: Date,
  to: Date,
  now: Date,
): Promise<UsageRow[]> {
  const { series, graceOf } = await seriesOf(db, org, from, to);
  return summarize(series, graceOf, catalog, from, to, now);
}

/** One calendar day (UTC) of `usagePerDay`: its figures for [from, to), the part of the day the interval covers. */
export interface UsageDay {
  /** YYYY-MM-DD. */
  day: string;
  from: Date;
  to: Date;
  rows: UsageRow[];
}

const DAY_MS = 86_400_000;

/**
 * `usageBetween` broken down by calendar day (UTC): one read of the series
 * for the whole interval, then each day [max(from, midnight), min(to, next
 * midnight)) summarized from it; each day's rows are exactly those
 * `usageBetween` gives for that day (a test checks it).
 */
export async function usagePerDay(db: Executor, org: Organization, catalog: Catalog, from: Date, to: Date, now: Date): Promise<UsageDay[]> {
  const { series, graceOf } = await seriesOf(db, org, from, to);
  const days: UsageDay[] = [];
  for (let start = from.getTime(); start < to.getTime(); ) {
    const midnight = Math.floor(start / DAY_MS) * DAY_MS;
    const end = Math.min(to.getTime(), midnight + DAY_MS);
    const dayFrom = new Date(start);
    const dayTo = new Date(end);
    // A pool appears on a day as in usageBetween for that day: once it has a point before the day's end.
    const known = new Map([...series].filter(([, points]) => points.some((p) => p.at.getTime() < end)));
    days.push({
      day: dayFrom.toISOString().slice(0, 10),
      from: dayFrom,
      to: dayTo,
      rows: summarize(known, graceOf, catalog, dayFrom, dayTo, now),
    });
    start = end;
  }
  return days;
}

/** The recorded series of every pool for [from, to) (see usageSeries), and each pool's overage grace. */
async function seriesOf(db: Executor, org: Organization, from: Date, to: Date) {
  if (to.getTime() <= from.getTime()) throw badInput('to', 'must be later than from');
  if (to.getTime() - from.getTime() > MAX_INTERVAL_MS) throw badInput('to', 'the interval may span at most 400 days');
  const [{ before, rows }, pools] = await Promise.all([repo.usageSeries(db, org.id, from, to), repo.poolsOfOrganizations(db, [org.id])]);
  const series = new Map<string, UsagePoint[]>();
  const add = (product: string, p: UsagePoint) => {
    const list = series.get(product) ?? [];
    list.push(p);
    series.set(product, list);
  };
  for (const row of rows)
    add(row.product_code, { at: row.at, inUse: row.in_use, capacity: row.capacity, emergencyCapacity: row.emergency_capacity });
  for (const row of before) {
    const list = series.get(row.product_code) ?? [];
    // The value in force at `from`, unless the series already reaches back before it.
    if (!list.some((p) => p.at.getTime() < from.getTime())) {
      list.unshift({ at: row.at, inUse: row.in_use, capacity: row.capacity, emergencyCapacity: row.emergency_capacity });
      series.set(row.product_code, list);
    }
  }
  const graceOf = new Map(pools.map((p) => [p.product_code, p.overage_grace_minutes]));
  return { series, graceOf };
}

function summarize(
  series: ReadonlyMap<string, UsagePoint[]>,
  graceOf: ReadonlyMap<string, number>,
  catalog: Catalog,
  from: Date,
  to: Date,
  now: Date,
): UsageRow[] {
  const order = new Map(catalog.products.map((p, i) => [p.code, i]));
  return [...series]
    .filter(([product]) => order.has(product))
    .sort(([a], [b]) => (order.get(a) ?? 0) - (order.get(b) ?? 0))
    .map(([product, points]) => ({ product, ...summarizeUsage(points, from, to, graceOf.get(product) ?? 30, now) }));
}

/** Live figures for the licence mapping's concurrent and emergency columns (R-MAP-1, R-EMER-2). */
export async function seatFigures(ctx: Context, org: Organization, catalog: Catalog): Promise<Map<string, SeatFigures>> {
  const now = ctx.clock.now();
  const pools = await repo.poolsOfOrganizations(ctx.db, [org.id]);
  const period = billingPeriod(now);
  const usage = await usageBetween(ctx.db, org, catalog, period.from, new Date(now.getTime() + 1), now);
  const peaks = new Map(usage.map((u) => [u.product, u.emergencyPeak]));
  return new Map(
    pools.map((p) => {
      const s = split(p.in_use, p.capacity, p.emergency_capacity);
      return [p.product_code, { inUse: s.regular, emergencyInUse: s.emergency, emergencyPeakThisPeriod: peaks.get(p.product_code) ?? 0 }];
    }),
  );
}
