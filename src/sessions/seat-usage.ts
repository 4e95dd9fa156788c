import type { Catalog } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Executor } from '../db/database.ts';
import type { SeatPoolRow } from '../db/schema.ts';
import { dayOf, storedDay } from '../licensing/billing.ts';
import { demoUtilization } from '../licensing/demo-switch.ts';
import { entitlementsOf } from '../licensing/entitlements.ts';
import { split } from '../licensing/metering.ts';
import { concurrentSeatProducts, DEMO_POOL } from '../licensing/seats.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom, type ParsedKeys } from '../allocation/keys.ts';
import { seatsOfUnit } from '../licensing/reservations.ts';
import { boundsOf, openSeatsOfOrganization, siteNames } from '../reservations/reservations.repository.ts';
import { deniedUsersBetween } from './denials.repository.ts';
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
  /** Agents turned away today (UTC): distinct users refused a start for this pool (see deniedToday below). */
  deniedToday: number;
  /** R-RES-6: per site (those with seats in use or a bound) and per configuration group with a bound: reserved, in use, cap. */
  units: UnitUsage[];
}

/** One site's or configuration group's bound of a pool and the seats its members hold. */
export interface UnitUsage {
  siteId: string;
  siteName: string;
  /** Null: the bound is the site's. */
  groupId: string | null;
  groupName: string | null;
  reserved: number;
  cap: number | null;
  inUse: number;
}

/**
 * R-RES-6: per pool, every site whose members hold seats of it or that has a
 * bound of it, and every configuration group with a bound, with the seats
 * their members hold (by the site and group they had when they took them),
 * sites by name, each followed by its groups.
 */
export async function unitUsageOf(db: Executor, organizationId: string): Promise<Map<string, UnitUsage[]>> {
  const [bounds, seats] = await Promise.all([boundsOf(db, organizationId), openSeatsOfOrganization(db, organizationId)]);
  const names = await siteNames(db, organizationId, [
    ...new Set(seats.map((s) => s.siteId).filter((id): id is string => id !== null && !bounds.some((b) => b.siteId === id))),
  ]);
  for (const b of bounds) names.set(b.siteId, b.siteName);
  const byProduct = new Map<string, UnitUsage[]>();
  for (const product of new Set([...bounds.map((b) => b.product), ...seats.map((s) => s.product)])) {
    const own = seats.filter((s) => s.product === product);
    const units: UnitUsage[] = bounds.filter((b) => b.product === product).map((b) => ({ ...b, inUse: seatsOfUnit(b, own) }));
    for (const siteId of new Set(own.map((s) => s.siteId))) {
      if (siteId === null || units.some((u) => u.siteId === siteId && u.groupId === null)) continue;
      const unit = { siteId, groupId: null };
      units.push({
        ...unit,
        siteName: names.get(siteId) ?? siteId,
        groupName: null,
        reserved: 0,
        cap: null,
        inUse: seatsOfUnit(unit, own),
      });
    }
    for (const u of units) u.siteName = names.get(u.siteId) ?? u.siteName;
    units.sort(
      (x, y) =>
        x.siteName.localeCompare(y.siteName) ||
        (x.siteId < y.siteId ? -1 : x.siteId > y.siteId ? 1 : 0) ||
        Number(x.groupId !== null) - Number(y.groupId !== null) ||
        (x.groupName ?? '').localeCompare(y.groupName ?? ''),
    );
    byProduct.set(product, units);
  }
  return byProduct;
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

const DAY_MS = 86_400_000;

/**
 * Distinct users turned away today (UTC) by pool: with full use, refusals
 * naming the product (NO_SEAT_AVAILABLE: the pool was full); in demo mode,
 * DEMO_LIMIT_REACHED (every seat product shows the demo pool).
 */
async function deniedToday(db: Executor, organizationId: string, now: Date): Promise<{ byProduct: Map<string, number>; demo: number }> {
  const from = new Date(`${dayOf(now)}T00:00:00.000Z`);
  const rows = await deniedUsersBetween(db, organizationId, from, new Date(from.getTime() + DAY_MS));
  const byProduct = new Map<string, number>();
  let demo = 0;
  for (const r of rows) {
    if (r.product !== null) byProduct.set(r.product, (byProduct.get(r.product) ?? 0) + r.users);
    else if (r.code === 'DEMO_LIMIT_REACHED') demo += r.users;
  }
  return { byProduct, demo };
}

/**
 * The organization's pools now (R-LIVE-1, R-MON-1). With full use: every
 * concurrent pool, split into regular, emergency and overage use. In NONE,
 * PENDING and DEMO the seat products show the demo sessions plus the sessions
 * open since before the switch against demoAgentLimit (maxPossible, R-DEMO-2).
 */
export async function seatUsage(
  db: Executor,
  org: Organization,
  catalog: Catalog,
  now: Date,
  parsedKeys: ParsedKeys,
): Promise<SeatUsageSnapshot> {
  const [keys, pools, denied, units] = await Promise.all([
    keysOfOrganizations(db, [org.id]),
    repo.poolsOfOrganizations(db, [org.id]),
    deniedToday(db, org.id, now),
    unitUsageOf(db, org.id),
  ]);
  const status = statusFrom(org, keys, now, parsedKeys);
  const entitlements = entitlementsOf(catalog, status.entitlements);
  if (!status.fullUse) {
    const demo = pools.find((p) => p.product_code === DEMO_POOL);
    const demoUse = { inUse: demo?.in_use ?? 0, peakToday: demo ? peakToday(demo, now) : 0 };
    // The seat products of the catalog (also those the lapsed key had): sessions open at the switch still hold their seats (R-DEMO-2).
    const seatProducts = concurrentSeatProducts(catalog, entitlements);
    const byCode = new Map(pools.map((p) => [p.product_code, p]));
    return {
      organizationId: org.id,
      at: now,
      pools: seatProducts.map((p) => {
        const own = byCode.get(p.code);
        const use = demoUtilization(demoUse, { inUse: own?.in_use ?? 0, peakToday: own ? peakToday(own, now) : 0 }, status.demoAgentLimit);
        return {
          product: p.code,
          ...use,
          emergencyCapacity: 0,
          emergencyInUse: 0,
          overageInUse: 0,
          deniedToday: denied.demo,
          units: units.get(p.code) ?? [],
        };
      }),
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
          deniedToday: denied.byProduct.get(p.product_code) ?? 0,
          units: units.get(p.product_code) ?? [],
        };
      }),
  };
}
