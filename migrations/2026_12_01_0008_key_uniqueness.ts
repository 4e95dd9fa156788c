import { sql, type Kysely } from 'kysely';

/*
 * A licence key activates once in the whole gateway, and a customer
 * reference belongs to one organization (R-KEY-3). The activation checks
 * both under the organization's lock, but two activations of one key on two
 * organizations (or two instances) lock different rows: only unique indexes
 * make exactly one of them win. Organizations without a customer reference
 * (null) are not constrained.
 *
 * A database that already holds a key id on several organizations, or one
 * customer reference on several organizations, cannot take the indexes: the
 * migration then stops before changing anything and names what to resolve
 * (which organization keeps it is a business decision, not a migration's).
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function up(db: Kysely<any>): Promise<void> {
  const keys = await sql<{ key_id: string; organizations: string }>`
    select key_id, count(distinct organization_id)::text as organizations from license_keys
    group by key_id having count(distinct organization_id) > 1 order by key_id limit 5`.execute(db);
  const refs = await sql<{ customer_ref: string; organizations: string }>`
    select customer_ref, count(*)::text as organizations from organizations where customer_ref is not null
    group by customer_ref having count(*) > 1 order by customer_ref limit 5`.execute(db);
  const clashes = [
    ...keys.rows.map((r) => `licence key ${JSON.stringify(r.key_id)} is stored for ${r.organizations} organizations`),
    ...refs.rows.map((r) => `customer reference ${JSON.stringify(r.customer_ref)} is held by ${r.organizations} organizations`),
  ];
  if (clashes.length > 0) {
    throw new Error(`cannot make licence keys and customer references unique: ${clashes.join('; ')}; keep each on one organization (delete the other license_keys rows, change or clear the other customer_ref values) and start again`);
  }
  await db.schema.createIndex('license_keys_key_id_uq').on('license_keys').column('key_id').unique().execute();
  await db.schema.createIndex('organizations_customer_ref_uq').on('organizations').column('customer_ref').unique().execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kysely<any> by design
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('organizations_customer_ref_uq').execute();
  await db.schema.dropIndex('license_keys_key_id_uq').execute();
}
