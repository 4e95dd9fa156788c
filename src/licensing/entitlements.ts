/**
 * What an organization is entitled to, from its key and catalog (R-BUNDLE-1):
 * bought quantities, bundle totals, units, and organization-scope
 * prerequisites. Pure: no I/O.
 *
 * @example
 * // 100 OFFICE + 50 OFFICE_PLUS bought:
 * entitlementsOf(xphone, key.entitlements).find((e) => e.product === 'OFFICE')?.total; // 150
 */
import type { Allocation, Catalog, Product } from '../catalogs/types.ts';
import type { KeyEntitlement } from '../keys/payload.ts';

export interface EntitlementView {
  product: string;
  /** Licences bought of this product itself. */
  quantity: number;
  /** quantity plus what bought bundles include of it (counted once: 150 Office, not 200). */
  total: number;
  allocation: Allocation;
  /** unitsPerLicense × total where the product has a unit; total otherwise. */
  unitsTotal: number;
  emergencyQuantity: number;
  overageAllowed: boolean;
  overageGraceMinutes: number;
}

function productOf(catalog: Catalog, code: string): Product | undefined {
  return catalog.products.find((p) => p.code === code);
}

/**
 * One row per product bought or included by something bought, in catalog
 * order. Products the catalog does not know are skipped (activation refuses
 * such keys, so none are stored).
 */
export function entitlementsOf(catalog: Catalog, bought: readonly KeyEntitlement[]): EntitlementView[] {
  const byCode = new Map(bought.map((e) => [e.product, e]));
  const included = new Map<string, number>();
  for (const e of bought) {
    const bundle = productOf(catalog, e.product);
    for (const inclusion of bundle?.includes ?? []) {
      if (!inclusion.countsTowardTotal) continue;
      included.set(inclusion.product, (included.get(inclusion.product) ?? 0) + e.quantity * inclusion.quantity);
    }
  }
  const rows: EntitlementView[] = [];
  for (const product of catalog.products) {
    const own = byCode.get(product.code);
    const total = (own?.quantity ?? 0) + (included.get(product.code) ?? 0);
    if (own === undefined && total === 0) continue;
    rows.push({
      product: product.code,
      quantity: own?.quantity ?? 0,
      total,
      allocation: own?.allocation ?? product.allocation,
      unitsTotal: product.unit === null ? total : total * product.unitsPerLicense,
      emergencyQuantity: own?.emergencyQuantity ?? 0,
      overageAllowed: own?.overageAllowed ?? product.overageAllowed,
      overageGraceMinutes: own?.overageGraceMinutes ?? product.overageGraceMinutes,
    });
  }
  return rows;
}

/** Units summed over products sharing a unit: SERVER + 2 ADDITIONAL_DATABASES = 30 DATA_SOURCE. */
export function unitTotals(catalog: Catalog, entitlements: readonly EntitlementView[]): { unit: string; total: number }[] {
  const totals = new Map<string, number>();
  for (const e of entitlements) {
    const unit = productOf(catalog, e.product)?.unit;
    if (unit) totals.set(unit, (totals.get(unit) ?? 0) + e.unitsTotal);
  }
  return [...totals].map(([unit, total]) => ({ unit, total })).sort((a, b) => a.unit.localeCompare(b.unit));
}

export interface PrerequisiteGap {
  product: string;
  /** The products of which at least `minQuantity` must be bought. */
  anyOf: string[];
  minQuantity: number;
  have: number;
  message: string;
}

/**
 * ORGANIZATION-scope requirements of every entitled product that the
 * entitlements do not meet, e.g. VOICEMAIL without at least 2 IP_CHANNEL
 * (R-NAMED-3). Conditional requirements depend on configuration-group options
 * and are checked per user, not here.
 */
export function organizationPrerequisiteGaps(catalog: Catalog, entitlements: readonly EntitlementView[]): PrerequisiteGap[] {
  const totals = new Map(entitlements.map((e) => [e.product, e.total]));
  const gaps: PrerequisiteGap[] = [];
  for (const e of entitlements) {
    if (e.total === 0) continue;
    const product = productOf(catalog, e.product);
    for (const req of product?.requirements ?? []) {
      if (req.scope !== 'ORGANIZATION' || req.condition !== null) continue;
      const have = req.anyOf.reduce((sum, code) => sum + (totals.get(code) ?? 0), 0);
      if (have >= req.minQuantity) continue;
      const needed = req.minQuantity > 1 ? `at least ${req.minQuantity} ${req.anyOf.join(' or ')}` : req.anyOf.join(' or ');
      gaps.push({
        product: e.product,
        anyOf: req.anyOf,
        minQuantity: req.minQuantity,
        have,
        message: `${e.product} requires ${needed} licensed for the organization; it has ${have}.`,
      });
    }
  }
  return gaps;
}
