import type { Kysely } from 'kysely';

/*
 * Users with a hardware security key enrolled for two-factor sign-in, as an
 * administrator recorded it (setUserSecurityKeyEnrolled): the holder of a
 * licence that needs one (connect storm ADMINISTRATOR) meets that
 * prerequisite only then (R-2FA-2). A table of its own, keyed like every
 * tenant table by organization first (R-SCALE-1); a deleted user's row goes
 * with the user.
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('user_security_keys')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('enrolled_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_security_keys_pkey', ['organization_id', 'user_id'])
    .addForeignKeyConstraint('user_security_keys_user_fkey', ['organization_id', 'user_id'], 'users', ['organization_id', 'id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('user_security_keys').execute();
}
