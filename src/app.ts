import { readFileSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import { sameSecret } from './auth/tokens.ts';
import type { Viewer } from './auth/viewer.ts';
import { loadPresetCatalogs } from './catalogs/index.ts';
import type { Catalog } from './catalogs/types.ts';
import type { Clock } from './clock.ts';
import type { Context } from './context.ts';
import { ping, type DatabaseHandle } from './db/database.ts';
import { maskDatabaseFaults, isConnectionError } from './db/faults.ts';
import { migrationsApplied } from './db/migrate.ts';
import type { TrustedKey } from './keys/codec.ts';
import { getSchema } from './schema/index.ts';
import { createLoaders } from './schema/loaders.ts';
import { DEFAULT_TOKEN_TTL_MS, TokenCache, type TokenCacheOptions } from './tokens/token-cache.ts';
import { LiveConnections, useTokenStreamCut } from './tokens/stream-registry.ts';
import { resolveViewer } from './tokens/tokens.service.ts';
import { sweepLicenseStates } from './licenses/license.service.ts';
import { silentLogger, yogaLogger, type Logger } from './observability/logger.ts';
import { createMetrics, type Metrics } from './observability/metrics.ts';
import { useObservability } from './observability/plugin.ts';
import { DEFAULT_LIMITS, operationLimitPlugins, yogaLimitOptions, type OperationLimits } from './security/limits.ts';
import { useRequestShape, useWellFormedStrings } from './security/request-errors.ts';
import { useClockOfRecord } from './security/clock-skew.ts';
import {
  clientAddress,
  DEFAULT_RATE_LIMITS,
  monotonicTicker,
  rateLimitError,
  SlidingWindowLimiter,
  useActivationRateLimit,
  type RateLimits,
  type Ticker,
} from './security/rate-limit.ts';
import { sweepExpiredSessions } from './sessions/sessions.service.ts';
import { onTransactionRetry } from './db/transaction.ts';
import { allPoolCounters } from './sessions/sessions.repository.ts';
import { createLiveHub } from './live/hub.ts';
import { dashboardPage } from './live/dashboard.ts';
import { useSharedSubscriptionExecution } from './live/shared-execution.ts';
import { LiveBounds, useSubscriptionBounds, type LiveLimits } from './live/bounds.ts';
import { WebhookWorker } from './webhooks/worker.ts';
import type { WebhookOptions } from './webhooks/options.ts';

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
  /** Webhook delivery (WEBHOOK_*); the worker runs with the background sweeps (not when sweepIntervalMs is 0). */
  webhooks?: Partial<WebhookOptions>;
}

/** What the HTTP layer or the WebSocket layer hands to the context factory. */
interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** Set for WebSocket operations: authenticated once in connection_init. */
  wsViewer?: Viewer;
}

/** What graphql-ws keeps per socket besides the viewer: its subscriptions' slots, its token's connection slot. */
type SocketExtra = {
  viewer?: Viewer;
  subscriptions?: Map<string, () => void>;
  releaseConnection?: () => void;
};

