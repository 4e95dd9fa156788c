/**
 * The vendor's ORDER JSON (R-KEY-2): what a sales order says, turned into a
 * key payload. Orders are written by people, so dates may be plain dates,
 * terms fall back to defaults, and every error names the field to fix.
 *
 * @example
 * const payload = orderToPayload(JSON.parse(text), clock.now(), getCatalog);
 * const key = issueKey(payload, privateKeyPem);
 */
import { randomUUID } from 'node:crypto';
import {
  FieldReader,
  KEY_BOUNDS,
  KeyFormatError,
  dateOrInstant,
  readEntitlements,
  readTerms,
  text,
  type LicenseKeyPayload,
} from './payload.ts';

/** What the order check needs of a catalog; `Catalog` from src/catalogs fits it. */
export interface CatalogProductInfo {
  code: string;
  allocation: string;
  allocationChoices: readonly string[];
  /** Absent means "not known", which allows emergency quantities. */
  emergencyAllowed?: boolean;
  /** False for products that exist only as part of a bundle. */
  purchasable?: boolean;
}

export interface CatalogInfo {
  products: readonly CatalogProductInfo[];
}

export type CatalogLookup = (code: string) => CatalogInfo | null | undefined;

/**
 * Checks entitlements against the catalog they name: known product, sold on
 * its own, an allocation the product allows, emergency seats only where sold.
 *
 * @throws KeyFormatError naming the entitlement field
 */
export function checkAgainstCatalog(payload: LicenseKeyPayload, catalog: CatalogInfo): void {
  payload.entitlements.forEach((e, i) => {
    const at = (field: string, message: string): KeyFormatError =>
      new KeyFormatError(`entitlements[${i}].${field}`, `entitlements[${i}].${field}: ${message}`);
    const product = catalog.products.find((p) => p.code === e.product);
    if (!product) throw at('product', `unknown product ${e.product} in catalog ${payload.catalog}`);
    if (product.purchasable === false) {
      throw at('product', `${e.product} is part of a bundle in catalog ${payload.catalog} and is not sold on its own`);
    }
    if (e.allocation !== null && e.allocation !== product.allocation && !product.allocationChoices.includes(e.allocation)) {
      const allowed = [...new Set([product.allocation, ...product.allocationChoices])].join(' or ');
      throw at('allocation', `${e.product} is allocated ${allowed}, not ${e.allocation}`);
    }
    if (e.emergencyQuantity > 0 && product.emergencyAllowed === false) {
      throw at('emergencyQuantity', `${e.product} has no emergency seats in catalog ${payload.catalog}`);
    }
  });
}

/**
 * Validates an order and builds the payload to sign. `keyId` defaults to a
 * random UUID, `issuedAt` is `now`; with `knownCatalog` the catalog code and
 * the products are checked too.
 *
 * @throws KeyFormatError naming the field
 */
export function orderToPayload(raw: unknown, now: Date, knownCatalog?: CatalogLookup): LicenseKeyPayload {
  const r = new FieldReader(raw, '', 'order');
  const payload: LicenseKeyPayload = {
    v: 1,
    keyId: r.optional('keyId', text(KEY_BOUNDS.idLength), null) ?? randomUUID(),
    customerRef: r.required('customerRef', text(KEY_BOUNDS.idLength)),
    catalog: r.required('catalog', text(KEY_BOUNDS.codeLength)),
    validFrom: r.required('validFrom', dateOrInstant),
    ...readTerms(r),
    issuedAt: now.toISOString(),
    entitlements: readEntitlements(r, 1),
  };
  r.rejectUnknown();
  if (knownCatalog) {
    const catalog = knownCatalog(payload.catalog);
    if (!catalog) throw new KeyFormatError('catalog', `catalog: unknown catalog ${payload.catalog}`);
    checkAgainstCatalog(payload, catalog);
  }
  return payload;
}
