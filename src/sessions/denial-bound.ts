/*
 * The storm bound of SESSION_DENIED events (see denials.ts): process state,
 * built by `createApp` and handed through the Context; no imports, so the
 * Context can name it without an import circle.
 */

/** Keys remembered at most; beyond it, entries older than the interval are dropped (then all, if need be). */
const MAX_KEYS = 50_000;

/** The process's denial bookkeeping: counts every denial, decides which ones are logged. Built by `createApp`. */
export class SessionDenials {
  private readonly last = new Map<string, number>();

  constructor(
    private readonly options: {
      /** Least time between two logged events of one organization, user and code; 0: every denial. */
      intervalMs: number;
      /** Counts one denial (the Prometheus counter). */
      count(labels: { organization: string; product: string; code: string }): void;
    },
  ) {}

  count(labels: { organization: string; product: string; code: string }): void {
    this.options.count(labels);
  }

  /** True when this denial is logged: the first of its organization, user and code within the interval. */
  due(key: string, nowMs: number): boolean {
    const { intervalMs } = this.options;
    if (intervalMs <= 0) return true;
    const previous = this.last.get(key);
    if (previous !== undefined && nowMs >= previous && nowMs - previous < intervalMs) return false;
    if (this.last.size >= MAX_KEYS) {
      for (const [k, at] of this.last) if (nowMs - at >= intervalMs) this.last.delete(k);
      if (this.last.size >= MAX_KEYS) this.last.clear();
    }
    this.last.set(key, nowMs);
    return true;
  }
}
