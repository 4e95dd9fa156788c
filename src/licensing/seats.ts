/**
 * Which products a session takes seats of (R-CONC-1), and the demo pool
 * (R-DEMO-1). A product's allocation is the key's choice where the key made
 * one (Zoom tiers: NAMED or CONCURRENT), the catalog's otherwise; the
 * concurrent seat products are the USER products allocated CONCURRENT. Pure.
 *
 * @example
 * concurrentSeatProducts(storm, entitlements).map((p) => p.code); // ['AGENT_SEAT', 'SUPERVISOR_SEAT']
 */
import type { Allocation, Catalog, Product } from '../catalogs/types.ts';

/** The pseudo-product of the demo pool: at most demoAgentLimit sessions in NONE, PENDING and DEMO (R-DEMO-1). */
export const DEMO_POOL = '*DEMO';

/** The organization's entitled products with their allocation (`EntitlementView`s, or a map of them by product code). */
export type EntitledAllocations = readonly { product: string; allocation: Allocation }[] | ReadonlyMap<string, { allocation: Allocation }>;

/** The allocation `product` has for the organization: the key's choice, else the catalog's. */
export function allocationOf(product: Product, entitled: EntitledAllocations): Allocation {
  const chosen = isMap(entitled) ? entitled.get(product.code) : entitled.find((e) => e.product === product.code);
  return chosen?.allocation ?? product.allocation;
}

const isMap = (entitled: EntitledAllocations): entitled is ReadonlyMap<string, { allocation: Allocation }> => entitled instanceof Map;

/** The concurrent seat products of the catalog for the organization, in catalog order: a session takes one seat of each the user is eligible for. */
export function concurrentSeatProducts(catalog: Catalog, entitled: EntitledAllocations): Product[] {
  return catalog.products.filter((p) => p.kind === 'USER' && allocationOf(p, entitled) === 'CONCURRENT');
}

/**
 * The user licences that let their holder log in without a concurrent seat
 * (R-NAMED-5, R-FIX-1): USER products allocated NAMED or FIXED_SEAT for the
 * organization (Zoom tiers on the named model, connect storm's fixed seats).
 * A base licence that a concurrent seat product requires (connect storm
 * BASE: it lets a named user exist, the seat lets them log in) is none.
 */
export function loginLicences(catalog: Catalog, entitled: EntitledAllocations): Product[] {
  const seats = concurrentSeatProducts(catalog, entitled);
  const bases = new Set(seats.flatMap((p) => p.requirements.filter((r) => r.scope === 'USER').flatMap((r) => r.anyOf)));
  return catalog.products.filter((p) => {
    const allocation = allocationOf(p, entitled);
    return p.kind === 'USER' && (allocation === 'NAMED' || allocation === 'FIXED_SEAT') && !bases.has(p.code);
  });
}
