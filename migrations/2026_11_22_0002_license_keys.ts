import { sql, type Kysely } from 'kysely';

/*
 * Activated licence keys and the organization's last known licence state.
 * Keys are kept (never updated) so that the state at any instant follows
 * from them alone (R-KEY-4); the state columns only serve STATE_CHANGED events.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('license_keys')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('seq', 'bigserial', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('raw', 'text', (c) => c.notNull())
    .addColumn('activated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('activated_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('license_keys_pk', ['organization_id', 'seq'])
    .addUniqueConstraint('license_keys_key_uq', ['organization_id', 'key_id'])
    .execute();

  await db.schema
    .alterTable('organizations')
    .addColumn('license_state', 'text', (c) => c.notNull().defaultTo('NONE'))
    .addColumn('license_key_id', 'text')
    // When the state will next change by time alone; the sweeper picks these up.
    .addColumn('license_check_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('organizations_license_check_idx').on('organizations').column('license_check_at').where(sql.ref('license_check_at'), 'is not', null).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('organizations_license_check_idx').execute();
  await db.schema.alterTable('organizations').dropColumn('license_state').dropColumn('license_key_id').dropColumn('license_check_at').execute();
  await db.schema.dropTable('license_keys').execute();
}
