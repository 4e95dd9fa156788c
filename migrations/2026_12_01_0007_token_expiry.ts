import type { Kysely } from 'kysely';

/*
 * API tokens may expire (`expires_at`, null: never) and record when they
 * were last used (`last_used_at`, null: never). The gateway writes
 * `last_used_at` at most about once a minute per token, so it is the time of
 * a use no more than a minute before the latest one.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('expires_at', 'timestamptz').addColumn('last_used_at', 'timestamptz').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').dropColumn('last_used_at').dropColumn('expires_at').execute();
}
