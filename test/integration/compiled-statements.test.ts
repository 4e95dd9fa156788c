import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompiledStatements } from '../../src/db/compiled.ts';
import { eventRow } from '../../src/events/events.repository.ts';
import { newId } from '../../src/ids.ts';
import { type SingleSeatStart, startQuery } from '../../src/sessions/sessions.repository.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * The one-statement start printed once per shape (db/compiled.ts): for every
 * shape, what the pool's memo gives — the first time and with other values
 * later — is exactly what Kysely compiles afresh for those values (inside a
 * transaction, which has no memo). And a statement that would use a value
 * other than as a parameter is refused when it is first printed.
 */

function start(shape: { direct: boolean; capped: boolean }, n: number): SingleSeatStart {
  const at = new Date(Date.UTC(2026, 10, 22, 10, 0, n));
  const organizationId = newId(at);
  const userId = newId(at);
  return {
    organizationId,
    pool: shape.direct
      ? {
          direct: {
            userId,
            revision: 40 + n,
            highWater: n % 2 ? at : null,
            seatProducts: n % 2 ? ['AGENT_SEAT'] : ['AGENT_SEAT', 'SUPERVISOR_SEAT'],
          },
        }
      : { product: n % 2 ? 'AGENT_SEAT' : 'SUPERVISOR_SEAT' },
    today: `2026-11-${20 + n}`,
    session: {
      id: newId(at),
      userId,
      startedAt: at,
      expiresAt: new Date(at.getTime() + 3_600_000 * (n + 1)),
      ...(shape.capped ? { expiresCapMs: 60_000 * (n + 1) } : {}),
      deviceId: n % 2 ? `device-${n}` : null,
      apiTokenId: n % 2 ? null : newId(at),
      channels: n % 2 ? [] : ['VOICE'],
    },
    event: {
      row: eventRow({ organizationId, type: 'SESSION_STARTED', at, userId, actor: `token ${n}`, apiTokenId: null }),
      detailSuffix: n % 2 ? '' : ` on device-${n}`,
    },
  };
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await freshDatabase(kind);
    });
    afterAll(() => database.dispose());

    for (const direct of [false, true])
      for (const capped of [false, true])
        it(`[R-PERF-1] the start ${direct ? 'checking the probe' : 'for a planned pool'}${capped ? ', expiry capped' : ''}: printed once, the same as a fresh compile`, async () => {
          const { db } = database;
          const first = startQuery(db, start({ direct, capped }, 1));
          for (const n of [1, 2, 3]) {
            const p = start({ direct, capped }, n);
            const memo = startQuery(db, p);
            const fresh = await db.transaction().execute(async (trx) => startQuery(trx, p));
            expect(memo.sql).toBe(fresh.sql);
            expect(memo.parameters).toEqual(fresh.parameters);
            // The same string every time: the named statement's lookup (db/prepared.ts) hashes it once.
            expect(memo.sql).toBe(first.sql);
          }
        });

    it('refuses, when first printing a statement, a value not used as a parameter', () => {
      const statements = new CompiledStatements();
      const compile = (b: ReturnType<typeof sql>) => b.compile(database.db);
      expect(() =>
        statements.query('computed', 'x', { channels: ['VOICE'] }, (v) => sql`select ${JSON.stringify(v.channels)}::jsonb`, compile),
      ).toThrow(/values not used as parameters: channels/);
      expect(() =>
        statements.query('unknown', 'x', { a: 1 }, (v) => sql`select ${v.a}, ${(v as Record<string, unknown>).b}`, compile),
      ).toThrow(/no value named b/);
      const ok = statements.query(
        'ok',
        'x',
        { a: 1, b: 'two' },
        (v) => sql`select ${v.a}::int, ${v.b}::text, ${'constant'}::text`,
        compile,
      );
      expect(ok.parameters).toEqual([1, 'two', 'constant']);
      expect(statements.query('ok', 'x', { a: 3, b: 'four' }, () => sql`not printed again`, compile).parameters).toEqual([
        3,
        'four',
        'constant',
      ]);
    });
  });
}
