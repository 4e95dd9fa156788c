/**
 * Facts a licence's holder must have besides other licences (R-2FA-2): the
 * connect storm ADMINISTRATOR licence needs a hardware security key enrolled
 * for its user (seed 004: administrators need an RSA security key for
 * two-factor authentication). The catalog names them per product
 * (`holderRequires`); an administrator records the fact per user
 * (setUserSecurityKeyEnrolled). Until it is recorded the licence shows as an
 * unmet prerequisite in `User.licenses`, `User.explain` and the user's
 * warnings. The seat stays bound to the user meanwhile (a fixed seat
 * serves one named user, R-FIX-1), so recording the key completes it.
 *
 * @example
 * withHolderFacts(license, product, new Set()); // { …license, status: 'MISSING_PREREQUISITE', missing: ['a hardware security key …'] }
 */
import type { Catalog, HolderFact, Product } from '../catalogs/types.ts';
import type { UserLicense } from './allocation.ts';

const WORDS: Record<HolderFact, string> = {
  SECURITY_KEY: 'a hardware security key enrolled for the user (setUserSecurityKeyEnrolled, R-2FA-2)',
};

/** The holder facts `product` needs that `facts` lacks, in words. */
export function holderGaps(product: Pick<Product, 'holderRequires'>, facts: ReadonlySet<HolderFact>): string[] {
  return (product.holderRequires ?? []).filter((fact) => !facts.has(fact)).map((fact) => WORDS[fact]);
}

/** True when some licence of the catalog needs a holder fact (callers read the facts only then). */
export function needsHolderFacts(product: Pick<Product, 'holderRequires'> | undefined): boolean {
  return (product?.holderRequires?.length ?? 0) > 0;
}

/**
 * The licence as the user's facts leave it: a GRANTED licence whose holder
 * lacks a required fact is MISSING_PREREQUISITE naming it; anything else is
 * returned unchanged.
 */
export function withHolderFacts(
  license: UserLicense,
  product: Pick<Product, 'holderRequires'>,
  facts: ReadonlySet<HolderFact>,
): UserLicense {
  if (license.status !== 'GRANTED') return license;
  const gaps = holderGaps(product, facts);
  if (gaps.length === 0) return license;
  return { ...license, status: 'MISSING_PREREQUISITE', missing: [...license.missing, ...gaps] };
}

/** Whether some licence of `licenses` is GRANTED and needs a holder fact: only then are the holder's facts read. */
export function holdsLicenceNeedingFacts(
  catalog: Pick<Catalog, 'products'>,
  licenses: readonly { product: string; status: string }[],
): boolean {
  return licenses.some((l) => l.status === 'GRANTED' && needsHolderFacts(catalog.products.find((p) => p.code === l.product)));
}

/** Every licence of a user as the user's facts leave them (`withHolderFacts` of each). */
export function licensesWithFacts(
  catalog: Pick<Catalog, 'products'>,
  licenses: readonly UserLicense[],
  facts: ReadonlySet<HolderFact>,
): UserLicense[] {
  return licenses.map((l) => {
    const product = catalog.products.find((p) => p.code === l.product);
    return product ? withHolderFacts(l, product, facts) : l;
  });
}

/**
 * A session start's view of the user's stored grants (product code to
 * status) as the user's facts leave them (R-2FA-2, R-NAMED-5): a GRANTED
 * licence whose holder lacks a required fact is MISSING_PREREQUISITE, and
 * `gaps` says what is missing, so that it is not the user's access.
 */
export function grantsWithFacts(
  catalog: Pick<Catalog, 'products'>,
  grants: ReadonlyMap<string, string>,
  facts: ReadonlySet<HolderFact>,
): { grants: Map<string, string>; gaps: Map<string, string[]> } {
  const result = new Map(grants);
  const gaps = new Map<string, string[]>();
  for (const [code, status] of grants) {
    const product = catalog.products.find((p) => p.code === code);
    if (status !== 'GRANTED' || !product) continue;
    const missing = holderGaps(product, facts);
    if (missing.length === 0) continue;
    result.set(code, 'MISSING_PREREQUISITE');
    gaps.set(code, missing);
  }
  return { grants: result, gaps };
}
