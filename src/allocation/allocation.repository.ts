import type { Executor } from '../db/database.ts';
import type { AssignmentRow, LicenseSlotRow, UserSettingRow } from '../db/schema.ts';
import { type User, userOf } from '../tenancy/domain.ts';

/*
 * The SQL of the organization's licensing state: the allocation's inputs (users with their group's
 * options, configured products, base licence slots), what stores its result (grants, seat pools) and
 * the writes of a configuration change that the allocation follows (assignments, released settings).
 */

export interface AllocationUserRow extends User {
  group_options: string[] | null;
}

/** Every user of the organization with their group's options: the allocation's input. */
export async function usersWithOptions(db: Executor, organizationId: string): Promise<AllocationUserRow[]> {
  const rows = await db
    .selectFrom('users')
    .leftJoin('configuration_groups as g', (j) =>
      j.onRef('g.organization_id', '=', 'users.organization_id').onRef('g.id', '=', 'users.configuration_group_id'),
    )
    .selectAll('users')
    .select('g.options as group_options')
    .where('users.organization_id', '=', organizationId)
    .orderBy('users.id')
    .execute();
  return rows.map(userOf);
}

export function assignmentsOf(db: Executor, organizationId: string): Promise<AssignmentRow[]> {
  return db.selectFrom('assignments').selectAll().where('organization_id', '=', organizationId).execute();
}

export function slotsOf(db: Executor, organizationId: string): Promise<LicenseSlotRow[]> {
  return db.selectFrom('license_slots').selectAll().where('organization_id', '=', organizationId).execute();
}

export async function insertAssignments(db: Executor, rows: readonly AssignmentRow[]): Promise<void> {
  // Chunks keep a statement's parameters below PGlite's 32,767.
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('assignments')
      .values(rows.slice(i, i + 1000))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}

export async function deleteAssignment(
  db: Executor,
  organizationId: string,
  userId: string,
  product: string,
  source: 'DIRECT' | 'GROUP',
): Promise<void> {
  await db
    .deleteFrom('assignments')
    .where('organization_id', '=', organizationId)
    .where('user_id', '=', userId)
    .where('product_code', '=', product)
    .where('source', '=', source)
    .execute();
}

/** Settings of the given (user, function) pairs; deleted when the function goes away (R-NAMED-4). */
export async function deleteSettings(
  db: Executor,
  organizationId: string,
  pairs: readonly { userId: string; product: string }[],
): Promise<UserSettingRow[]> {
  const deleted: UserSettingRow[] = [];
  for (const { userId, product } of pairs) {
    const rows = await db
      .deleteFrom('user_settings')
      .where('organization_id', '=', organizationId)
      .where('user_id', '=', userId)
      .where('product_code', '=', product)
      .returningAll()
      .execute();
    deleted.push(...rows);
  }
  return deleted;
}

export async function upsertSlot(db: Executor, row: LicenseSlotRow): Promise<void> {
  await db
    .insertInto('license_slots')
    .values(row)
    .onConflict((oc) =>
      oc
        .columns(['organization_id', 'product_code', 'slot_no'])
        .doUpdateSet({ holder_user_id: row.holder_user_id, window_start: row.window_start, early_used: row.early_used }),
    )
    .execute();
}

/**
 * Upserts many slot rows, 1,000 per statement: one statement-level revision
 * bump per chunk instead of one per slot (a transaction that updates the
 * organization row thousands of times reads ever longer version chains).
 */
export async function upsertSlots(db: Executor, rows: readonly LicenseSlotRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    await db
      .insertInto('license_slots')
      .values(rows.slice(i, i + 1000))
      .onConflict((oc) =>
        oc.columns(['organization_id', 'product_code', 'slot_no']).doUpdateSet((eb) => ({
          holder_user_id: eb.ref('excluded.holder_user_id'),
          window_start: eb.ref('excluded.window_start'),
          early_used: eb.ref('excluded.early_used'),
        })),
      )
      .execute();
  }
}

export function grantsOf(db: Executor, organizationId: string): Promise<{ user_id: string; product_code: string; status: string }[]> {
  return db.selectFrom('user_grants').select(['user_id', 'product_code', 'status']).where('organization_id', '=', organizationId).execute();
}

export async function upsertGrants(
  db: Executor,
  organizationId: string,
  rows: readonly { userId: string; product: string; status: string }[],
): Promise<void> {
  for (let i = 0; i < rows.length; i += 1000) {
    const chunk = rows
      .slice(i, i + 1000)
      .map((r) => ({ organization_id: organizationId, user_id: r.userId, product_code: r.product, status: r.status }));
    await db
      .insertInto('user_grants')
      .values(chunk)
      .onConflict((oc) =>
        oc.columns(['organization_id', 'user_id', 'product_code']).doUpdateSet((eb) => ({ status: eb.ref('excluded.status') })),
      )
      .execute();
  }
}

export async function deleteGrants(
  db: Executor,
  organizationId: string,
  pairs: readonly { userId: string; product: string }[],
): Promise<void> {
  const byProduct = new Map<string, string[]>();
  for (const { userId, product } of pairs) byProduct.set(product, [...(byProduct.get(product) ?? []), userId]);
  for (const [product, userIds] of byProduct) {
    for (let i = 0; i < userIds.length; i += 1000) {
      await db
        .deleteFrom('user_grants')
        .where('organization_id', '=', organizationId)
        .where('product_code', '=', product)
        .where('user_id', 'in', userIds.slice(i, i + 1000))
        .execute();
    }
  }
}

/** Pool sizes from the entitlements; in_use is never touched here. */
export async function upsertPools(
  db: Executor,
  rows: readonly {
    organization_id: string;
    product_code: string;
    capacity: number;
    emergency_capacity: number;
    overage_allowed: boolean;
    overage_grace_minutes: number;
  }[],
): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto('seat_pools')
    .values([...rows])
    .onConflict((oc) =>
      oc.columns(['organization_id', 'product_code']).doUpdateSet((eb) => ({
        capacity: eb.ref('excluded.capacity'),
        emergency_capacity: eb.ref('excluded.emergency_capacity'),
        overage_allowed: eb.ref('excluded.overage_allowed'),
        overage_grace_minutes: eb.ref('excluded.overage_grace_minutes'),
      })),
    )
    .execute();
}

export function poolsOf(db: Executor, organizationId: string) {
  return db.selectFrom('seat_pools').selectAll().where('organization_id', '=', organizationId).execute();
}

/** The organization's change counter (migration 0005), as this executor sees it now. */
export async function organizationRevision(db: Executor, organizationId: string): Promise<number | undefined> {
  const row = await db.selectFrom('organizations').select('revision').where('id', '=', organizationId).executeTakeFirst();
  return row?.revision;
}
