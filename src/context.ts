import type { AllocationCache, AllocationWrite } from './allocation/cache.ts';
import type { ParsedKeys } from './allocation/keys.ts';
import type { Catalog } from './catalogs/types.ts';
import type { Clock } from './clock.ts';
import type { Db, Trx } from './db/database.ts';
import type { TrustedKey } from './keys/codec.ts';
import type { Viewer } from './auth/viewer.ts';
import type { LiveHub } from './live/hub.ts';
import type { StartCache } from './sessions/start-cache.ts';
import type { Loaders } from './schema/loaders.ts';
import type { TokenCache } from './tokens/token-cache.ts';

/** The per-process caches `createApp` builds; every operation of the app shares them. */
export interface AppCaches {
  /** The organizations' named-licence allocations for reads (ALLOCATION_CACHE_USERS). */
  allocation: AllocationCache;
  /** Stored licence keys, parsed once per process. */
  parsedKeys: ParsedKeys;
}

/** What every resolver gets: one per GraphQL operation (HTTP request or WebSocket message). */
export interface Context {
  db: Db;
  /** The clock of record: the database's time in the gateway (DbClock, R-LIFE-6), a ManualClock in tests. */
  clock: Clock;
  catalogs: ReadonlyMap<string, Catalog>;
  /** Public keys licence keys must be signed with (LICENSE_PUBLIC_KEYS). */
  trustedKeys: readonly TrustedKey[];
  viewer: Viewer;
  /** Live utilization of this process: subscriptions and cross-instance delivery. */
  live: LiveHub;
  /** Sessions not renewed within this time expire (R-CONC-3). */
  sessionTtlSeconds: number;
  loaders: Loaders;
  /** Live API tokens of this process (a revocation forgets its token here at once). */
  tokens: TokenCache;
  caches: AppCaches;
  /**
   * Runs `work` in a transaction of `db` (run again whole on a deadlock or
   * serialization failure); the allocation it ends with (`write.loadAfterWrites`)
   * goes into `caches.allocation` once it commits (see allocation/cache.ts).
   */
  writeTransaction<T>(work: (trx: Trx, write: AllocationWrite) => Promise<T>): Promise<T>;
  startCache: StartCache;
}
