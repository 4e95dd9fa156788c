import { sql, type Kysely } from 'kysely';

/*
 * Concurrent seats. A pool row per (organization, product) holds the one
 * counter that seat decisions update in place (`in_use`), so that a
 * conditional UPDATE takes a seat race-free on any number of connections and
 * instances (R-CONC-4). Regular, emergency and overage use are the counter
 * split at capacity and capacity + emergency. Every change of a counter is
 * appended to usage_changes (R-METER-1). user_grants materializes the named
 * allocation so a seat decision reads one user's grants, not everyone's.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('seat_pools')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('capacity', 'integer', (c) => c.notNull())
    .addColumn('emergency_capacity', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('overage_allowed', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('overage_grace_minutes', 'integer', (c) => c.notNull().defaultTo(30))
    .addColumn('in_use', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('peak_day', 'date')
    .addColumn('peak_today', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('seat_pools_pk', ['organization_id', 'product_code'])
    .addCheckConstraint('seat_pools_in_use_ck', sql`in_use >= 0`)
    .execute();

  await db.schema
    .createTable('sessions')
    .addColumn('organization_id', 'uuid', (c) => c.notNull().references('organizations.id').onDelete('cascade'))
    .addColumn('id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('seat_kind', 'text', (c) => c.notNull())
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ended_at', 'timestamptz')
    .addColumn('end_reason', 'text')
    .addColumn('channels', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('device_id', 'text')
    .addColumn('api_token_id', 'uuid')
    .addPrimaryKeyConstraint('sessions_pk', ['organization_id', 'id'])
    .execute();
  // At most one open session per user, whatever races (R-CONC-1).
  await db.schema.createIndex('sessions_one_open_uq').on('sessions').columns(['organization_id', 'user_id']).unique().where(sql.ref('ended_at'), 'is', null).execute();
  await db.schema.createIndex('sessions_expiry_idx').on('sessions').columns(['expires_at']).where(sql.ref('ended_at'), 'is', null).execute();
  await db.schema.createIndex('sessions_user_idx').on('sessions').columns(['organization_id', 'user_id', 'started_at']).execute();
  await db.schema.createIndex('sessions_id_idx').on('sessions').column('id').execute();

  // Which pools a session occupies; freed with it.
  await db.schema
    .createTable('session_seats')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('session_id', 'uuid', (c) => c.notNull())
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('seat_kind', 'text', (c) => c.notNull())
    .addColumn('channel', 'text')
    .addPrimaryKeyConstraint('session_seats_pk', ['organization_id', 'session_id', 'product_code'])
    .execute();

  // Append-only series of pool counters (R-METER-1).
  await db.schema
    .createTable('usage_changes')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigserial', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull())
    .addColumn('in_use', 'integer', (c) => c.notNull())
    .addColumn('capacity', 'integer', (c) => c.notNull())
    .addColumn('emergency_capacity', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('usage_changes_pk', ['organization_id', 'product_code', 'seq'])
    .execute();
  await db.schema.createIndex('usage_changes_at_idx').on('usage_changes').columns(['organization_id', 'product_code', 'at']).execute();

  // The named allocation's result, kept in step by every change (R-NAMED, R-UNDER).
  await db.schema
    .createTable('user_grants')
    .addColumn('organization_id', 'uuid', (c) => c.notNull())
    .addColumn('user_id', 'uuid', (c) => c.notNull())
    .addColumn('product_code', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('user_grants_pk', ['organization_id', 'user_id', 'product_code'])
    .execute();

  await db.schema.createIndex('events_org_idx').on('events').columns(['organization_id', 'id']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_org_idx').execute();
  for (const table of ['user_grants', 'usage_changes', 'session_seats', 'sessions', 'seat_pools']) await db.schema.dropTable(table).execute();
}
