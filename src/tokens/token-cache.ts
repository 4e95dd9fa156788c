import type { DatabaseHandle, Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';
import { findActiveTokenByHash, recordTokenUse } from './tokens.repository.ts';

/** NOTIFY channel of token revocations (payload: the token's id), sent inside the revoking transaction. */
export const TOKEN_CHANNEL = 'gateway_tokens';

/** The default longest life of a cache entry (TokenCacheOptions.ttlMs). */
export const DEFAULT_TOKEN_TTL_MS = 10_000;

/** `last_used_at` is written at most once per token and this period (per instance; the write itself skips a fresher stored value). */
export const LAST_USED_GRANULARITY_MS = 60_000;

/** Told of every revocation this process learns of, and when notices may have been missed. */
export interface TokenWatcher {
  /** The token was revoked (here, or on another instance: its notice arrived). */
  revoked(tokenId: string): void;
  /** Notices may have been missed (LISTEN just started or came back after a loss): read the tokens' state again. */
  resync(): void;
}

export interface TokenCacheOptions {
  /** The longest an entry is trusted without being read again (default 10 s): the bound should a revocation notice be lost. */
  ttlMs?: number;
  /** Most tokens kept (default 10,000); the oldest go first. */
  maxEntries?: number;
  /** Monotonic ms (tests pass their own). */
  now?: () => number;
}

/**
 * Live API tokens by hash, so that an authenticated request does not cost a
 * round trip to read its token (every request of an ACD presents one).
 *
 * A revocation must still take effect at once, on every instance: the
 * revoking transaction NOTIFYs `TOKEN_CHANNEL` (delivered on commit, to every
 * process), each process forgets the token on receipt, and the revoking
 * process forgets it itself right after its commit. Entries are only kept
 * while this process is LISTENing; after a lost LISTEN connection comes back
 * everything is forgotten, and no entry lives longer than `ttlMs` in any
 * case. Only live tokens are cached: an unknown or revoked token is read
 * every time (and counted by the auth-failure limiter). Watchers (`watch`,
 * LiveConnections) hear every revocation and every moment notices may have
 * been missed, so open streams of a revoked token end too.
 */
export class TokenCache {
  readonly #entries = new Map<string, { row: ApiTokenRow; until: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #listening: Promise<void> | null = null;
  #live = false;
  #unlisten: (() => Promise<void>) | null = null;
  #stopped = false;
  readonly #watchers = new Set<TokenWatcher>();
  /** When this process last wrote (or found written) each token's last use, clock ms. */
  readonly #usesWritten = new Map<string, number>();

  constructor(
    private readonly database: Pick<DatabaseHandle, 'listen'>,
    options: TokenCacheOptions = {},
  ) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The live token with this hash, from memory when known, else from the database. */
  async lookup(db: Executor, tokenHash: string): Promise<ApiTokenRow | undefined> {
    const hit = this.#entries.get(tokenHash);
    if (hit && hit.until > this.#now()) return hit.row;
    if (hit) this.#entries.delete(tokenHash);
    const row = await findActiveTokenByHash(db, tokenHash);
    if (row && this.#ensureListening()) {
      if (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
      this.#entries.set(tokenHash, { row, until: this.#now() + this.#ttlMs });
    }
    return row;
  }

  /** Forgets a token (revoked here or on another instance). */
  forget(tokenId: string): void {
    for (const [hash, entry] of this.#entries) if (entry.row.id === tokenId) this.#entries.delete(hash);
  }

  /** A revocation: forgets the token and tells every watcher (its live streams end). */
  revoked(tokenId: string): void {
    this.forget(tokenId);
    for (const watcher of this.#watchers) watcher.revoked(tokenId);
  }

  /**
   * Calls `watcher` for every revocation this process learns of, from now
   * on, and starts listening for other instances' revocations if that has
   * not happened yet. Returns the function that stops watching.
   *
   * @example
   * const unwatch = tokens.watch({ revoked: (id) => closeStreamsOf(id), resync: () => recheckAll() });
   */
  watch(watcher: TokenWatcher): () => void {
    this.#watchers.add(watcher);
    this.#ensureListening();
    return () => void this.#watchers.delete(watcher);
  }

  /**
   * Records that `row` was used at `at`, at most once per token and
   * LAST_USED_GRANULARITY_MS from this process (so the hot path writes about
   * once a minute per token, not per request). A failed write is not the
   * request's failure: it is tried again at the next use.
   */
  async recordUse(db: Executor, row: Pick<ApiTokenRow, 'id' | 'organization_id' | 'last_used_at'>, at: Date): Promise<void> {
    const now = at.getTime();
    const last = Math.max(this.#usesWritten.get(row.id) ?? -Infinity, row.last_used_at?.getTime() ?? -Infinity);
    if (now - last < LAST_USED_GRANULARITY_MS) return;
    this.#usesWritten.delete(row.id);
    if (this.#usesWritten.size >= this.#maxEntries) this.#usesWritten.delete(this.#usesWritten.keys().next().value as string);
    this.#usesWritten.set(row.id, now);
    try {
      await recordTokenUse(db, row.organization_id, row.id, at, LAST_USED_GRANULARITY_MS);
    } catch {
      this.#usesWritten.delete(row.id);
    }
  }

  get size(): number {
    return this.#entries.size;
  }

  /** True once revocations of other instances reach this process; starts listening on first use. */
  #ensureListening(): boolean {
    if (this.#live || this.#stopped) return this.#live;
    this.#listening ??= this.database
      .listen(
        TOKEN_CHANNEL,
        (tokenId) => this.revoked(tokenId),
        () => {
          this.#entries.clear();
          this.#resync();
        },
      )
      .then((unlisten) => {
        if (this.#stopped) return void unlisten();
        this.#unlisten = unlisten;
        this.#live = true;
        // A revocation committed before LISTEN took effect was not heard: watchers read their tokens again.
        this.#resync();
      })
      .catch(() => {
        this.#listening = null; // not cached meanwhile; the next lookup tries again
      });
    return false;
  }

  #resync(): void {
    for (const watcher of this.#watchers) watcher.resync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#watchers.clear();
    this.#live = false;
    this.#entries.clear();
    await this.#listening;
    await this.#unlisten?.();
    this.#unlisten = null;
  }
}
