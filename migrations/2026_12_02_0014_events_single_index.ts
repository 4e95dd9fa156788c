import type { Kysely } from 'kysely';

/*
 * events_org_idx (migration 0004) is on (organization_id, id), exactly the
 * columns of events_pk (migration 0001): every start and every denial wrote
 * its event into two identical btrees, and every reader could use either.
 * The primary key stays; the copy goes.
 */

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('events_org_idx').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against any schema version: Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('events_org_idx').on('events').columns(['organization_id', 'id']).execute();
}
