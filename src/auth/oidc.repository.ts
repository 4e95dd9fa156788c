import type { Executor } from '../db/database.ts';
import { isId } from '../ids.ts';

/* The SQL of OpenID Connect sign-in: which organization a token's organization claim names. */

/**
 * The id of the organization `value` names: its id, or else its customer
 * reference (unique, migration 0008). Undefined when it names none.
 *
 * @example
 * await organizationNamedBy(db, 'CUST-40950'); // '0193…' or undefined
 */
export async function organizationNamedBy(db: Executor, value: string): Promise<string | undefined> {
  // An id wins over a customer reference that happens to spell another organization's id; ids are uuid columns.
  if (isId(value)) {
    const byId = await db.selectFrom('organizations').select('id').where('id', '=', value).executeTakeFirst();
    if (byId) return byId.id;
  }
  const byRef = await db.selectFrom('organizations').select('id').where('customer_ref', '=', value).limit(1).executeTakeFirst();
  return byRef?.id;
}
