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
import type { HolderFact, Product } from '../catalogs/types.ts';
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
