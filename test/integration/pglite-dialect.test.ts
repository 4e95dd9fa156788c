import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqlState } from '../../src/db/transaction.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * The PGlite dialect sends each statement in one call, its parameters as
 * node-postgres sends them (issue 20, item 6: pglite-one-call). Whatever a
 * statement gives on PostgreSQL through pg it must give on PGlite: values
 * both ways, affected rows, errors with their SQLSTATE, and a transaction
 * that fails half-way rolls back.
 */

for (const kind of DATABASES) {
  describe(kind, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await freshDatabase(kind);
      await sql`create table dialect_probe (id int primary key, label text not null, tags text[], doc jsonb, at timestamptz)`.execute(
        database.db,
      );
    });
    afterAll(() => database.dispose());

    it('[pglite-one-call] parameters and results: dates, arrays, JSON, integers, numerics, booleans and nulls as on PostgreSQL', async () => {
      const at = new Date('2026-11-22T10:00:00.123Z');
      const { rows } = await sql<
        Record<string, unknown>
      >`select ${at}::timestamptz as at, ${['a', 'b"c']}::text[] as tags, (${['a', null]}::text[])[2] is null as null_element,
        ${JSON.stringify({ k: [1, 'x'] })}::jsonb as doc, ${41}::int + 1 as n, count(*) as c, ${'12.50'}::numeric as d,
        ${true}::boolean as yes, ${null}::text as nothing, ${'2026-11-22'}::date::text as day, 'x' as same, 'y' as same`.execute(
        database.db,
      );
      expect(rows).toEqual([
        {
          at,
          tags: ['a', 'b"c'],
          null_element: true,
          doc: { k: [1, 'x'] },
          n: 42,
          c: 1,
          d: '12.50',
          yes: true,
          nothing: null,
          day: '2026-11-22',
          same: 'y',
        },
      ]);
    });

    it('[pglite-one-call] affected rows of inserts, updates and deletes', async () => {
      const db = database.db;
      const inserted = await db
        .insertInto('dialect_probe' as never)
        .values([
          { id: 1, label: 'one', tags: ['x'], at: new Date() },
          { id: 2, label: 'two', tags: [], at: null },
        ] as never)
        .executeTakeFirst();
      expect(inserted.numInsertedOrUpdatedRows).toBe(2n);
      const updated = await sql`update dialect_probe set label = label || '!' where id <= 2`.execute(db);
      expect(updated.numAffectedRows).toBe(2n);
      const deleted = await sql`delete from dialect_probe where id = 2`.execute(db);
      expect(deleted.numAffectedRows).toBe(1n);
      const { rows } = await sql<{ label: string; tags: string[] }>`select label, tags from dialect_probe order by id`.execute(db);
      expect(rows).toEqual([{ label: 'one!', tags: ['x'] }]);
    });

    it('[pglite-one-call] errors carry their SQLSTATE, and the next statement runs', async () => {
      const db = database.db;
      const duplicate = await sql`insert into dialect_probe (id, label) values (1, 'again')`.execute(db).catch((e: unknown) => e);
      expect(sqlState(duplicate)).toBe('23505');
      const syntax = await sql`selec 1`.execute(db).catch((e: unknown) => e);
      expect(sqlState(syntax)).toBe('42601');
      const missing = await sql`select * from no_such_table`.execute(db).catch((e: unknown) => e);
      expect(sqlState(missing)).toBe('42P01');
      expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    });

    it('[pglite-one-call] a transaction that fails half-way rolls back whole; the database takes the next one', async () => {
      const db = database.db;
      const failed = await db
        .transaction()
        .execute(async (trx) => {
          await sql`insert into dialect_probe (id, label) values (10, 'ten')`.execute(trx);
          await sql`insert into dialect_probe (id, label) values (1, 'duplicate')`.execute(trx);
        })
        .catch((e: unknown) => e);
      expect(sqlState(failed)).toBe('23505');
      expect((await sql`select id from dialect_probe where id = 10`.execute(db)).rows).toEqual([]);
      await db.transaction().execute(async (trx) => {
        await sql`insert into dialect_probe (id, label) values (11, 'eleven')`.execute(trx);
      });
      expect((await sql`select id from dialect_probe where id = 11`.execute(db)).rows).toEqual([{ id: 11 }]);
    });
  });
}
