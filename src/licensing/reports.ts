/**
 * Views computed from an allocation: licence mapping (R-MAP-1, R-REASSIGN-3),
 * site overview (R-UNDER-2), team analytics (R-ANALYTICS-1/2), add-on
 * coverage (R-ADDON-1) and organization-level advisories. Pure.
 */
import type { AdvisoryCode, Allocation, Catalog, ProductKind } from '../catalogs/types.ts';
import type { AllocationResult, AllocationUser, ProductAllocation, UserLicense } from './allocation.ts';
import type { EntitlementView } from './entitlements.ts';
import type { SlotSummary } from './reassignment.ts';

/** Live seat figures per product; zero until sessions exist. */
export interface SeatFigures {
  inUse: number;
  emergencyInUse: number;
  emergencyPeakThisPeriod: number;
}

export interface MappingRow {
  product: string;
  /**
   * The licence type (ライセンスタイプ: "the type of licence bought", R-MAP-2): the allocation the
   * governing key bought for the product (Zoom PREMIUM CONCURRENT), the catalog's where no key chose one.
   */
  licenseType: Allocation;
  total: number;
  inUse: number;
  reusable: number;
  available: number;
  concurrentTotal: number;
  concurrentInUse: number;
  concurrentAvailable: number;
  emergencyTotal: number;
  emergencyInUse: number;
  emergencyPeakThisPeriod: number;
  emergencyAvailable: number;
  unitsTotal: number;
}

/**
 * One row per product of the catalog, with the licence type the governing key
 * bought (R-MAP-2). Named and fixed-seat products: `inUse` counts licences
 * held by active users plus those bound by the reassignment cool-down;
 * `available` = total − inUse + reusable (R-REASSIGN-3).
 * Concurrent products fill the concurrent and emergency columns instead.
 * Products held by the organization (ACCOUNT) are all in use by it.
 */
export function licenseMapping(
  catalog: Catalog,
  entitlements: readonly EntitlementView[],
  allocation: { readonly products: ReadonlyMap<string, ProductAllocation> },
  slots: ReadonlyMap<string, SlotSummary>,
  seats: ReadonlyMap<string, SeatFigures>,
  kinds: readonly ProductKind[] | null,
): MappingRow[] {
  const byProduct = new Map(entitlements.map((e) => [e.product, e]));
  const rows: MappingRow[] = [];
  for (const product of catalog.products) {
    if (kinds && !kinds.includes(product.kind)) continue;
    if (!product.purchasable && !byProduct.has(product.code)) continue;
    const e = byProduct.get(product.code);
    const total = e?.total ?? 0;
    const allocationKind = e?.allocation ?? product.allocation;
    const row: MappingRow = {
      product: product.code,
      licenseType: allocationKind,
      total,
      inUse: 0,
      reusable: 0,
      available: total,
      concurrentTotal: 0,
      concurrentInUse: 0,
      concurrentAvailable: 0,
      emergencyTotal: 0,
      emergencyInUse: 0,
      emergencyPeakThisPeriod: 0,
      emergencyAvailable: 0,
      unitsTotal: e?.unitsTotal ?? 0,
    };
    if (allocationKind === 'CONCURRENT') {
      const seat = seats.get(product.code) ?? { inUse: 0, emergencyInUse: 0, emergencyPeakThisPeriod: 0 };
      const emergency = e?.emergencyQuantity ?? 0;
      Object.assign(row, {
        inUse: seat.inUse,
        available: Math.max(0, total - seat.inUse),
        concurrentTotal: total,
        concurrentInUse: seat.inUse,
        concurrentAvailable: Math.max(0, total - seat.inUse),
        emergencyTotal: emergency,
        emergencyInUse: seat.emergencyInUse,
        emergencyPeakThisPeriod: seat.emergencyPeakThisPeriod,
        emergencyAvailable: Math.max(0, emergency - seat.emergencyInUse),
      });
    } else if (allocationKind === 'ACCOUNT') {
      Object.assign(row, { inUse: total, available: 0 });
    } else {
      const slot = slots.get(product.code);
      if (slot) {
        Object.assign(row, { inUse: slot.inUse, reusable: slot.reusable, available: slot.available });
      } else {
        const consumed = allocation.products.get(product.code)?.consumed ?? 0;
        Object.assign(row, { inUse: consumed, available: total - consumed });
      }
    }
    rows.push(row);
  }
  return rows;
}

