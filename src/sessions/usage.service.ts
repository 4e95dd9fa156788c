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
