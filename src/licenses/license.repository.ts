import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import { type LicenseKey, licenseKeyOf } from './license-key.ts';
import { type Organization, organizationOf } from '../tenancy/domain.ts';

export async function keysOfOrganizations(db: Executor, organizationIds: readonly string[]): Promise<LicenseKey[]> {
  const rows = await db.selectFrom('license_keys').selectAll().where('organization_id', 'in', organizationIds).orderBy('seq').execute();
  return rows.map(licenseKeyOf);
}

/** Inserts an activated key and returns the stored row, as `keysOfOrganizations` reads it. */
export async function insertKey(
  db: Executor,
  row: { organization_id: string; key_id: string; kid: string; payload: unknown; raw: string; activated_at: Date; activated_by: string },
): Promise<LicenseKey> {
  const stored = await db
    .insertInto('license_keys')
    .values({ ...row, payload: JSON.stringify(row.payload) })
    .returningAll()
    .executeTakeFirstOrThrow();
  return licenseKeyOf(stored);
}

export async function bindCustomerRef(db: Executor, organizationId: string, customerRef: string): Promise<void> {
  await db
    .updateTable('organizations')
    .set({ customer_ref: customerRef })
    .where('id', '=', organizationId)
    .where('customer_ref', 'is', null)
    .execute();
}

/**
 * Raises the organization's high-water time to `now` (R-LIFE-6). Written at
 * most once a minute per organization, and never lowered. With
 * `databaseBoundMs` (the clock of record, see src/db/db-clock.ts) the mark is
 * capped at the database's now() plus that bound: no instance can push a mark
 * into the future, whatever its clock says.
 */
export async function observeClock(db: Executor, organizationId: string | null, now: Date, databaseBoundMs?: number): Promise<void> {
  const mark =
    databaseBoundMs === undefined
      ? sql<Date>`${now}::timestamptz`
      : sql<Date>`least(${now}::timestamptz, now() + ${databaseBoundMs}::double precision * interval '1 millisecond')`;
  let q = db
    .updateTable('organizations')
    .set({ clock_high_water: mark })
    .where((eb) => eb.or([eb('clock_high_water', 'is', null), eb('clock_high_water', '<', sql<Date>`${mark} - interval '60 seconds'`)]));
  if (organizationId) q = q.where('id', '=', organizationId);
  await q.execute();
}

export async function recordLicenseState(
  db: Executor,
  organizationId: string,
  state: { state: string; keyId: string | null; checkAt: Date | null },
): Promise<void> {
  await db
    .updateTable('organizations')
    .set({ license_state: state.state, license_key_id: state.keyId, license_check_at: state.checkAt })
    .where('id', '=', organizationId)
    .execute();
}

/** The unique indexes of migration 0008: a key id activates once, a customer reference belongs to one organization. */
export const KEY_ID_UNIQUE = 'license_keys_key_id_uq';
export const CUSTOMER_REF_UNIQUE = 'organizations_customer_ref_uq';

export async function keyIdActivatedElsewhere(db: Executor, keyId: string, organizationId: string): Promise<boolean> {
  const row = await db
    .selectFrom('license_keys')
    .select('organization_id')
    .where('key_id', '=', keyId)
    .where('organization_id', '<>', organizationId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

export async function customerRefHeldElsewhere(db: Executor, customerRef: string, organizationId: string): Promise<boolean> {
  const row = await db
    .selectFrom('organizations')
    .select('id')
    .where('customer_ref', '=', customerRef)
    .where('id', '<>', organizationId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Organizations whose licence state is due to change by time, the most overdue first (not locked: see lockDueStateCheck). */
export async function dueStateChecks(db: Executor, now: Date, limit: number): Promise<string[]> {
  const rows = await db
    .selectFrom('organizations')
    .select('id')
    .where('license_check_at', '<=', now)
    .orderBy('license_check_at')
    .limit(limit)
    .execute();
  return rows.map((r) => r.id);
}

/**
 * The organization's row, locked for this transaction, if its licence state
 * is still due to change; undefined when another instance holds it (SKIP
 * LOCKED) or already recorded it, so several sweepers never emit the same
 * STATE_CHANGED twice.
 */
export async function lockDueStateCheck(db: Executor, organizationId: string, now: Date): Promise<Organization | undefined> {
  const row = await db
    .selectFrom('organizations')
    .selectAll()
    .where('id', '=', organizationId)
    .where('license_check_at', '<=', now)
    // The organization row's lock of the one lock order (src/sessions/lock-order.ts): FOR NO KEY UPDATE, which the
    // foreign-key checks of a concurrent session start (FOR KEY SHARE) do not wait for.
    .forNoKeyUpdate()
    .modifyEnd(sql`skip locked`)
    .executeTakeFirst();
  return row && organizationOf(row);
}
