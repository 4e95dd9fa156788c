import type { Catalog } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Executor } from '../db/database.ts';
import type { SeatPoolRow } from '../db/schema.ts';
import { dayOf, storedDay } from '../licensing/billing.ts';
import { entitlementsOf } from '../licensing/entitlements.ts';
import { split } from '../licensing/metering.ts';
import { concurrentSeatProducts, DEMO_POOL } from '../licensing/seats.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom, type ParsedKeys } from '../allocation/keys.ts';
import * as repo from './sessions.repository.ts';

/*
 * The organization's pools now, as the seatUsage query and subscription show
 * them (live/hub.ts reads it on every change): repositories and pure rules
 * only, no Context and no service.
 */

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

/** Today's peak, or the current use when the stored peak is of an earlier day. */
function peakToday(pool: SeatPoolRow, now: Date): number {
  return storedDay(pool.peak_day) === dayOf(now) ? Math.max(pool.peak_today, pool.in_use) : pool.in_use;
}

/**
 * The organization's pools now (R-LIVE-1, R-MON-1). With full use: every
 * concurrent pool, split into regular, emergency and overage use. In NONE,
 * PENDING and DEMO the seat products show the demo sessions against
 * demoAgentLimit (maxPossible).
 */
export async function seatUsage(
  db: Executor,
  org: Organization,
  catalog: Catalog,
  now: Date,
  parsedKeys?: ParsedKeys,
): Promise<SeatUsageSnapshot> {
  const [keys, pools] = await Promise.all([keysOfOrganizations(db, [org.id]), repo.poolsOfOrganizations(db, [org.id])]);
  const status = statusFrom(org, keys, now, parsedKeys);
  const entitlements = entitlementsOf(catalog, status.entitlements);
  if (!status.fullUse) {
    const demo = pools.find((p) => p.product_code === DEMO_POOL);
    const seatProducts = concurrentSeatProducts(catalog, entitlements);
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
