import type { AllocationView } from '../allocation/view.ts';
import type { Catalog, HolderFact } from '../catalogs/types.ts';
import type { Context } from '../context.ts';
import type { UserLicense } from '../licensing/allocation.ts';
import { holdsLicenceNeedingFacts, licensesWithFacts } from '../licensing/holder-facts.ts';
import { userKey } from '../schema/loaders.ts';
import { withTransaction } from '../db/transaction.ts';
import { appendEvents } from '../events/events.repository.ts';
import type { User } from '../tenancy/domain.ts';
import { getUser, lockOrganizationFor } from '../tenancy/access.ts';
import { actorOf } from '../auth/viewer.ts';
import { setSecurityKey } from './security-keys.repository.ts';

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
  const user = await withTransaction(ctx.db, async (trx) => {
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
  // After the commit: a run retried (withTransaction) or rolled back leaves the request's loader as it was.
  ctx.loaders.securityKey.clear(userKey(user.organization_id, user.id));
  return user;
}

/** Whether the user has a security key enrolled (batched per organization by the request's loader). */
export function hasSecurityKey(ctx: Context, user: Pick<User, 'organization_id' | 'id'>): Promise<boolean> {
  return ctx.loaders.securityKey.load(userKey(user.organization_id, user.id));
}

const factsOf = async (ctx: Context, user: Pick<User, 'organization_id' | 'id'>): Promise<Set<HolderFact>> =>
  new Set<HolderFact>((await hasSecurityKey(ctx, user)) ? ['SECURITY_KEY'] : []);

/**
 * A user's licences as their recorded facts leave them (R-2FA-2): a licence
 * whose holder needs a security key shows MISSING_PREREQUISITE until one is
 * enrolled. Reads the fact only when such a licence is granted (few users
 * hold one, e.g. ADMINISTRATOR), batched with the other users of the request.
 */
export async function licensesWithHolderFacts(
  ctx: Context,
  catalog: Catalog,
  user: Pick<User, 'organization_id' | 'id'>,
  licenses: readonly UserLicense[],
): Promise<UserLicense[]> {
  if (!holdsLicenceNeedingFacts(catalog, licenses)) return [...licenses];
  return licensesWithFacts(catalog, licenses, await factsOf(ctx, user));
}

/**
 * The licences of the view's users as their recorded facts leave them, for
 * `userIds` (all of the view's users when absent): what warnings and the
 * `hasWarnings` filter decide by (R-2FA-2). Facts are read for the holders of
 * a licence that needs one only, in one query for the organization.
 */
export async function holderLicensesOf(
  ctx: Context,
  view: AllocationView,
  userIds: readonly string[] = view.users.map((u) => u.id),
): Promise<(userId: string) => UserLicense[]> {
  const allocated = (id: string) => view.result.users.get(id) ?? [];
  const holders = userIds.filter((id) => holdsLicenceNeedingFacts(view.catalog, allocated(id)));
  const changed = new Map<string, UserLicense[]>();
  await Promise.all(
    holders.map(async (id) => {
      const facts = await factsOf(ctx, { organization_id: view.org.id, id });
      changed.set(id, licensesWithFacts(view.catalog, allocated(id), facts));
    }),
  );
  return (id) => changed.get(id) ?? allocated(id);
}
