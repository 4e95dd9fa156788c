import type { DatabaseHandle, Executor } from '../db/database.ts';
import type { ApiTokenRow } from '../db/schema.ts';
import { findActiveTokenByHash } from './tokens.repository.ts';

/** NOTIFY channel of token revocations (payload: the token's id), sent inside the revoking transaction. */
export const TOKEN_CHANNEL = 'gateway_tokens';

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
 * every time (and counted by the auth-failure limiter).
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

  constructor(
    private readonly database: Pick<DatabaseHandle, 'listen'>,
    options: TokenCacheOptions = {},
  ) {
    this.#ttlMs = options.ttlMs ?? 10_000;
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

  get size(): number {
    return this.#entries.size;
  }

  /** True once revocations of other instances reach this process; starts listening on first use. */
  #ensureListening(): boolean {
    if (this.#live || this.#stopped) return this.#live;
    this.#listening ??= this.database
      .listen(
        TOKEN_CHANNEL,
        (tokenId) => this.forget(tokenId),
        () => this.#entries.clear(),
      )
      .then((unlisten) => {
        if (this.#stopped) return void unlisten();
        this.#unlisten = unlisten;
        this.#live = true;
      })
      .catch(() => {
        this.#listening = null; // not cached meanwhile; the next lookup tries again
      });
    return false;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#live = false;
    this.#entries.clear();
    await this.#listening;
    await this.#unlisten?.();
    this.#unlisten = null;
  }
}
