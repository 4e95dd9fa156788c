import type { Catalog, HolderFact } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { UserLicense } from '../licensing/allocation.ts';
import { needsHolderFacts, withHolderFacts } from '../licensing/holder-facts.ts';
import { appendEvents } from '../events/events.repository.ts';
import type { User } from '../tenancy/domain.ts';
import { getUser, lockOrganizationFor } from '../tenancy/access.ts';
import { actorOf } from '../auth/viewer.ts';
import { setSecurityKey, usersWithSecurityKey } from './security-keys.repository.ts';

/**
 * Records that a user has (or no longer has) a hardware security key
 * enrolled, in one transaction with its USER_SECURITY_KEY_CHANGED event
 * (R-2FA-2, R-EVENT-1). ADMIN of the user's organization or the operator
 * (reach `admin`); another organization's user is NOT_FOUND (R-SEC-2).
 * Takes the organization row first, as every write (src/sessions/lock-order.ts).
 *
 * @example
 * await setUserSecurityKeyEnrolled(ctx, { userId, enrolled: true }); // the user's ADMINISTRATOR licence is complete
 */
export async function setUserSecurityKeyEnrolled(ctx: Context, input: { userId: string; enrolled: boolean }): Promise<User> {
  return ctx.db.transaction().execute(async (trx) => {
    const user = await getUser(ctx, input.userId, 'write', trx);
    await lockOrganizationFor(ctx, trx, user.organization_id, 'write');
    const changed = await setSecurityKey(trx, user.organization_id, user.id, input.enrolled ? ctx.clock.now() : null);
    if (changed) {
      await appendEvents(trx, [
        {
          organizationId: user.organization_id,
          type: 'USER_SECURITY_KEY_CHANGED',
          at: ctx.clock.now(),
          userId: user.id,
          detail: input.enrolled ? 'enrolled' : 'removed',
          ...actorOf(ctx.viewer),
        },
      ]);
    }
    return user;
  });
}

/** Whether the user has a security key enrolled. */
export async function hasSecurityKey(ctx: Context, user: Pick<User, 'organization_id' | 'id'>): Promise<boolean> {
  return (await usersWithSecurityKey(ctx.db, user.organization_id, [user.id])).has(user.id);
}

/**
 * A user's licences as their recorded facts leave them (R-2FA-2): a licence
 * whose holder needs a security key shows MISSING_PREREQUISITE until one is
 * enrolled. Reads the fact only when such a licence is granted (one short
 * query; few users hold one, e.g. ADMINISTRATOR).
 */
export async function licensesWithHolderFacts(
  ctx: Context,
  catalog: Catalog,
  user: Pick<User, 'organization_id' | 'id'>,
  licenses: readonly UserLicense[],
): Promise<UserLicense[]> {
  const productOf = (code: string) => catalog.products.find((p) => p.code === code);
  if (!licenses.some((l) => l.status === 'GRANTED' && needsHolderFacts(productOf(l.product)))) return [...licenses];
  const facts = new Set<HolderFact>((await hasSecurityKey(ctx, user)) ? ['SECURITY_KEY'] : []);
  return licenses.map((l) => {
    const product = productOf(l.product);
    return product ? withHolderFacts(l, product, facts) : l;
  });
}
