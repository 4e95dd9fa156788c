import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * Every index is written by every insert into its table: a start writes a
 * session, its seat, a usage point and an event, so an index that repeats
 * another one costs each start a btree insertion and buys nothing (the
 * planner uses either). After migrating, no table may keep two indexes over
 * the same columns, operator classes, collations, expressions and predicate.
 */

interface DuplicateRow {
  table_name: string;
  indexes: string;
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

    it('[R-PERF-1] no table keeps two indexes of the same definition', async () => {
      const { rows } = await sql<DuplicateRow>`
        select c.relname as table_name, string_agg(ic.relname, ', ' order by ic.relname) as indexes
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_class ic on ic.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public'
        group by c.relname, i.indkey::text, i.indclass::text, i.indcollation::text,
          coalesce(pg_get_expr(i.indexprs, i.indrelid), ''), coalesce(pg_get_expr(i.indpred, i.indrelid), '')
        having count(*) > 1
        order by c.relname`.execute(database.db);
      expect(rows).toEqual([]);
    });
  });
}
