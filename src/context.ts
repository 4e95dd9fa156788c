import type { Catalog } from './catalogs/types.ts';
import type { Clock } from './clock.ts';
import type { Db } from './db/database.ts';
import type { TrustedKey } from './keys/codec.ts';
import type { Viewer } from './auth/viewer.ts';
import type { LiveHub } from './live/hub.ts';
import type { StartCache } from './sessions/start-cache.ts';
import type { Loaders } from './schema/loaders.ts';
import type { TokenCache } from './tokens/token-cache.ts';

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
  startCache: StartCache;
}
