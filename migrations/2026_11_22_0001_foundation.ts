import { sql, type Kysely } from 'kysely';

/*
 * Tenancy, API tokens and the event log.
 * Every tenant table carries organization_id and has it first in its primary
 * key, so that the same schema distributes by organization (R-SCALE-1).
 */

// Migrations are frozen in time and must not import the app's table types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'uuid', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('catalog_code', 'text', (c) => c.notNull())
    .addColumn('customer_ref', 'text')
    .addColumn('clock_high_water', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('sites')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('sites_pk', ['organization_id', 'id'])
    .addUniqueConstraint('sites_name_uq', ['organization_id', 'name'])
    .execute();
  await db.schema.createIndex('sites_id_idx').on('sites').column('id').execute();

  await db.schema
    .createTable('configuration_groups')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('site_id', 'uuid', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('functions', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('options', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('configuration_groups_pk', ['organization_id', 'id'])
    .addForeignKeyConstraint('configuration_groups_site_fk', ['organization_id', 'site_id'], 'sites', ['organization_id', 'id'], (fk) => fk.onDelete('cascade'))
    .addUniqueConstraint('configuration_groups_name_uq', ['organization_id', 'site_id', 'name'])
    .execute();
  await db.schema.createIndex('configuration_groups_id_idx').on('configuration_groups').column('id').execute();

  await db.schema
    .createTable('teams')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('leader_id', 'uuid')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('teams_pk', ['organization_id', 'id'])
    .addUniqueConstraint('teams_name_uq', ['organization_id', 'name'])
    .execute();
  await db.schema.createIndex('teams_id_idx').on('teams').column('id').execute();

  await db.schema
    .createTable('users')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('site_id', 'uuid', (c) => c.notNull())
    .addColumn('configuration_group_id', 'uuid')
    .addColumn('team_id', 'uuid')
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('email', 'text')
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('users_pk', ['organization_id', 'id'])
    .addForeignKeyConstraint('users_site_fk', ['organization_id', 'site_id'], 'sites', ['organization_id', 'id'])
    .addForeignKeyConstraint('users_group_fk', ['organization_id', 'configuration_group_id'], 'configuration_groups', ['organization_id', 'id'])
    .addForeignKeyConstraint('users_team_fk', ['organization_id', 'team_id'], 'teams', ['organization_id', 'id'])
    .addCheckConstraint('users_status_ck', sql`status in ('PREPARING', 'ACTIVE', 'INACTIVE')`)
    .execute();
  await db.schema.createIndex('users_id_idx').on('users').column('id').execute();
  await db.schema.createIndex('users_site_idx').on('users').columns(['organization_id', 'site_id', 'id']).execute();
  await db.schema.createIndex('users_group_idx').on('users').columns(['organization_id', 'configuration_group_id', 'id']).execute();
  await db.schema.createIndex('users_team_idx').on('users').columns(['organization_id', 'team_id']).execute();

  // Every status a user had and since when; survives the user's deletion (R-TEN-2).
  await db.schema
    .createTable('user_status_history')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('seq', 'bigserial')
    .addColumn('status', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_status_history_pk', ['organization_id', 'user_id', 'seq'])
    .execute();
  await db.schema.createIndex('user_status_history_at_idx').on('user_status_history').columns(['organization_id', 'at']).execute();

  await db.schema
    .createTable('api_tokens')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('label', 'text')
    .addColumn('token_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addPrimaryKeyConstraint('api_tokens_pk', ['organization_id', 'id'])
    .execute();
  // Looked up on every request; a hash of a 256-bit secret is unique in practice.
  await db.schema.createIndex('api_tokens_hash_idx').on('api_tokens').column('token_hash').execute();
  await db.schema.createIndex('api_tokens_id_idx').on('api_tokens').column('id').execute();

  // Append-only: rows are inserted, never updated or deleted (R-EVENT-1).
  await db.schema
    .createTable('events')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('user_id', 'uuid')
    .addColumn('product_code', 'text')
    .addColumn('detail', 'text')
    .addColumn('api_token_id', 'uuid')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('events_pk', ['organization_id', 'id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['events', 'api_tokens', 'user_status_history', 'users', 'teams', 'configuration_groups', 'sites', 'organizations']) {
    await db.schema.dropTable(table).execute();
  }
}
