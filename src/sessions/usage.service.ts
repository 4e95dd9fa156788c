import { DEMO_POOL } from '../licensing/seats.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { Executor } from '../db/database.ts';
import type { OrganizationRow, SeatPoolRow } from '../db/schema.ts';
import { badInput } from '../errors.ts';
import { entitlementsOf } from '../licensing/entitlements.ts';
import { split, summarizeUsage, type UsagePoint, type UsageSummary } from '../licensing/metering.ts';
import type { SeatFigures } from '../licensing/reports.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom } from '../allocation/keys.ts';
import { billingPeriod } from '../tenancy/tenancy.service.ts';
import * as repo from './sessions.repository.ts';

export interface PoolUsage {
  product: string;
  capacity: number;
  inUse: number;
  emergencyCapacity: number;
  emergencyInUse: number;
  overageInUse: number;
  maxPossible: number;
  peakToday: number;
}

export interface SeatUsageSnapshot {
  organizationId: string;
  at: Date;
  pools: PoolUsage[];
}

const dayOf = (at: Date) => at.toISOString().slice(0, 10);

/** Today's peak, or the current use when the stored peak is of an earlier day. */
function peakToday(pool: SeatPoolRow, now: Date): number {
  const day =
    typeof pool.peak_day === 'string' ? pool.peak_day : pool.peak_day === null ? null : new Date(pool.peak_day).toISOString().slice(0, 10);
  return day === dayOf(now) ? Math.max(pool.peak_today, pool.in_use) : pool.in_use;
}

/**
 * The organization's pools now (R-LIVE-1, R-MON-1). With full use: every
 * concurrent pool, split into regular, emergency and overage use. In NONE,
 * PENDING and DEMO the seat products show the demo sessions against
 * demoAgentLimit (maxPossible).
 */
export async function seatUsage(db: Executor, org: OrganizationRow, catalog: Catalog, now: Date): Promise<SeatUsageSnapshot> {
  const [keys, pools] = await Promise.all([keysOfOrganizations(db, [org.id]), repo.poolsOfOrganizations(db, [org.id])]);
  const status = statusFrom(org, keys, now);
  const entitlements = entitlementsOf(catalog, status.entitlements);
  if (!status.fullUse) {
    const demo = pools.find((p) => p.product_code === DEMO_POOL);
    const seatProducts = catalog.products.filter(
      (p) => p.kind === 'USER' && (entitlements.find((e) => e.product === p.code)?.allocation ?? p.allocation) === 'CONCURRENT',
    );
    return {
      organizationId: org.id,
      at: now,
      pools: seatProducts.map((p) => ({
        product: p.code,
        capacity: 0,
        inUse: demo?.in_use ?? 0,
        emergencyCapacity: 0,
        emergencyInUse: 0,
        overageInUse: 0,
        maxPossible: status.demoAgentLimit,
        peakToday: demo ? peakToday(demo, now) : 0,
      })),
    };
  }
  const products = new Set(catalog.products.map((p) => p.code));
  return {
    organizationId: org.id,
    at: now,
    pools: pools
      .filter(
        (p) => p.product_code !== DEMO_POOL && products.has(p.product_code) && (p.capacity > 0 || p.emergency_capacity > 0 || p.in_use > 0),
      )
      .map((p) => {
        const s = split(p.in_use, p.capacity, p.emergency_capacity);
        return {
          product: p.product_code,
          capacity: p.capacity,
          inUse: s.regular,
          emergencyCapacity: p.emergency_capacity,
          emergencyInUse: s.emergency,
          overageInUse: s.overage,
          maxPossible: p.capacity + p.emergency_capacity,
          peakToday: peakToday(p, now),
        };
      }),
  };
}

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
  org: OrganizationRow,
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
export async function seatFigures(ctx: Context, org: OrganizationRow, catalog: Catalog): Promise<Map<string, SeatFigures>> {
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
