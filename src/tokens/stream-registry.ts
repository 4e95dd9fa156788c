import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import type { Clock } from '../clock.ts';
import type { Executor } from '../db/database.ts';
import { unauthenticated } from '../errors.ts';
import type { TokenCache } from './token-cache.ts';
import { tokenStates } from './tokens.repository.ts';

/** Why a token's live connections end. */
export type CutReason = 'revoked' | 'expired';

/** How often the expiry of tokens with open streams is compared with the clock. */
export const EXPIRY_CHECK_MS = 1_000;

/** The graphql-ws close code of a connection whose token was revoked or expired (as for a bad token at connection_init). */
export const TOKEN_CLOSE_CODE = 4403;

/** The close reason of such a connection (a WebSocket close reason has at most 123 bytes). */
export function closeReason(reason: CutReason): string {
  return reason === 'revoked' ? 'API token revoked' : 'API token expired';
}

/** The last message of an event stream cut by its token. */
export function cutResult(reason: CutReason): ExecutionResult {
  const error = unauthenticated(
    reason === 'revoked' ? 'the API token was revoked; this stream is closed' : 'the API token has expired; this stream is closed',
  );
  return { errors: [error] };
}

export interface LiveConnectionsOptions {
  db: Executor;
  clock: Clock;
  /** Revocation notices come from the token cache's LISTEN. */
  tokens: TokenCache;
  /** How often the tokens of open connections are read again (revocations written past the gateway); the token cache's TTL. */
  recheckMs: number;
  /** Default EXPIRY_CHECK_MS. */
  expiryCheckMs?: number;
  /** A failed recheck (it is retried at the next period). */
  onError?: (error: unknown) => void;
}

/** The part of a `ws` WebSocket that trackSocket needs. */
export interface TrackedSocket {
  readonly readyState: number;
  readonly OPEN: number;
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
}

interface Tracked {
  /** Learnt from the database when the token's first connection registers; undefined until then. */
  expiresAt: Date | null | undefined;
  cuts: Set<(reason: CutReason) => void>;
  /** A person's OpenID Connect token (no API token row): its expiry is known, the database is never asked. */
  external: boolean;
}

/** A token with no API token row whose expiry is known at registration (a person's OpenID Connect JWT). */
export interface ExternalToken {
  expiresAt: Date;
}

/**
 * The open live connections (graphql-ws sockets, SSE subscriptions) of this
 * process by API token, so that a token's revocation or expiry ends them: an
 * HTTP request with such a token is refused at once, and a stream must not
 * outlive it.
 *
 * A connection is cut
 * - when the token's revocation notice arrives (TokenCache.watch: the
 *   revoking instance at its commit, every other one by NOTIFY);
 * - when the token's expiry passes (checked every EXPIRY_CHECK_MS against
 *   the clock);
 * - at the periodic recheck (every `recheckMs`, the token cache's TTL), which
 *   reads the state of every token with open connections: a revocation
 *   written past the gateway (SQL, no notice) ends streams within the same
 *   bound as it ends cached HTTP access;
 * - when its token's state is first read (one query per batch of new
 *   tokens): that read also learns the expiry, and catches a revocation
 *   committed between authentication and registration.
 *
 * @example
 * wss.on('connection', (socket) => live.trackSocket(viewer.tokenId, socket)); // closes with 4403 when the token goes
 * const release = live.register(tokenId, (reason) => endStream(cutResult(reason)));
 */
export class LiveConnections {
  readonly #byToken = new Map<string, Tracked>();
  readonly #unverified = new Set<string>();
  #verifyScheduled = false;
  #expiryTimer: NodeJS.Timeout | null = null;
  #recheckTimer: NodeJS.Timeout | null = null;
  #stopped = false;
  readonly #unwatch: () => void;

