/**
 * Whether an organization accepts a licence key whose signature checked out
 * (R-KEY-3, R-KEY-4): pure over the parsed payload, the organization row's
 * fields, its activated keys and what the database said of other
 * organizations. The checks run in one fixed order and the first that fails
 * names itself (`check`: the `extensions.rule` of INVALID_LICENSE_KEY).
 *
 * Two steps, as the activation learns what they need: `keyFitsOrganization`
 * (the organization row and its catalog), then `keyFitsKeys` (its activated
 * keys and the other organizations).
 *
 * @example
 * const first = keyFitsOrganization({ payload, catalog, org, catalogProductsProblem: null });
 * if (first) throw invalidLicenseKey(first.check, first.message);
 * const decision = keyFitsKeys({ payload, org, keys, now, elsewhere });
 */
import type { Catalog } from '../catalogs/types.ts';
import type { LicenseKeyPayload } from '../keys/payload.ts';
import { entitlementsOf } from './entitlements.ts';
import { effectiveInstant, governingKeys, keyTerm, type ActivatedKey } from './lifecycle.ts';

/** The largest value a seat pool's `integer` column and a GraphQL Int hold. */
export const INT32_MAX = 2_147_483_647;

/** The organization row's fields the checks look at. */
export interface KeyHolder {
  catalogCode: string;
  customerRef: string | null;
  clockHighWater: Date | null;
}

export interface KeyRefusal {
  check: string;
  message: string;
}

export interface OrganizationFitInput {
  payload: LicenseKeyPayload;
  /** The organization's catalog. */
  catalog: Catalog;
  org: KeyHolder;
  /** What the entitlements break of the catalog (keys/order.ts `checkAgainstCatalog`); null when they fit it. */
  catalogProductsProblem: string | null;
}

export interface KeysFitInput {
  payload: LicenseKeyPayload;
  org: KeyHolder;
  /** The organization's activated keys, in activation order. */
  keys: readonly ActivatedKey[];
  now: Date;
  /** The key id is activated by another organization; the customer reference is held by one (only asked while the organization has none). */
  elsewhere: { keyId: boolean; customerRef: boolean };
}

export type KeyAcceptance =
  | { kind: 'ACCEPT' }
  /** The key governs already (pasted again): nothing to do. */
  | { kind: 'ALREADY_GOVERNING' }
  | { kind: 'REFUSE'; check: string; message: string };

const refuse = (check: string, message: string): KeyRefusal & { kind: 'REFUSE' } => ({ kind: 'REFUSE', check, message });

/** The key is for this organization's catalog and customer, and what it entitles fits the catalog and the integer columns. */
export function keyFitsOrganization(input: OrganizationFitInput): KeyRefusal | null {
  const { payload, org } = input;
  if (payload.catalog !== org.catalogCode) {
    return refuse('CATALOG_MISMATCH', `the key is for catalog ${payload.catalog}, this organization uses ${org.catalogCode}`);
  }
  if (org.customerRef !== null && payload.customerRef !== org.customerRef) {
    return refuse(
      'CUSTOMER_MISMATCH',
      `the key is for customer ${payload.customerRef}, not for this organization's customer reference ${org.customerRef}`,
    );
  }
  if (input.catalogProductsProblem !== null) return refuse('CATALOG_PRODUCTS', input.catalogProductsProblem);
  // Bundles multiply and units scale what a key lists: every derived figure must fit the integer columns too.
  for (const view of entitlementsOf(input.catalog, payload.entitlements)) {
    const largest = Math.max(view.total, view.unitsTotal, view.total + view.emergencyQuantity);
    if (largest > INT32_MAX)
      return refuse(
        'CATALOG_PRODUCTS',
        `${view.product}: the key entitles ${largest} licences or units in catalog ${payload.catalog}; at most ${INT32_MAX}`,
      );
  }
  return null;
}

/**
 * The key is new to the gateway and to the organization's customer
 * reference, is issued after the key that governs, and has not ended; or it
 * is the governing key pasted again.
 */
export function keyFitsKeys(input: KeysFitInput): KeyAcceptance {
  const { payload, org, keys } = input;
  const existing = keys.find((k) => k.payload.keyId === payload.keyId);
  if (existing) {
    // Pasting the governing key again is harmless; re-activating an older one would roll entitlements back.
    if (existing.seq === keys.at(-1)?.seq) return { kind: 'ALREADY_GOVERNING' };
    return refuse('SUPERSEDED', `key ${payload.keyId} was activated before and has since been replaced by a newer key`);
  }
  // A key activates once in the whole gateway; a customer reference belongs to one organization (R-KEY-3).
  if (input.elsewhere.keyId) {
    return refuse(
      'CUSTOMER_MISMATCH',
      `key ${payload.keyId} was already activated by another organization; a key activates on one organization only`,
    );
  }
  if (org.customerRef === null && input.elsewhere.customerRef) {
    return refuse('CUSTOMER_MISMATCH', `the key is for customer reference ${payload.customerRef}, which is held by another organization`);
  }
  // Latest-activated wins (R-KEY-4), so a key issued before the one that governs would roll it back.
  const effectiveAt = effectiveInstant(input.now, org.clockHighWater);
  const { current, pendingKey } = governingKeys(keys, effectiveAt);
  const governing = [current, pendingKey].filter((k) => k !== null);
  const newest = governing.reduce<ActivatedKey | null>((a, k) => (a === null || k.payload.issuedAt > a.payload.issuedAt ? k : a), null);
  if (newest !== null && payload.issuedAt < newest.payload.issuedAt) {
    return refuse(
      'SUPERSEDED',
      `key ${payload.keyId} was issued at ${payload.issuedAt}, before the governing key ${newest.payload.keyId} (issued ${newest.payload.issuedAt}); only a key issued later can replace it`,
    );
  }
  const term = keyTerm(payload);
  if (term.graceUntil.getTime() <= effectiveAt.getTime()) {
    return refuse(
      'EXPIRED',
      `the key's term ended at ${term.validUntil.toISOString()} and its grace period at ${term.graceUntil.toISOString()}`,
    );
  }
  return { kind: 'ACCEPT' };
}
