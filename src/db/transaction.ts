import { type Db, type Executor, GatewayDb, type Trx } from './database.ts';
import type { RetryNotice } from './retries.ts';

/*
 * Whole-transaction retry on the two failures PostgreSQL raises to say "run
 * it again": 40P01 (deadlock detected: it aborted this transaction to break a
 * cycle of lock waits) and 40001 (serialization failure). Both mean nothing of
 * the transaction was committed, so running it again from the start is safe.
 *
 * The gateway's writes take their locks in one order (see the lock order in
 * src/sessions/lock-order.ts), so deadlocks should not occur at all;
 * the retry is the net for what the order cannot cover (a lock taken by a
 * trigger or a foreign key check, a manual session in psql). Retries are
 * bounded, spaced with random jitter so that the two sides of a cycle do not
 * meet again, and reported to the listeners of the database's own
 * `transactionRetries` (`onTransactionRetry`; the app logs and counts them).
 */

/** SQLSTATEs after which the whole transaction is run again. */
const RETRYABLE = new Set(['40P01', '40001']);

export interface RetryOptions {
  /** Runs at most this many times in all (default 4: the first run and 3 retries). */
  attempts?: number;
  /** Upper bound of the first random pause in ms; doubled on each retry (default 20). */
  baseDelayMs?: number;
  /** What is retried, for logs (default "transaction"). */
  label?: string;
}

export type { RetryNotice };

/** Calls `listener` on every retryable failure of a transaction of `db`; returns the unsubscribe. */
export function onTransactionRetry(db: Db, listener: (notice: RetryNotice) => void): () => void {
  return db.transactionRetries.listen(listener);
}

/** The SQLSTATE of a driver error (pg and PGlite both put it in `code`). */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

export const isRetryable = (error: unknown): boolean => RETRYABLE.has(sqlState(error) ?? '');

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs `work` with retries of the whole of it on 40P01 / 40001. `work` must
 * be one database transaction (or one statement, its own implicit
 * transaction) with no effect outside it, because a failed run is run again
 * from the start. Once a run has returned, its result is final: nothing that
 * happens after the commit is ever retried.
 *
 * @example
 * const n = await retrying(db, () => sql`update seat_pools set …`.execute(db), { label: 'start' });
 */
export async function retrying<T>(db: Db, work: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const base = options.baseDelayMs ?? 20;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const code = sqlState(error);
      if (code === undefined || !RETRYABLE.has(code)) throw error;
      const retrying = attempt < attempts;
      db.transactionRetries.report({ label: options.label ?? 'transaction', code, attempt, retrying, error });
      if (!retrying) throw error;
      await pause(Math.random() * base * 2 ** (attempt - 1));
    }
  }
}

/**
 * `db.transaction().execute(work)`, run again from the start (a new
 * transaction) when PostgreSQL aborts it with a deadlock (40P01) or a
 * serialization failure (40001), at most `attempts` times. `work` must have no
 * effect outside the transaction: keep side effects for after it returns.
 * A transaction that committed is never run again.
 *
 * @example
 * const user = await withTransaction(ctx.db, async (trx) => {
 *   await lockOrganization(trx, orgId);
 *   return updateUser(trx, …);
 * });
 */
export function withTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  return retrying(
    db,
    async () => {
      // A run's notices are announced only once it has committed; a run that rolled back drops its own.
      const notices = new Map<string, string[]>();
      const result = await db.transaction().execute((trx) => {
        (trx as NoticesOf)[AFTER_COMMIT] = notices;
        return work(trx);
      });
      for (const [organizationId, ids] of notices) db.announcer.announce(organizationId, ids);
      return result;
    },
    options,
  );
}

/** The live notices a `withTransaction` run announces after its commit, kept on its transaction. */
const AFTER_COMMIT = Symbol('live notices after commit');
type NoticesOf = Trx & { [AFTER_COMMIT]?: Map<string, string[]> };

/**
 * Hands new events of `organizationId` to the announcer (db/announcer.ts)
 * for after the commit: at once when `db` is no transaction (its statement
 * has committed), at the commit of a `withTransaction` run. False for any
 * other transaction (announceEvents refuses it, see events.repository.ts).
 */
export function announceAfterCommit(db: Executor, organizationId: string, ids: readonly string[]): boolean {
  if (db instanceof GatewayDb) {
    db.announcer.announce(organizationId, ids);
    return true;
  }
  const notices = (db as NoticesOf)[AFTER_COMMIT];
  if (!notices) return false;
  const waiting = notices.get(organizationId);
  if (waiting) waiting.push(...ids);
  else notices.set(organizationId, [...ids]);
  return true;
}
