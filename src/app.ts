import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Viewer } from './auth/viewer.ts';
import { loadPresetCatalogs } from './catalogs/index.ts';
import type { Catalog } from './catalogs/types.ts';
import type { Clock } from './clock.ts';
import { AllocationCache } from './allocation/cache.ts';
import { ParsedKeys } from './allocation/keys.ts';
import type { AppCaches, Context } from './context.ts';
import type { DatabaseHandle } from './db/database.ts';
import { onTransactionRetry } from './db/transaction.ts';
import type { TrustedKey } from './keys/codec.ts';
import { LiveBounds, type LiveLimits } from './live/bounds.ts';
import { createLiveHub } from './live/hub.ts';
import { silentLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { DEFAULT_LIMITS, type OperationLimits } from './security/limits.ts';
import { DEFAULT_RATE_LIMITS, monotonicTicker, SlidingWindowLimiter, type RateLimits, type Ticker } from './security/rate-limit.ts';
import { createLoaders } from './schema/loaders.ts';
import { OidcVerifier, type OidcOptions } from './auth/oidc.ts';
import { createAuthenticate } from './server/authenticate.ts';
import { Drain } from './server/drain.ts';
import { GraphiQLPage } from './server/graphiql.ts';
import { createBillingExport } from './server/billing-export.ts';
import { createHttpServer, listen } from './server/http.ts';
import { createReadiness } from './server/readiness.ts';
import { createSweeps } from './server/sweeps.ts';
import type { WebhookOptions } from './webhooks/options.ts';
import { WebhookWorker } from './webhooks/worker.ts';
import { attachWebSocket } from './server/websocket.ts';
import { createGatewayYoga, GRAPHQL_PATH, type GatewayYoga } from './server/yoga.ts';
import { allPoolCounters } from './sessions/sessions.repository.ts';
import { SessionDenials } from './sessions/denial-bound.ts';
import { StartCache } from './sessions/start-cache.ts';
import { LiveConnections } from './tokens/stream-registry.ts';
import { DEFAULT_TOKEN_TTL_MS, TokenCache, type TokenCacheOptions } from './tokens/token-cache.ts';

export interface AppDeps {
  database: DatabaseHandle;
  clock: Clock;
  operatorToken: string;
  trustedKeys?: readonly TrustedKey[];
  /** SESSION_TTL_SECONDS (default 120). */
  sessionTtlSeconds?: number;
  catalogs?: ReadonlyMap<string, Catalog>;
  /** How often background work runs (licence state changes); 0 disables it (tests drive it by hand). */
  sweepIntervalMs?: number;
  /** Structured logs; default: silent (tests). main.ts passes the process logger. */
  logger?: Logger;
  /** Prometheus registry and instruments served on /metrics; default: a fresh one per app. */
  metrics?: Metrics;
  /** Operation limits (R-SEC-3); missing fields take DEFAULT_LIMITS. */
  limits?: Partial<OperationLimits>;
  /** Rate limits; missing fields take DEFAULT_RATE_LIMITS. */
  rateLimits?: Partial<RateLimits>;
  /** Rate limits count against the last X-Forwarded-For entry (one trusted proxy in front). */
  trustProxy?: boolean;
  /** Time source of the rate limiters (monotonic ms); tests pass their own to move time without waiting. */
  rateLimitTicker?: Ticker;
  /** How long stop() waits for in-flight HTTP requests before closing their connections (default 10 s). */
  shutdownTimeoutMs?: number;
  /** When set, /metrics answers only to `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string | null;
  /** The API token cache's settings (tests lengthen its TTL to prove revocations travel by NOTIFY). */
  tokenCache?: TokenCacheOptions;
  /** Bounds on WebSocket connections and subscriptions; missing fields take DEFAULT_LIVE_LIMITS. */
  liveLimits?: Partial<LiveLimits>;
  /** ALLOCATION_CACHE_USERS: users' worth of allocations the app's allocation cache keeps (default 120,000; 0 off). */
  allocationCacheUsers?: number;
  /** DENIAL_EVENT_INTERVAL_SECONDS: least time between two SESSION_DENIED events of one user and code (default 10; 0 logs every denial). */
  denialEventIntervalSeconds?: number;
  /** Webhook delivery (WEBHOOK_*); the worker runs with the background sweeps (not when sweepIntervalMs is 0). */
  webhooks?: Partial<WebhookOptions>;
  /** OpenID Connect sign-in of people (OIDC_*); absent or null: API tokens only. */
  oidc?: OidcOptions | null;
}

export interface App {
  yoga: GatewayYoga;
  server: Server;
  metrics: Metrics;
  /** Live API tokens this process remembers (see TokenCache). */
  tokens: TokenCache;
  /** The app's allocation and parsed-key caches (every operation gets them in its Context). */
  caches: AppCaches;
  /** Listens (port 0 picks a free port) and resolves with the bound address. */
  start(port: number, host?: string): Promise<AddressInfo>;
  /**
   * Graceful stop: /readyz answers 503 from now on, the listening socket
   * closes (no new connections), WebSockets close with 1001 (going away),
   * in-flight HTTP requests finish (at most shutdownTimeoutMs, then their
   * connections are closed), event streams end, the background sweep
   * finishes. The database stays open (owned by the caller). Idempotent.
   */
  stop(): Promise<void>;
  /** True from the first stop() call on. */
  readonly draining: boolean;
}

/**
 * Builds the gateway without listening: the app's own state (caches,
 * limiters, live hub), one Yoga pipeline (server/yoga.ts) behind the HTTP
 * routes (server/http.ts) and graphql-ws on the same path
 * (server/websocket.ts), background sweeps (server/sweeps.ts) and the
 * graceful stop (server/drain.ts).
 */
export function createApp(deps: AppDeps): App {
  const { clock } = deps;
  const { db } = deps.database;
  const catalogs = deps.catalogs ?? loadPresetCatalogs();
  const logger = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? createMetrics();
  const limits: OperationLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const rateLimits: RateLimits = { ...DEFAULT_RATE_LIMITS, ...deps.rateLimits };
  const ticker = deps.rateLimitTicker ?? monotonicTicker;
  const trustProxy = deps.trustProxy ?? false;
  metrics.trackInternals(() => ({ allocation: caches.allocation.stats, noticesDropped: deps.database.db.announcer.dropped }));
  metrics.trackSeats(async () =>
    (await allPoolCounters(db)).map((p) => ({ organization: p.organization_id, product: p.product_code, inUse: p.in_use })),
  );
  // Deadlocks and serialization failures that withTransaction ran again (or gave up on): logged and counted.
  const stopRetryReports = onTransactionRetry(db, (n) => {
    metrics.transactionRetries.inc({ code: n.code, outcome: n.retrying ? 'retried' : 'gave_up' });
    logger.warn(
      { transaction: n.label, code: n.code, attempt: n.attempt, retrying: n.retrying },
      n.retrying ? 'transaction conflict: running it again' : 'transaction conflict: giving up',
    );
  });

  // The app's state: every cache and limiter lives here, one per app, and reaches resolvers through the Context.
  const tokens = new TokenCache(deps.database, deps.tokenCache);
  const parsedKeys = new ParsedKeys();
  const caches: AppCaches = { parsedKeys, allocation: new AllocationCache({ maxUsers: deps.allocationCacheUsers, parsedKeys }) };
  const startCache = new StartCache();
  const denials = new SessionDenials({
    intervalMs: (deps.denialEventIntervalSeconds ?? 10) * 1000,
    count: (labels) => metrics.countDenial(labels),
  });
  // Open WebSockets and SSE streams by API token: a revoked or expired token's are cut (src/tokens/stream-registry.ts).
  const liveConnections = new LiveConnections({
    db,
    clock,
    tokens,
    recheckMs: deps.tokenCache?.ttlMs ?? DEFAULT_TOKEN_TTL_MS,
    onError: (error) => logger.warn({ err: error }, 'live connection token check failed'),
  });
  const live = createLiveHub({ database: deps.database, clock, catalogs, parsedKeys, onSubscribers: (n) => metrics.subscribers.set(n) });
  const bounds = new LiveBounds(deps.liveLimits);
  const activations = new SlidingWindowLimiter(rateLimits.activations, rateLimits.activationWindowMs, ticker);
  const authFailures = new SlidingWindowLimiter(rateLimits.authFailures, rateLimits.authWindowMs, ticker);
  const oidc = deps.oidc ? new OidcVerifier(deps.oidc) : null;
  const authenticate = createAuthenticate({ db, clock, operatorToken: deps.operatorToken, tokens, failures: authFailures, metrics, oidc });

  // The one place the Context of an operation is built (HTTP and WebSocket alike).
  const context = (viewer: Viewer): Context => ({
    db,
    clock,
    catalogs,
    trustedKeys: deps.trustedKeys ?? [],
    viewer,
    sessionTtlSeconds: deps.sessionTtlSeconds ?? 120,
    live,
    loaders: createLoaders(db, { clock, catalogs, allocations: caches.allocation }),
    tokens,
    caches,
    writeTransaction: (work) => caches.allocation.writeTransaction(db, work),
    startCache,
    denials,
  });

  const drain = new Drain(logger, deps.shutdownTimeoutMs ?? 10_000);
  const yoga = createGatewayYoga({
    clock,
    logger,
    metrics,
    limits,
    activations,
    bounds,
    liveConnections,
    authenticate,
    trustProxy,
    context,
    onEventStream: (res) => drain.markStream(res),
  });
  const readiness = createReadiness({ db, clock, draining: () => drain.draining });
  const server = createHttpServer({
    yoga,
    graphiql: new GraphiQLPage(GRAPHQL_PATH),
    drain,
    metrics,
    metricsToken: deps.metricsToken,
    readiness,
    billingExport: createBillingExport({ authenticate, context, trustProxy, logger }),
    dashboardSignIn: oidc?.dashboardSettings() ?? null,
  });
  const wss = attachWebSocket({
    server,
    yoga,
    maxPayload: limits.maxBodyBytes,
    metrics,
    bounds,
    liveConnections,
    authenticate,
    trustProxy,
  });
  const sweeps = createSweeps({
    db,
    clock,
    catalogs,
    allocations: caches.allocation,
    metrics,
    logger,
    intervalMs: deps.sweepIntervalMs ?? 15_000,
  });
  const webhooks = new WebhookWorker({ db, clock, logger, ...(deps.webhooks ? { options: deps.webhooks } : {}) });

  return {
    yoga,
    server,
    metrics,
    tokens,
    caches,
    get draining() {
      return drain.draining;
    },
    start: async (port, host) => {
      const address = await listen(server, port, host);
      sweeps.start();
      if ((deps.sweepIntervalMs ?? 15_000) > 0) webhooks.start();
      return address;
    },
    stop: () =>
      drain.stop({
        server,
        wss,
        // The webhook worker stops claiming with the sweeps; the drain waits for its round under way.
        sweeps: {
          stop: () => {
            sweeps.stop();
            void webhooks.stop();
          },
          settled: async () => void (await Promise.all([sweeps.settled(), webhooks.stop()])),
        },
        release: async () => {
          await live.stop();
          liveConnections.stop();
          stopRetryReports();
          await tokens.stop();
        },
      }),
  };
}
