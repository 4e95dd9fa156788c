import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindOfSeat } from '../../src/licensing/metering.ts';
import { seatKindSql } from '../../src/sessions/sessions.repository.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * A seat's kind is decided twice: in TypeScript (`kindOfSeat`, the
 * transactional start) and in SQL (`seatKindSql`, inside the one-statement
 * start). Both must give the same kind for every counter, capacity and
 * emergency capacity: every combination up to past each boundary, and
 * counters far beyond them.
 */

const UP_TO = 12;

for (const kind of DATABASES) {
  describe(kind, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await freshDatabase(kind);
    });
    afterAll(async () => {
      await database?.dispose();
    });

    it('[R-EMER-1][R-OVER-1] the SQL seat kind is kindOfSeat for every in_use, capacity and emergency capacity', async () => {
      const expression = seatKindSql(sql.ref('i.n'), sql.ref('c.n'), sql.ref('e.n'));
      const { rows } = await sql<{ in_use: number; capacity: number; emergency: number; kind: string }>`
        select i.n as in_use, c.n as capacity, e.n as emergency, ${expression} as kind
        from generate_series(0, ${UP_TO}) as i(n), generate_series(0, ${UP_TO}) as c(n), generate_series(0, ${UP_TO}) as e(n)
        union all
        select v.i, v.c, v.e, ${seatKindSql(sql.ref('v.i'), sql.ref('v.c'), sql.ref('v.e'))}
        from (values (1000000, 25, 5), (31, 25, 5), (30, 25, 5), (26, 25, 0), (2147483600, 2147483000, 100)) as v(i, c, e)
        order by 1, 2, 3`.execute(database.db);
      expect(rows).toHaveLength((UP_TO + 1) ** 3 + 5);
      const mismatches = rows.filter((r) => r.kind !== kindOfSeat(r.in_use, r.capacity, r.emergency));
      expect(mismatches).toEqual([]);
      // Every kind occurs: the grid crosses both boundaries.
      expect(new Set(rows.map((r) => r.kind))).toEqual(new Set(['REGULAR', 'EMERGENCY', 'OVERAGE']));
    });
  });
}
