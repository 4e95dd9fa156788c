/** What withTransaction tells about a transaction PostgreSQL aborted with 40P01 or 40001 (src/db/transaction.ts). */
export interface RetryNotice {
  label: string;
  /** The SQLSTATE that caused the retry (40P01 or 40001). */
  code: string;
  /** The run that failed, 1-based. */
  attempt: number;
  /** false: it was the last allowed run and the error goes to the caller. */
  retrying: boolean;
  error: unknown;
}

/**
 * The listeners of one database's transaction retries. Every `Db` carries
 * its own (`db.transactionRetries`); the app that uses the database
 * subscribes to log and count them, and unsubscribes when it stops.
 */
export class TransactionRetries {
  readonly #listeners = new Set<(notice: RetryNotice) => void>();

  /** Calls `listener` on every retryable failure; returns the unsubscribe. */
  listen(listener: (notice: RetryNotice) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells every listener; a listener's fault never changes the transaction's outcome. */
  report(notice: RetryNotice): void {
    for (const listener of this.#listeners) {
      try {
        listener(notice);
      } catch {
        // ignored: see above
      }
    }
  }
}
