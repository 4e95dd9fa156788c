import { sql, type Kysely } from 'kysely';

/*
 * Seat reservations and caps per site and configuration group (R-RES). A
 * bound row is set on a site (configuration_group_id null) or on a group
 * (site_id is the group's site): `reserved` seats of the product are kept for
 * the unit's members, `cap` (null: none) bounds how many they hold at once.
 * The rows go with their site or group (cascade). A seat counts against the
 * site and group its holder had when it was taken: session_seats records
 * them (nullable: seats taken before this migration count against no unit).
 * Adding nullable columns without a default rewrites no rows.
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('seat_bounds')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('site_id', 'uuid', (c) => c.notNull())
    .addColumn('configuration_group_id', 'uuid')
    .addColumn('reserved', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('cap', 'integer')
    .addForeignKeyConstraint('seat_bounds_site_fk', ['organization_id', 'site_id'], 'sites', ['organization_id', 'id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .addForeignKeyConstraint(
      'seat_bounds_group_fk',
      ['organization_id', 'configuration_group_id'],
      'configuration_groups',
      ['organization_id', 'id'],
      (fk) => fk.onDelete('cascade'),
    )
    .addCheckConstraint('seat_bounds_reserved_ck', sql`reserved >= 0`)
    .addCheckConstraint('seat_bounds_cap_ck', sql`cap is null or cap >= reserved`)
    .execute();
  await db.schema
    .createIndex('seat_bounds_unit_uq')
    .on('seat_bounds')
    .columns(['organization_id', 'product_code', 'site_id', 'configuration_group_id'])
    .unique()
    .nullsNotDistinct()
    .execute();
  await db.schema.alterTable('session_seats').addColumn('site_id', 'uuid').execute();
  await db.schema.alterTable('session_seats').addColumn('configuration_group_id', 'uuid').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('session_seats').dropColumn('configuration_group_id').execute();
  await db.schema.alterTable('session_seats').dropColumn('site_id').execute();
  await db.schema.dropTable('seat_bounds').execute();
}
