import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { onTransactionRetry, withTransaction, type RetryNotice } from '../../src/db/transaction.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';

/*
 * withTransaction (src/db/transaction.ts) runs a whole transaction again when
 * PostgreSQL aborts it with a deadlock (40P01) or a serialization failure
 * (40001), a bounded number of times, and never after a commit. The
 * deadlocks here are real: the helper's transaction and a second connection
 * lock two rows in opposite orders.
 */

for (const kind of DATABASES) {
  describe(`withTransaction on ${kind}`, () => {
    let database: TestDatabase;

    beforeAll(async () => {
      database = await freshDatabase(kind);
      await sql`create table retry_probe (id int primary key, n int not null default 0)`.execute(database.db);
      await sql`insert into retry_probe (id) values (1), (2)`.execute(database.db);
    });
    afterAll(() => database.dispose());

    it('[R-AVAIL-2][transaction-retry] a transaction that commits runs once, and an error that is no conflict is not retried', async () => {
      let runs = 0;
      const value = await withTransaction(database.db, async (trx) => {
        runs++;
        await sql`update retry_probe set n = n + 1 where id = 1`.execute(trx);
        return 'done';
      });
      expect(value).toBe('done');
      expect(runs).toBe(1);

      runs = 0;
      await expect(
        withTransaction(database.db, async (trx) => {
          runs++;
          await sql`select 1 / 0`.execute(trx);
        }),
      ).rejects.toMatchObject({ code: '22012' });
      expect(runs).toBe(1);
    });

    describe.skipIf(kind !== 'postgres')('real deadlocks', () => {
      let other: pg.Client;
      let watcher: pg.Client;

      // biome-ignore lint/suspicious/noDuplicateTestHooks: the hook of this skipIf-describe, not a second one of the outer
      beforeAll(async () => {
        other = new pg.Client({ connectionString: database.url! });
        watcher = new pg.Client({ connectionString: database.url! });
        await Promise.all([other.connect(), watcher.connect()]);
        // The helper's side detects the cycle (its timeout is far shorter), so it is the one PostgreSQL aborts.
        await other.query(`set deadlock_timeout = '10s'`);
      });
      // biome-ignore lint/suspicious/noDuplicateTestHooks: see beforeAll above
      afterAll(async () => {
        await other.end();
        await watcher.end();
      });

      /**
       * One run that deadlocks: this transaction locks row 1, the other
       * connection row 2; this one then waits for row 2, and once it waits,
       * the other asks for row 1. PostgreSQL aborts this side with 40P01.
       */
      async function deadlockingRun(trx: Parameters<Parameters<typeof withTransaction>[1]>[0]): Promise<void> {
        await sql`set local deadlock_timeout = '50ms'`.execute(trx);
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        const pid = rows[0]!.pid;
        await sql`update retry_probe set n = n + 1 where id = 1`.execute(trx);
        await other.query('begin');
        await other.query('update retry_probe set n = n + 1 where id = 2');
        const waiting = sql`update retry_probe set n = n + 1 where id = 2`.execute(trx);
        waiting.catch(() => undefined);
        // Wait (bounded) until this transaction is blocked on the other's lock.
        for (let i = 0; i < 500; i++) {
          const r = await watcher.query(`select wait_event_type from pg_stat_activity where pid = $1`, [pid]);
          if (r.rows[0]?.wait_event_type === 'Lock') break;
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        const closing = other.query('update retry_probe set n = n + 1 where id = 1');
        try {
          await waiting;
        } finally {
          await closing;
          await other.query('commit');
        }
      }

      it('[R-AVAIL-2][transaction-retry] a real 40P01 is retried: the run after the deadlock commits, and the retry is reported', async () => {
        const notices: RetryNotice[] = [];
        const stop = onTransactionRetry(database.db, (n) => notices.push(n));
        try {
          let runs = 0;
          const value = await withTransaction(
            database.db,
            async (trx) => {
              runs++;
              if (runs === 1) await deadlockingRun(trx);
              else await sql`update retry_probe set n = n + 100 where id = 1`.execute(trx);
              return runs;
            },
            { label: 'probe' },
          );
          expect(value).toBe(2);
          expect(notices.map((n) => ({ label: n.label, code: n.code, attempt: n.attempt, retrying: n.retrying }))).toEqual([
            { label: 'probe', code: '40P01', attempt: 1, retrying: true },
          ]);
        } finally {
          stop();
        }
      });

      it('[R-AVAIL-2][transaction-retry] a transaction that deadlocks every time gives up after the bound with the 40P01 itself', async () => {
        const notices: RetryNotice[] = [];
        const stop = onTransactionRetry(database.db, (n) => notices.push(n));
        try {
          let runs = 0;
          const before = await sql<{ n: number }>`select n from retry_probe where id = 1`.execute(database.db);
          await expect(
            withTransaction(
              database.db,
              async (trx) => {
                runs++;
                await deadlockingRun(trx);
              },
              { attempts: 3, baseDelayMs: 5 },
            ),
          ).rejects.toMatchObject({ code: '40P01' });
          expect(runs).toBe(3);
          expect(notices.map((n) => [n.attempt, n.retrying])).toEqual([
            [1, true],
            [2, true],
            [3, false],
          ]);
          // Nothing of the aborted runs remains; only the other connection's three updates of row 1 do.
          const after = await sql<{ n: number }>`select n from retry_probe where id = 1`.execute(database.db);
          expect(after.rows[0]!.n).toBe(before.rows[0]!.n + 3);
        } finally {
          stop();
        }
      });

      it('[R-AVAIL-2][transaction-retry] a serialization failure (40001) is retried as a whole (a row changed since the snapshot)', async () => {
        let runs = 0;
        const value = await withTransaction(database.db, async (trx) => {
          runs++;
          await sql`set transaction isolation level serializable`.execute(trx);
          const { rows } = await sql<{ n: number }>`select n from retry_probe where id = 2`.execute(trx);
          if (runs === 1) await other.query('update retry_probe set n = n + 1 where id = 2');
          await sql`update retry_probe set n = ${rows[0]!.n + 1000} where id = 2`.execute(trx);
          return runs;
        });
        expect(value).toBe(2);
      });
    });
  });
}
