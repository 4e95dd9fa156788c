import type { Executor } from '../db/database.ts';

/* The SQL of the users' security keys (R-2FA-2, migration 0011). */

/** Which of `userIds` (of one organization) have a security key enrolled. */
export async function usersWithSecurityKey(db: Executor, organizationId: string, userIds: readonly string[]): Promise<Set<string>> {
  if (userIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('user_security_keys')
    .select('user_id')
    .where('organization_id', '=', organizationId)
    .where('user_id', 'in', userIds)
    .execute();
  return new Set(rows.map((r) => r.user_id));
}

/** Records (at `at`) or removes (null) the user's security key; true when that changed anything. */
export async function setSecurityKey(db: Executor, organizationId: string, userId: string, at: Date | null): Promise<boolean> {
  if (at === null) {
    const result = await db
      .deleteFrom('user_security_keys')
      .where('organization_id', '=', organizationId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }
  const result = await db
    .insertInto('user_security_keys')
    .values({ organization_id: organizationId, user_id: userId, enrolled_at: at })
    .onConflict((oc) => oc.columns(['organization_id', 'user_id']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
}