  constructor(private readonly options: LiveConnectionsOptions) {
    this.#unwatch = options.tokens.watch({
      revoked: (tokenId) => this.cut(tokenId, 'revoked'),
      resync: () => void this.recheck(),
    });
  }

  /** Tracks one connection of `tokenId`; `cut` ends it. Returns the function that stops tracking it (call it when it closes). */
  register(tokenId: string, cut: (reason: CutReason) => void, external?: ExternalToken): () => void {
    if (this.#stopped) return () => undefined;
    let tracked = this.#byToken.get(tokenId);
    if (!tracked && external) {
      tracked = { expiresAt: external.expiresAt, cuts: new Set(), external: true };
      this.#byToken.set(tokenId, tracked);
    } else if (!tracked) {
      tracked = { expiresAt: undefined, cuts: new Set(), external: false };
      this.#byToken.set(tokenId, tracked);
      this.#unverified.add(tokenId);
      this.#scheduleVerify();
    }
    tracked.cuts.add(cut);
    this.#startTimers();
    const entry = tracked;
    return () => {
      entry.cuts.delete(cut);
      if (entry.cuts.size === 0 && this.#byToken.get(tokenId) === entry) this.#byToken.delete(tokenId);
      this.#stopTimersIfIdle();
    };
  }

  /**
   * Tracks a graphql-ws socket authenticated with `tokenId`: it closes with
   * TOKEN_CLOSE_CODE when the token is revoked or expires, and is forgotten
   * when it closes. False when the socket is no longer open (the client left
   * while it was being authenticated).
   */
  trackSocket(tokenId: string, socket: TrackedSocket, external?: ExternalToken): boolean {
    if (socket.readyState !== socket.OPEN) return false;
    socket.once(
      'close',
      this.register(tokenId, (reason) => socket.close(TOKEN_CLOSE_CODE, closeReason(reason)), external),
    );
    return true;
  }

  /** Ends every connection of `tokenId`. */
  cut(tokenId: string, reason: CutReason): void {
    const tracked = this.#byToken.get(tokenId);
    if (!tracked) return;
    this.#byToken.delete(tokenId);
    this.#unverified.delete(tokenId);
    for (const cut of tracked.cuts) {
      try {
        cut(reason);
      } catch (error) {
        this.options.onError?.(error);
      }
    }
    this.#stopTimersIfIdle();
  }

  /** Connections tracked (all tokens). */
  get size(): number {
    let n = 0;
    for (const tracked of this.#byToken.values()) n += tracked.cuts.size;
    return n;
  }

  /** Reads the state of `ids` (default: every tracked token) and cuts what is revoked, gone or expired. */
  async recheck(all: readonly string[] = [...this.#byToken.keys()]): Promise<void> {
    const ids = all.filter((id) => this.#byToken.get(id)?.external !== true);
    if (this.#stopped || ids.length === 0) return this.#checkExpiry();
    try {
      const states = new Map<string, { revoked_at: Date | null; expires_at: Date | null }>();
      // Bounded statements (an `in` list of at most 1,000 ids each).
      for (let i = 0; i < ids.length; i += 1_000) {
        for (const row of await tokenStates(this.options.db, ids.slice(i, i + 1_000))) states.set(row.id, row);
      }
      for (const id of ids) {
        const tracked = this.#byToken.get(id);
        if (!tracked) continue;
        const state = states.get(id);
        if (!state || state.revoked_at !== null) this.cut(id, 'revoked');
        else tracked.expiresAt = state.expires_at;
      }
      this.#checkExpiry();
    } catch (error) {
      // The next periodic recheck reads them all again (expiries still unknown included).
      this.options.onError?.(error);
    }
  }

  /** Stops the timers and the watch; connections are closed by the server's own drain. */
  stop(): void {
    this.#stopped = true;
    this.#unwatch();
    this.#byToken.clear();
    this.#unverified.clear();
    this.#stopTimersIfIdle();
  }

  #scheduleVerify(): void {
    if (this.#verifyScheduled) return;
    this.#verifyScheduled = true;
    // One query for the tokens of every connection registered in this turn of the event loop.
    setImmediate(() => {
      this.#verifyScheduled = false;
      const ids = [...this.#unverified];
      this.#unverified.clear();
      void this.recheck(ids);
    });
  }

  #checkExpiry(): void {
    const now = this.options.clock.now().getTime();
    for (const [id, tracked] of this.#byToken) {
      if (tracked.expiresAt && tracked.expiresAt.getTime() <= now) this.cut(id, 'expired');
    }
  }

  #startTimers(): void {
    if (this.#expiryTimer) return;
    this.#expiryTimer = setInterval(() => this.#checkExpiry(), this.options.expiryCheckMs ?? EXPIRY_CHECK_MS);
    this.#recheckTimer = setInterval(() => void this.recheck(), this.options.recheckMs);
    this.#expiryTimer.unref();
    this.#recheckTimer.unref();
  }

  #stopTimersIfIdle(): void {
    if (this.#byToken.size > 0 && !this.#stopped) return;
    if (this.#expiryTimer) clearInterval(this.#expiryTimer);
    if (this.#recheckTimer) clearInterval(this.#recheckTimer);
    this.#expiryTimer = null;
    this.#recheckTimer = null;
  }
}

/**
 * Envelop plugin: a subscription of an API token over HTTP (SSE) ends when
 * the token is revoked or expires, with one last result carrying an
 * UNAUTHENTICATED error that says which. `skip` leaves out operations whose
 * connection is cut another way (graphql-ws sockets are closed with 4403).
 *
 * @example
 * createYoga({ plugins: [useTokenStreamCut(live, (context) => 'wsViewer' in context)] });
 */
export function useTokenStreamCut<C extends { viewer?: Viewer }>(live: LiveConnections, skip: (context: C) => boolean): Plugin<C> {
  return {
    onSubscribe({ args }) {
      const context = args.contextValue;
      const viewer = context.viewer;
      if (viewer?.kind !== 'token' || skip(context)) return;
      const tokenId = viewer.tokenId;
      const external = viewer.person ? { expiresAt: viewer.person.expiresAt } : undefined;
      return {
        onSubscribeResult({ result, setResult }) {
          if (Symbol.asyncIterator in result) setResult(cuttable(result, (cut) => live.register(tokenId, cut, external)));
        },
      };
    },
  };
}

/**
 * The source's results until `register`'s cut fires, then cutResult(reason)
 * and the end. return() goes straight to the source, so an unsubscribe
 * releases it at once (as in live/shared-execution.ts).
 */
function cuttable(
  source: AsyncIterable<ExecutionResult>,
  register: (cut: (reason: CutReason) => void) => () => void,
): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  let state: 'open' | 'cut' | 'closed' = 'open';
  let last: ExecutionResult | undefined;
  let signal!: () => void;
  const wasCut = new Promise<'cut'>((resolve) => (signal = () => resolve('cut')));
  const release = register((reason) => {
    if (state !== 'open') return;
    state = 'cut';
    last = cutResult(reason);
    void Promise.resolve(it.return?.()).catch(() => undefined);
    signal();
  });
  const close = () => {
    state = 'closed';
    release();
  };
  return {
    async next(): Promise<IteratorResult<ExecutionResult>> {
      if (state === 'open') {
        const item = await Promise.race([it.next(), wasCut]);
        if (item !== 'cut' && state === 'open') {
          if (item.done) close();
          return item;
        }
      }
      if (state === 'cut' && last) {
        const value = last;
        close();
        return { value, done: false };
      }
      return { value: undefined, done: true };
    },
    async return(): Promise<IteratorResult<ExecutionResult>> {
      const open = state === 'open';
      close();
      if (open) await it.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
      const open = state === 'open';
      close();
      if (open) await it.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