export interface SiteRow {
  product: string;
  required: number;
  granted: number;
  shortage: number;
}

/** Per product, for the users of one site: how many need it, how many hold it (R-UNDER-2). */
export function siteOverview(
  catalog: Catalog,
  allocation: AllocationResult,
  users: readonly Pick<AllocationUser, 'id' | 'status'>[],
): SiteRow[] {
  const counts = new Map<string, { required: number; granted: number }>();
  for (const user of users) {
    if (user.status !== 'ACTIVE') continue;
    for (const l of allocation.users.get(user.id) ?? []) {
      if (l.source === 'INCLUDED' && l.coveredBy !== null && l.rank === null) continue; // tier features: not a licence need
      const c = counts.get(l.product) ?? { required: 0, granted: 0 };
      c.required += 1;
      if (l.status === 'GRANTED') c.granted += 1;
      counts.set(l.product, c);
    }
  }
  return catalog.products
    .filter((p) => counts.has(p.code))
    .map((p) => {
      const c = counts.get(p.code) ?? { required: 0, granted: 0 };
      return { product: p.code, required: c.required, granted: c.granted, shortage: c.required - c.granted };
    });
}

export interface TeamAnalytics {
  allowed: boolean;
  membersRequiringLicense: number;
  unlicensedMemberIds: string[];
}

/**
 * R-ANALYTICS-1: a team's analytics are accessible only if every member
 * except the leader holds a granted analytics licence (XPhone: TEAMDESK).
 */
export function teamAnalytics(
  catalog: Catalog,
  allocation: AllocationResult,
  team: { leaderId: string | null; memberIds: readonly string[] },
): TeamAnalytics {
  const product = catalog.teamAnalyticsProduct;
  if (product === null) return { allowed: true, membersRequiringLicense: 0, unlicensedMemberIds: [] };
  const needing = team.memberIds.filter((id) => id !== team.leaderId);
  const unlicensed = needing.filter((id) => !(allocation.users.get(id) ?? []).some((l) => l.product === product && l.status === 'GRANTED'));
  return { allowed: unlicensed.length === 0, membersRequiringLicense: needing.length, unlicensedMemberIds: unlicensed };
}

export interface AddOnCoverageRow {
  addOn: string;
  usersRequiring: number;
  coveredByBundle: number;
  purchased: number;
  shortfall: number;
}

/**
 * R-ADDON-1: per add-on, the users whose configuration uses it, how many a
 * bundle covers (Elite named: every holder; Elite concurrent: up to its seat
 * count), how many were bought, and how many are still to buy.
 */
export function addOnCoverage(
  catalog: Catalog,
  entitlements: readonly EntitlementView[],
  allocation: AllocationResult,
): AddOnCoverageRow[] {
  const bought = new Map(entitlements.map((e) => [e.product, e.quantity]));
  const rows: AddOnCoverageRow[] = [];
  for (const product of catalog.products) {
    if (product.kind !== 'ADDON' || product.allocation === 'ACCOUNT') continue;
    let requiring = 0;
    let covered = 0;
    for (const licenses of allocation.users.values()) {
      const l: UserLicense | undefined = licenses.find((x) => x.product === product.code);
      if (!l || l.rank === null) continue; // not configured, or covered without being configured
      requiring += 1;
      if (l.coveredBy !== null) covered += 1;
    }
    const purchased = bought.get(product.code) ?? 0;
    rows.push({
      addOn: product.code,
      usersRequiring: requiring,
      coveredByBundle: covered,
      purchased,
      shortfall: Math.max(0, requiring - covered - purchased),
    });
  }
  return rows;
}

export interface Advisory {
  code: AdvisoryCode;
  product: string;
  message: string;
}

/** Sizing advisories (XPhone: 1 IP channel per 25 users → CAPACITY_ADVISORY). */
export function capacityAdvisories(catalog: Catalog, entitlements: readonly EntitlementView[], activeUsers: number): Advisory[] {
  const totals = new Map(entitlements.map((e) => [e.product, e.total]));
  const advisories: Advisory[] = [];
  for (const product of catalog.products) {
    for (const a of product.advisories) {
      const recommended = Math.ceil(activeUsers / a.perUsers);
      const have = totals.get(product.code) ?? 0;
      if (have < recommended) {
        advisories.push({
          code: a.code,
          product: product.code,
          message: `${a.message} ${activeUsers} active users: ${recommended} ${product.code} recommended, ${have} licensed.`,
        });
      }
    }
  }
  return advisories;
}
