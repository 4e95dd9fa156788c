/**
 * The background expiry sweep (R-CONC-3): every instance runs it; the pool
 * locks of `expireDue` (end.ts) make sweeps on several instances at once
 * free each seat exactly once.
 */
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import { expireDue, SYSTEM } from './end.ts';
import * as repo from './sessions.repository.ts';

export interface SweepOptions {
  /** Sessions per transaction (default 200). */
  batch?: number;
  /** An organization whose expiry failed: the others are still swept; the next sweep tries it again. */
  onError?: (organizationId: string, error: unknown) => void;
}

/**
 * The background sweep: expires overdue sessions organization by
 * organization, in batches, each batch one transaction. One organization's
 * failure is reported to `onError` and does not stop the others.
 */
export async function sweepExpiredSessions(db: Db, clock: Clock, options: SweepOptions = {}): Promise<number> {
  const batch = options.batch ?? 200;
  let total = 0;
  for (const organizationId of await repo.organizationsWithOverdue(db, clock.now())) {
    try {
      for (;;) {
        const expired = await withTransaction(db, (trx) => expireDue(trx, clock.now(), batch, organizationId, SYSTEM), {
          label: 'expireSessions',
        });
        total += expired;
        if (expired < batch) break;
      }
    } catch (error) {
      options.onError?.(organizationId, error);
    }
  }
  return total;
}
