import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest, migrator } from '../../src/db/migrate.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * Migration 2026_12_01_0015_billing (docs/rules.md R-CHAN-2): sessions stored
 * with the worst kind of their seat and channel units get their seat's kind;
 * every other session keeps its kind.
 */

const AT = new Date('2026-11-22T10:00:00.000Z');

for (const kind of DATABASES) {
  describe(kind, () => {
    let database: TestDatabase;
    beforeAll(async () => {
      database = await freshDatabase(kind);
    });
    afterAll(() => database.dispose());

    it('[R-CHAN-2] a session stored EMERGENCY for its emergency VOICE unit on a regular seat becomes REGULAR; true kinds stay', async () => {
      const { db } = database;
      const down = await migrator(db).migrateDown();
      expect(down.results?.map((r) => [r.migrationName, r.status])).toEqual([['2026_12_01_0015_billing', 'Success']]);

      const org = randomUUID();
      await db
        .insertInto('organizations')
        .values({ id: org, name: 'Migration', catalog_code: 'connect-storm', customer_ref: null, created_at: AT })
        .execute();
      const ids = new Map<string, string>();
      // Stored kind, then the seat rows (channel null: the seat; otherwise a unit), as the old start wrote them.
      const cases: [string, string, [string, string, string | null][]][] = [
        [
          'unit-emergency',
          'EMERGENCY',
          [
            ['AGENT_SEAT', 'REGULAR', null],
            ['VOICE', 'EMERGENCY', 'VOICE'],
          ],
        ],
        [
          'unit-overage',
          'OVERAGE',
          [
            ['AGENT_SEAT', 'EMERGENCY', null],
            ['VOICE', 'OVERAGE', 'VOICE'],
          ],
        ],
        [
          'seat-emergency',
          'EMERGENCY',
          [
            ['AGENT_SEAT', 'EMERGENCY', null],
            ['VOICE', 'REGULAR', 'VOICE'],
          ],
        ],
        ['seat-overage', 'OVERAGE', [['AGENT_SEAT', 'OVERAGE', null]]],
        ['regular', 'REGULAR', [['AGENT_SEAT', 'REGULAR', null]]],
        ['named', 'NAMED', [['CALL_RECORDING', 'EMERGENCY', 'CALL_RECORDING']]],
      ];
      for (const [label, seatKind, seats] of cases) {
        const id = randomUUID();
        ids.set(id, label);
        await db
          .insertInto('sessions')
          .values({
            organization_id: org,
            id,
            user_id: randomUUID(),
            seat_kind: seatKind,
            started_at: AT,
            expires_at: AT,
            ended_at: AT,
            end_reason: 'ENDED',
            channels: '[]',
            device_id: null,
            api_token_id: null,
          } as never)
          .execute();
        for (const [product, seatKindOfRow, channel] of seats) {
          await db
            .insertInto('session_seats')
            .values({ organization_id: org, session_id: id, product_code: product, seat_kind: seatKindOfRow, channel })
            .execute();
        }
      }

      await migrateToLatest(db);
      const rows = await db.selectFrom('sessions').select(['id', 'seat_kind']).where('organization_id', '=', org).orderBy('id').execute();
      expect(Object.fromEntries(rows.map((r) => [ids.get(r.id), r.seat_kind]))).toEqual({
        'unit-emergency': 'REGULAR',
        'unit-overage': 'EMERGENCY',
        'seat-emergency': 'EMERGENCY',
        'seat-overage': 'OVERAGE',
        regular: 'REGULAR',
        named: 'NAMED',
      });
      const units = await db
        .selectFrom('session_seats')
        .select(['session_id', 'seat_kind'])
        .where('organization_id', '=', org)
        .where('channel', 'is not', null)
        .execute();
      expect(units.find((u) => ids.get(u.session_id) === 'unit-emergency')?.seat_kind).toBe('EMERGENCY');
    });
  });
}
