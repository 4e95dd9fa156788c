import { sql, type Kysely } from 'kysely';

/*
 * Refused session starts are logged as SESSION_DENIED events: the denial
 * code gets a column of its own (null for every other event type), and a
 * partial index over the organization's denials by time keeps the
 * dashboard's "agents turned away today" a small index range read, however
 * large the rest of the event log grows. Adding a nullable column without a
 * default rewrites no rows.
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('events').addColumn('denial_code', 'text').execute();
  await sql`create index events_session_denied_idx on events (organization_id, at) where type = 'SESSION_DENIED'`.execute(db);
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_session_denied_idx').execute();
  await db.schema.alterTable('events').dropColumn('denial_code').execute();
}
