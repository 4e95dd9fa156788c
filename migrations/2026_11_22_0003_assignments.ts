import { sql, type Kysely } from 'kysely';

/*
 * Named licences: what is configured for each user (the stored facts the
 * allocation is computed from), per-user settings of functions, and base
 * licence slots with their reassignment cool-down windows.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  // A product configured for a user, by group function or directly, since when (R-UNDER-1's fixed order).
  await db.schema
    .createTable('assignments')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull().check(sql`source in ('DIRECT', 'GROUP')`))
    .addColumn('configured_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('assignments_pk', ['organization_id', 'user_id', 'product_code', 'source'])
    .addForeignKeyConstraint('assignments_user_fk', ['organization_id', 'user_id'], 'users', ['organization_id', 'id'], (fk) => fk.onDelete('cascade'))
    .execute();

  // Personal settings a function owns (voicemail box, fax reception …); deleted with the function (R-NAMED-4).
  await db.schema
    .createTable('user_settings')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_settings_pk', ['organization_id', 'user_id', 'product_code', 'name'])
    .addForeignKeyConstraint('user_settings_user_fk', ['organization_id', 'user_id'], 'users', ['organization_id', 'id'], (fk) => fk.onDelete('cascade'))
    .execute();

  // One row per licence of a product with a reassignment cool-down (R-REASSIGN): who holds it, since when its window runs.
  await db.schema
    .createTable('license_slots')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('slot_no', 'integer', (c) => c.notNull())
    .addColumn('holder_user_id', 'uuid')
    .addColumn('window_start', 'timestamptz')
    .addColumn('early_used', 'boolean', (c) => c.notNull().defaultTo(false))
    .addPrimaryKeyConstraint('license_slots_pk', ['organization_id', 'product_code', 'slot_no'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['license_slots', 'user_settings', 'assignments']) await db.schema.dropTable(table).execute();
}
