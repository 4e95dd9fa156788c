import type { Catalog } from '../catalogs/types.ts';
import { badInput } from '../errors.ts';

const MAX_NAME = 200;

/**
 * The most sites, and the most teams, one organization may have. They are
 * plain lists in the API (`Organization.sites`, `teams`), so the operation
 * cost (src/security/cost.ts) assumes this many of each: without a bound,
 * `sites { users(first: 40) { … } }` would do work no cost had priced.
 */
export const MAX_SITES_PER_ORGANIZATION = 500;
export const MAX_TEAMS_PER_ORGANIZATION = 500;
/** The most users one importUsers takes (the cost analysis multiplies its answer by the rows given). */
export const MAX_IMPORT_USERS = 5000;
/** The most ids one Query.nodes takes. */
export const MAX_NODE_IDS = 100;

// Control characters make names unprintable in admin front ends and logs;
// bidi overrides make a name display as something else (spoofing).
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point of this pattern
const CONTROL = /[\u0000-\u001f\u007f\u202a-\u202e\u2066-\u2069]/;
// Format characters (zero-width space, joiners …) are invisible on their own.
const INVISIBLE = /[\p{Cf}\s]/gu;

/** A display name: trimmed, 1..200 characters, no control characters. */
export function cleanName(field: string, value: string): string {
  const name = value.normalize('NFC').trim();
  if (name.replace(INVISIBLE, '').length === 0) throw badInput(field, 'must not be empty or invisible');
  if ([...name].length > MAX_NAME) throw badInput(field, `must be at most ${MAX_NAME} characters`);
  if (CONTROL.test(name)) throw badInput(field, 'must not contain control characters or bidirectional overrides');
  return name;
}

export function cleanOptionalText(field: string, value: string | null | undefined): string | null {
  if (value == null) return null;
  const text = value.trim();
  return text === '' ? null : cleanName(field, text);
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function cleanEmail(field: string, value: string | null | undefined): string | null {
  if (value == null || value.trim() === '') return null;
  const email = value.trim();
  if (email.length > 320 || !EMAIL.test(email) || CONTROL.test(email)) throw badInput(field, 'is not an e-mail address');
  return email;
}

/** Functions are products a user can hold; options must be ones the catalog knows. */
export function validateGroupConfig(
  catalog: Catalog,
  functions: readonly string[],
  options: readonly string[],
): { functions: string[]; options: string[] } {
  const seen = new Set<string>();
  functions.forEach((code, i) => {
    const product = catalog.products.find((p) => p.code === code);
    if (!product) throw badInput(`input.functions[${i}]`, `unknown product "${code}" in catalog ${catalog.code}`);
    if (product.allocation === 'ACCOUNT') {
      throw badInput(`input.functions[${i}]`, `${code} is held by the organization as a whole and cannot be a user function`);
    }
    if (!product.purchasable) throw badInput(`input.functions[${i}]`, `${code} comes only as part of another product`);
    seen.add(code);
  });
  const opts = new Set<string>();
  options.forEach((option, i) => {
    if (!catalog.options.includes(option)) {
      throw badInput(
        `input.options[${i}]`,
        `unknown option "${option}"; ${catalog.code} knows ${catalog.options.join(', ') || 'no options'}`,
      );
    }
    opts.add(option);
  });
  return { functions: [...seen], options: [...opts] };
}