export interface App {
  yoga: YogaServerInstance<ServerContext, Context>;
  server: Server;
  metrics: Metrics;
  /** Live API tokens this process remembers (see TokenCache). */
  tokens: TokenCache;
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

const GRAPHQL_PATH = '/graphql';

/** The live utilization page (R-LIVE-2), read once at startup. */
const DASHBOARD = dashboardPage(readFileSync(new URL('./live/dashboard.html', import.meta.url), 'utf8'));

const EXAMPLE_QUERY = `# Send your token in the Headers tab: {"Authorization": "Bearer <token>"}
# (the operator token is printed at start when OPERATOR_TOKEN is unset).
query Catalogs {
  catalogs {
    code
    name
    maxUsers
    products { code kind allocation unit unitsPerLicense }
  }
}
`;

/**
 * Builds the gateway without listening: graphql-yoga for HTTP (GET/POST, SSE,
 * GraphiQL served from the package, no CDN) and graphql-ws on the same path,
 * sharing one envelop pipeline, plus /healthz and /readyz.
 */
export function createApp(deps: AppDeps): App {
  const catalogs = deps.catalogs ?? loadPresetCatalogs();
  const { db } = deps.database;
  const logger = deps.logger ?? silentLogger();
  const metrics = deps.metrics ?? createMetrics();
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
  const tokens = new TokenCache(deps.database, deps.tokenCache);
  // Open WebSockets and SSE streams by API token: a revoked or expired token's are cut (src/tokens/stream-registry.ts).
  const liveConnections = new LiveConnections({
    db,
    clock: deps.clock,
    tokens,
    recheckMs: deps.tokenCache?.ttlMs ?? DEFAULT_TOKEN_TTL_MS,
    onError: (error) => logger.warn({ err: error }, 'live connection token check failed'),
  });
  const live = createLiveHub({ database: deps.database, clock: deps.clock, catalogs, onSubscribers: (n) => metrics.subscribers.set(n) });
  const limits: OperationLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const rateLimits: RateLimits = { ...DEFAULT_RATE_LIMITS, ...deps.rateLimits };
  const ticker = deps.rateLimitTicker ?? monotonicTicker;
  const authFailures = new SlidingWindowLimiter(rateLimits.authFailures, rateLimits.authWindowMs, ticker);
  const activations = new SlidingWindowLimiter(rateLimits.activations, rateLimits.activationWindowMs, ticker);
  const trustProxy = deps.trustProxy ?? false;
  const shutdownTimeoutMs = deps.shutdownTimeoutMs ?? 10_000;
  const bounds = new LiveBounds(deps.liveLimits);
  const webhooks = new WebhookWorker({ db, clock: deps.clock, logger, ...(deps.webhooks ? { options: deps.webhooks } : {}) });

  /**
   * Resolves the viewer of a request that presents `authorization`. A valid
   * token is always served, whatever else came from its address (behind a
   * proxy or NAT that address is everyone's), so 20 bad tokens cannot lock
   * out the operator or anyone else (R-SEC-6). A bad token counts as a
   * failure of its client address; from an address with too many failures in
   * the window a bad token gets 429 instead of 401 until the oldest failure
   * leaves it. Failures keep counting while an address is blocked, so a
   * steady guesser stays blocked; guessing itself is hopeless against
   * 256-bit organization tokens and a long random OPERATOR_TOKEN.
   */
  async function authenticate(authorization: string | null | undefined, address: string | null): Promise<Viewer> {
    try {
      return await resolveViewer(db, deps.clock, deps.operatorToken, authorization, tokens);
    } catch (error) {
      if (address === null || !(error instanceof GraphQLError) || error.extensions.code !== 'UNAUTHENTICATED') throw error;
      const blocked = authFailures.blocked(address);
      authFailures.hit(address);
      if (!blocked) throw error;
      metrics.rateLimited.inc({ limit: 'auth' });
      throw rateLimitError(
        'too many failed authentication attempts from this address; try again later',
        authFailures.retryAfterMs(address),
      );
    }
  }

  /** Responses that are event streams (SSE subscriptions): a drain ends them instead of waiting for them. */
  const streams = new WeakSet<ServerResponse>();
  const useStreamTracking: Plugin<Record<string, unknown>, ServerContext> = {
    onResponse({ response, serverContext }) {
      if (serverContext?.res && response.headers.get('content-type')?.includes('text/event-stream')) streams.add(serverContext.res);
    },
  };

  const yoga = createYoga<ServerContext, Context>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // GraphiQL's bundle is ~40 MiB of RSS once loaded: only when someone opens it.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    graphiql: { title: 'Licensing gateway', defaultQuery: EXAMPLE_QUERY, subscriptionsProtocol: 'WS' },
    // Never the development mode that copies original errors (and stacks) into responses, whatever NODE_ENV says.
    // A lost database answers UNAVAILABLE (503, Retry-After) rather than the masked "Unexpected error." (db/faults.ts).
    maskedErrors: { isDev: false, maskError: maskDatabaseFaults },
    logging: yogaLogger(logger),
    ...yogaLimitOptions(limits),
    plugins: [
      useObservability({ logger, metrics }),
      useStreamTracking,
      useRequestShape(),
      useWellFormedStrings(),
      ...operationLimitPlugins(limits),
      // Before the activation limit: a refused mutation uses up no attempt.
      useClockOfRecord(deps.clock),
      useActivationRateLimit(activations, () => metrics.rateLimited.inc({ limit: 'activation' })),
      // One execution of each seat usage snapshot for all its subscribers (R-PERF-3).
      useSharedSubscriptionExecution(['seatUsage']),
      // SSE subscriptions of a revoked or expired token end (graphql-ws sockets are closed in onConnect's registration).
      useTokenStreamCut(liveConnections, (context) => context.wsViewer !== undefined),
      // SSE subscriptions count against the same bounds as WebSocket ones (live/bounds.ts).
      useSubscriptionBounds<ServerContext>(
        bounds,
        (c) => c.wsViewer !== undefined,
        (c) => (c as Context).viewer,
      ),
    ],
    context: async (initial) => ({
      db,
      clock: deps.clock,
      catalogs,
      trustedKeys: deps.trustedKeys ?? [],
      viewer:
        initial.wsViewer ?? (await authenticate(initial.request.headers.get('authorization'), clientAddress(initial.req, trustProxy))),
      sessionTtlSeconds: deps.sessionTtlSeconds ?? 120,
      live,
      loaders: createLoaders(db, { clock: deps.clock, catalogs }),
      tokens,
    }),
  });

  /** HTTP requests not yet answered in full; a drain waits for them. */
  const inFlight = new Set<ServerResponse>();
  let drained: (() => void) | null = null;
  const checkDrained = () => {
    if (drained && [...inFlight].every((res) => streams.has(res))) drained();
  };

  const server = createServer((req, res) => {
    inFlight.add(res);
    res.once('close', () => {
      inFlight.delete(res);
      if (stopping) {
        checkDrained();
        server.closeIdleConnections();
      }
    });
    // While draining, answered connections close instead of idling in keep-alive.
    if (stopping) res.setHeader('connection', 'close');
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void sendJson(res, 200, { status: 'ok' });
    if (path === '/dashboard') return void DASHBOARD.serve(req, res);
    if (path === '/readyz') {
      void readiness().then((ready) => sendJson(res, ready.ready ? 200 : 503, ready));
      return;
    }
    if (path === '/metrics') return void serveMetrics(req, res);
    void yoga.handle(req, res, { req, res });
  });

  // Requests Node cannot parse (a header block over 16 KiB, a broken request line) get a JSON 4xx too (R-SEC-4).
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const status = error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const body = JSON.stringify({ errors: [{ message: STATUS_CODES[status] ?? 'Bad Request', extensions: { code: 'BAD_REQUEST' } }] });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  async function readiness() {
    if (stopping) return { ready: false, database: null, migrations: null, draining: true };
    // A database that does not answer within READINESS_TIMEOUT_MS counts as down (a hung connect would
    // otherwise hold the probe for the pool's whole connection timeout).
    const database = await withTimeout(ping(db), READINESS_TIMEOUT_MS, false);
    const migrations = database && (await withTimeout(migrationsApplied(db), READINESS_TIMEOUT_MS, false));
    // R-LIFE-6: an instance whose clock is off the database's beyond the bound is not ready (null: a test clock).
    const health = deps.clock.health?.() ?? null;
    const clock = health && {
      ok: health.ok,
      skewSeconds: health.skewMs === null ? null : health.skewMs / 1000,
      maxSkewSeconds: health.maxSkewMs / 1000,
      roundTripMs: health.roundTripMs,
      measuredAt: health.measuredAt?.toISOString() ?? null,
      message: health.message,
    };
    return { ready: database && migrations && (health?.ok ?? true) && !stopping, database, migrations, clock, draining: stopping };
  }

  async function serveMetrics(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (deps.metricsToken) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!match?.[1] || !sameSecret(match[1], deps.metricsToken)) {
        res.setHeader('www-authenticate', 'Bearer');
        return sendJson(res, 401, { error: 'metrics need Authorization: Bearer <METRICS_TOKEN>' });
      }
    }
    try {
      const text = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
    } catch {
      sendJson(res, 500, { error: 'metrics unavailable' });
    }
  }

  // WebSocket messages obey the same size limit as HTTP bodies (ws' default would be 100 MiB).
  const wss = new WebSocketServer({ server, path: GRAPHQL_PATH, maxPayload: limits.maxBodyBytes });
  wss.on('connection', (socket) => {
    metrics.websocketConnections.inc();
    socket.once('close', () => metrics.websocketConnections.dec());
    // Beyond MAX_WS_CONNECTIONS: refused at once, before any message (graphql-ws's own listener sees a closed socket).
    if (bounds.connectionsFull(wss.clients.size)) socket.close(1013, 'Too many WebSocket connections on this gateway; try again later');
  });
  useServer<Record<string, unknown>, SocketExtra>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      // R-SEC-1: the token comes once, in connection_init, as { authorization: "Bearer <token>" }.
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        let viewer: Viewer;
        try {
          viewer = await authenticate(
            typeof authorization === 'string' ? authorization : null,
            clientAddress(ctx.extra.request, trustProxy),
          );
        } catch (error) {
          if (error instanceof GraphQLError && error.extensions.code === 'RATE_LIMITED') {
            ctx.extra.socket.close(4429, 'Too many failed authentication attempts');
          } else if (isConnectionError(error)) {
            // Not a bad token: the token could not be read. 1013 Try Again Later, which clients retry.
            ctx.extra.socket.close(1013, 'Database unavailable; try again later');
          }
          return false; // closes with 4403 Forbidden
        }
        const release = bounds.takeConnection(viewer);
        if (!release) {
          ctx.extra.socket.close(
            4429,
            `Too many WebSocket connections for this token (MAX_WS_CONNECTIONS_PER_TOKEN ${bounds.limits.maxConnectionsPerToken})`,
          );
          return false;
        }
        // A revoked or expired token's socket closes with 4403, whatever it is subscribed to.
        if (viewer.kind === 'token' && !liveConnections.trackSocket(viewer.tokenId, ctx.extra.socket)) {
          release();
          return false;
        }
        ctx.extra.viewer = viewer;
        ctx.extra.releaseConnection = release;
        return true;
      },
      onClose: (ctx) => {
        ctx.extra.releaseConnection?.();
        for (const release of ctx.extra.subscriptions?.values() ?? []) release();
        ctx.extra.subscriptions?.clear();
      },
      // Every operation that reached execution ends here (completed, failed, or ended by the client).
      onComplete: (ctx, id) => {
        ctx.extra.subscriptions?.get(id)?.();
        ctx.extra.subscriptions?.delete(id);
      },
      onSubscribe: async (ctx, id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          wsViewer: ctx.extra.viewer ?? { kind: 'anonymous' },
        });
        // A malformed document or a limit is an error message for this operation, never a closed connection.
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // Over HTTP Yoga codes syntax errors GRAPHQL_PARSE_FAILED; the same here.
          if (error instanceof GraphQLError) {
            return [
              error.extensions.code
                ? error
                : new GraphQLError(error.message, {
                    source: error.source,
                    positions: error.positions,
                    extensions: { ...error.extensions, code: 'GRAPHQL_PARSE_FAILED' },
                  }),
            ];
          }
          throw error;
        }
        // Bounded before validation: a flood of subscribe messages costs a parse each, nothing more.
        const viewer = ctx.extra.viewer ?? { kind: 'anonymous' };
        const isSubscription = getOperationAST(document, params.operationName ?? undefined)?.operation === 'subscription';
        ctx.extra.subscriptions ??= new Map();
        const socketSubscriptions = ctx.extra.subscriptions;
        if (isSubscription) {
          // graphql-ws forgets an operation as soon as the client completes it; its slot is free from then on.
          for (const [other, release] of socketSubscriptions) {
            if (!(other in ctx.subscriptions)) {
              release();
              socketSubscriptions.delete(other);
            }
          }
          const refused = bounds.refuseSubscription(viewer, socketSubscriptions.size);
          if (refused) return [refused];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // Counted until onComplete (or the socket's close) gives the slot back.
        if (isSubscription) socketSubscriptions.set(id, bounds.takeSubscription(viewer));
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName ?? null,
          document,
          variableValues: params.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        return args;
      },
    },
    wss,
  );

  let stopping = false;
  let stopped: Promise<void> | null = null;
  let sweeper: NodeJS.Timeout | null = null;
  let sweeping: Promise<void> = Promise.resolve();
  const sweepIntervalMs = deps.sweepIntervalMs ?? 15_000;
  const sweep = async () => {
    // R-LIFE-6: an instance off the clock of record decides nothing by time; the other instances sweep.
    const health = deps.clock.health?.();
    if (health && !health.ok)
      return void logger.warn(
        { skewSeconds: health.skewMs === null ? null : health.skewMs / 1000 },
        `background sweeps skipped: ${health.message}`,
      );
    try {
      await sweepLicenseStates(db, deps.clock, catalogs, {
        // One organization's bad data fails only that organization; the others are swept.
        onFailure: (organizationId, error) => {
          metrics.sweepFailures.inc({ sweep: 'license' });
          logger.warn({ err: error, organizationId }, 'licence state sweep failed for an organization');
        },
      });
    } catch (error) {
      // The next tick retries; a database outage shows in /readyz.
      logger.warn({ err: error }, 'licence state sweep failed');
    }
    try {
      const expired = await sweepExpiredSessions(db, deps.clock, {
        onError: (organizationId, error) => {
          metrics.sweepFailures.inc({ sweep: 'session_expiry' });
          logger.warn({ err: error, organizationId }, 'session expiry failed for an organization (the others were swept)');
        },
      });
      if (expired > 0) metrics.sessionsExpired.inc(expired);
    } catch (error) {
      logger.warn({ err: error }, 'session expiry sweep failed');
    }
  };
  const runSweep = () => {
    if (stopping) return;
    sweeping = sweeping.then(sweep);
  };

  async function drain(): Promise<void> {
    stopping = true;
    if (sweeper) clearInterval(sweeper);
    const webhooksStopped = webhooks.stop();
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    const wsClosed = new Promise<void>((resolve) => wss.close(() => resolve()));
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(finish, shutdownTimeoutMs);
      const poll = setInterval(checkDrained, 100);
      function finish() {
        clearTimeout(timer);
        clearInterval(poll);
        drained = null;
        resolve();
      }
      drained = finish;
      checkDrained();
    });
    const cut = [...inFlight].filter((res) => !streams.has(res)).length;
    if (cut > 0)
      logger.warn({ requests: cut, timeoutMs: shutdownTimeoutMs }, 'shutdown timeout: closing connections of unfinished requests');
    // Event streams and whatever is left: close their connections; clients reconnect to another instance.
    server.closeAllConnections();
    for (const res of inFlight) res.socket?.destroy();
    for (const client of wss.clients) client.terminate();
    await Promise.all([wsClosed, serverClosed, sweeping, webhooksStopped]);
    await live.stop();
    liveConnections.stop();
    stopRetryReports();
    await tokens.stop();
  }

  return {
    yoga,
    server,
    metrics,
    tokens,
    get draining() {
      return stopping;
    },
    start: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          if (sweepIntervalMs > 0) {
            sweeper = setInterval(runSweep, sweepIntervalMs);
            sweeper.unref();
            runSweep();
            webhooks.start();
          }
          resolve(server.address() as AddressInfo);
        });
      }),
    stop: () => (stopped ??= drain()),
  };
}

/** The envelop-wrapped execute/subscribe, passed to graphql-ws through rootValue as in Yoga's graphql-ws example. */
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

/** How long /readyz waits for the database before it answers 503. */
const READINESS_TIMEOUT_MS = 2000;

function withTimeout<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback), ms);
    void work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      () => {
        clearTimeout(timer);
        resolve(fallback);
      },
    );
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}
