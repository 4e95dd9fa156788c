import { sql, type Kysely } from 'kysely';

/*
 * A change counter per organization: `organizations.revision` goes up with
 * every statement that changes a stored input of the named-licence
 * allocation (users, groups, assignments, base licence slots, licence keys,
 * and the organization's name, catalog or customer reference), whoever
 * writes it (any gateway process, a migration, a manual fix in psql). Caches
 * of derived state are keyed by it, so a cache entry is never used after its
 * inputs changed, on any instance.
 *
 * The organization's time-keeping columns (`clock_high_water`, raised about
 * once a minute, and the recorded licence state) do not bump it: readers
 * take the licence status from the current row, not from a cache.
 *
 * Statement-level triggers with transition tables bump each touched
 * organization once per statement, not once per row (a bulk insert of
 * 100,000 users is one bump). Every writer of these tables already holds the
 * organization's row lock (changeConfiguration, key activation), so the bump
 * adds no new lock order.
 */

const TABLES = ['users', 'configuration_groups', 'assignments', 'license_slots', 'license_keys'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('organizations').addColumn('revision', 'bigint', (c) => c.notNull().defaultTo(0)).execute();

  await sql`
    create function organization_revision_on_update() returns trigger language plpgsql as $$
    begin
      new.revision := old.revision + 1;
      return new;
    end $$`.execute(db);
  await sql`
    create trigger organizations_revision before update on organizations
    for each row when ((old.name, old.catalog_code, old.customer_ref) is distinct from (new.name, new.catalog_code, new.customer_ref))
    execute function organization_revision_on_update()`.execute(db);

  await sql`
    create function organization_revision_on_change() returns trigger language plpgsql as $$
    begin
      update organizations set revision = revision + 1 where id in (select distinct organization_id from changed);
      return null;
    end $$`.execute(db);
  for (const table of TABLES) {
    for (const [event, transition] of [
      ['insert', 'new'],
      ['update', 'new'],
      ['delete', 'old'],
    ] as const) {
      await sql`
        create trigger ${sql.raw(`${table}_revision_${event}`)} after ${sql.raw(event)} on ${sql.table(table)}
        referencing ${sql.raw(transition)} table as changed
        for each statement execute function organization_revision_on_change()`.execute(db);
    }
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of TABLES) {
    for (const event of ['insert', 'update', 'delete']) await sql`drop trigger ${sql.raw(`${table}_revision_${event}`)} on ${sql.table(table)}`.execute(db);
  }
  await sql`drop trigger organizations_revision on organizations`.execute(db);
  await sql`drop function organization_revision_on_change()`.execute(db);
  await sql`drop function organization_revision_on_update()`.execute(db);
  await db.schema.alterTable('organizations').dropColumn('revision').execute();
}
