import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * [distributable-by-organization] The schema stays shardable by
 * organization (README "Beyond one primary: Citus"): after migrating, every
 * tenant table has an organization_id column, and its primary key, every
 * unique constraint or unique index and every foreign key between tenant
 * tables include organization_id. A distributed database (Citus) can then
 * place each organization's rows on one node and enforce every key there.
 *
 * The exceptions below are in landed (frozen) migrations; each says why it
 * is accepted and what it becomes on a distributed database. A new table or
 * constraint that breaks the rule fails this test until it is keyed by
 * organization or listed here with its reason.
 */

/** Not tenant data: the migration bookkeeping, and the distribution key's own table. */
const NOT_TENANT_TABLES: Record<string, string> = {
  kysely_migration: 'migration bookkeeping (a Citus reference table, or the coordinator only)',
  kysely_migration_lock: 'migration bookkeeping (a Citus reference table, or the coordinator only)',
  organizations: 'the tenants themselves: distributed by their id, which is the organization_id of every other table',
};

/** Keys of tenant tables without organization_id, by constraint or index name. */
const EXCEPTIONS: Record<string, string> = {
  // 0008: a licence key id is accepted by one organization only, across all of them (a key activated twice is refused).
  license_keys_key_id_uq:
    'a key id is unique across organizations by rule (R-KEY uniqueness); on Citus: a small reference table of key ids, checked in the activation',
  // 0009: the webhook outbox, keyed by a global id that the delivery worker claims by.
  webhook_endpoints_id_key:
    'an endpoint id (a random uuid) is unique on its own so that messages can reference it; the table also has (organization_id, id) as its primary key',
  webhook_messages_pkey: 'the outbox is claimed by its id (a random uuid) across organizations; organization_id is a column of every row',
  webhook_messages_endpoint_id_fkey: 'references webhook_endpoints(id), the global id above',
  webhook_attempts_pkey: 'an attempt is keyed by its own id (a random uuid); organization_id is a column of every row',
  webhook_attempts_endpoint_id_fkey: 'references webhook_endpoints(id), the global id above',
  webhook_attempts_message_id_fkey: 'references webhook_messages(id), the global id above',
};

interface KeyRow {
  table_name: string;
  key_name: string;
  kind: string;
  has_organization: boolean;
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await freshDatabase(kind);
    });
    afterAll(async () => {
      await database?.dispose();
    });

    const tables = async () =>
      (
        await sql<{ table_name: string; has_organization: boolean }>`
          select c.relname as table_name,
                 exists (select 1 from pg_attribute a
                         where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped and a.attname = 'organization_id')
                   as has_organization
          from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and c.relkind in ('r', 'p')
          order by 1`.execute(database.db)
      ).rows;

    /** Primary keys, unique constraints, foreign keys and unique indexes that back no constraint. */
    const keys = async () =>
      (
        await sql<KeyRow>`
          select con.conrelid::regclass::text as table_name, con.conname as key_name,
                 case con.contype when 'p' then 'primary key' when 'u' then 'unique' else 'foreign key' end as kind,
                 exists (select 1 from unnest(con.conkey) k
                         join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k
                         where a.attname = 'organization_id') as has_organization
          from pg_constraint con
          where con.connamespace = current_schema()::regnamespace and con.contype in ('p', 'u', 'f')
          union all
          select i.indrelid::regclass::text, c.relname, 'unique index',
                 exists (select 1 from unnest(i.indkey::int2[]) k
                         join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
                         where a.attname = 'organization_id')
          from pg_index i join pg_class c on c.oid = i.indexrelid
          where i.indisunique and c.relnamespace = current_schema()::regnamespace
            and not exists (select 1 from pg_constraint con where con.conindid = i.indexrelid and con.contype in ('p', 'u'))
          order by 1, 2`.execute(database.db)
      ).rows;

    it('[distributable-by-organization] every tenant table has an organization_id column', async () => {
      const all = await tables();
      expect(all.length).toBeGreaterThan(10);
      const missing = all.filter((t) => !t.has_organization && !(t.table_name in NOT_TENANT_TABLES)).map((t) => t.table_name);
      expect(missing).toEqual([]);
    });

    it('[distributable-by-organization] primary keys, unique keys and foreign keys of tenant tables include organization_id', async () => {
      const rows = (await keys()).filter((k) => !(k.table_name in NOT_TENANT_TABLES));
      // The check reads real keys: the users' primary key is (organization_id, id).
      expect(rows).toContainEqual({ table_name: 'users', key_name: 'users_pk', kind: 'primary key', has_organization: true });
      const offending = rows
        .filter((k) => !k.has_organization && !(k.key_name in EXCEPTIONS))
        .map((k) => `${k.table_name}.${k.key_name} (${k.kind})`);
      expect(offending).toEqual([]);
    });

    it('[distributable-by-organization] every listed exception still exists and still lacks organization_id', async () => {
      // An exception that was fixed (or renamed) must leave the list, so that the list stays the truth.
      const rows = await keys();
      const stale = Object.keys(EXCEPTIONS).filter((name) => !rows.some((k) => k.key_name === name && !k.has_organization));
      expect(stale).toEqual([]);
    });

    it('[distributable-by-organization] foreign keys between tenant tables reference keys that include organization_id', async () => {
      const { rows } = await sql<{ key_name: string; referenced: string; referenced_has_organization: boolean }>`
        select con.conname as key_name, con.confrelid::regclass::text as referenced,
               exists (select 1 from unnest(con.confkey) k
                       join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k
                       where a.attname = 'organization_id') as referenced_has_organization
        from pg_constraint con
        where con.connamespace = current_schema()::regnamespace and con.contype = 'f'
        order by 1`.execute(database.db);
      expect(rows.length).toBeGreaterThan(5);
      // A reference to organizations(id) is a reference to the distribution key itself.
      const offending = rows
        .filter((r) => r.referenced !== 'organizations' && !r.referenced_has_organization && !(r.key_name in EXCEPTIONS))
        .map((r) => `${r.key_name} → ${r.referenced}`);
      expect(offending).toEqual([]);
    });

    // Every index is written by every insert into its table: a start writes a session, its seat, a usage
    // point and an event, so an index repeating another costs each start a btree insertion and buys nothing.
    it('[R-PERF-1] no table keeps two indexes of the same definition', async () => {
      const { rows } = await sql<{ table_name: string; indexes: string }>`
        select c.relname as table_name, string_agg(ic.relname, ', ' order by ic.relname) as indexes
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_class ic on ic.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = current_schema()
        group by c.relname, i.indkey::text, i.indclass::text, i.indcollation::text,
          coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
        having count(*) > 1
        order by c.relname`.execute(database.db);
      expect(rows).toEqual([]);
    });
  });
}
