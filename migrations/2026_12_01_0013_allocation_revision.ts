import type { Kysely } from 'kysely';

/*
 * The named-licence allocation as the last write that computed it stored it,
 * with the organization's `revision` (migration 0005) its inputs had: a
 * just-started gateway serves the licence mapping from this row, without
 * reading every user, assignment and slot, while the organization's current
 * revision is still the recorded one (any later change of an input bumps the
 * revision, whoever writes it). `figures` holds what the mapping takes from
 * the allocation (per product), the instant-dependent values it was computed
 * with (full use, entitlements) and, per product with a reassignment
 * cool-down, the slot summary with the span of instants over which it holds;
 * `catalog_fingerprint` names the catalog text it was computed with. A reader
 * whose state differs in any of them computes as before. One row per
 * organization, written under its row lock; it goes with the organization.
 * No trigger bumps the revision for this table: it is derived state.
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('stored_allocations')
    .addColumn('organization_id', 'uuid', (c) => c.primaryKey().references('organizations.id').onDelete('cascade'))
    .addColumn('revision', 'bigint', (c) => c.notNull())
    .addColumn('catalog_fingerprint', 'text', (c) => c.notNull())
    .addColumn('computed_at', 'timestamptz', (c) => c.notNull())
    .addColumn('figures', 'jsonb', (c) => c.notNull())
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('stored_allocations').execute();
}
