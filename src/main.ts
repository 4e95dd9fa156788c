/** Process entry: read config, open the database, migrate, listen; drain and stop cleanly on SIGTERM/SIGINT. */
import type { Config } from './config.ts';

// Production unless told otherwise: graphql-js otherwise re-checks every failed instanceof for a second copy of
// itself (1.5 % of the gateway's CPU in a login storm). Set before anything imports graphql.
process.env.NODE_ENV ??= 'production';
const { ConfigError, loadConfig } = await import('./config.ts');

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
  process.exit(2);
}

// A fresh PGlite DATA_DIR is copied from the build's template by a worker thread while the modules below load
// (db/pglite-template.ts). openDatabase awaits it; a failed copy is reported there, not as an unhandled rejection.
const templateCopy = config.databaseUrl ? null : (await import('./db/pglite-template.ts')).startFromTemplate(config.dataDir);
templateCopy?.catch(() => undefined);

// Loaded after the configuration is known good, so a bad variable is reported at once.
const [
  { createApp },
  { DbClock },
  { openDatabase },
  { migrateToLatest },
  { createLogger },
  { createMetrics },
  { describeFault, isConnectionError },
  { DataDirInUseError, lockDataDir },
  { sql },
] = await Promise.all([
  import('./app.ts'),
  import('./db/db-clock.ts'),
  import('./db/database.ts'),
  import('./db/migrate.ts'),
  import('./observability/logger.ts'),
  import('./observability/metrics.ts'),
  import('./db/faults.ts'),
  import('./db/data-dir-lock.ts'),
  import('kysely'),
]);

const logger = createLogger(config.logLevel);
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
process.on('uncaughtException', (error) => {
  // A database fault never ends the process (every connection has its error listener; this is the net under
  // them): the pool and the LISTEN connection come back on their own, /readyz says 503 meanwhile.
  if (isConnectionError(error))
    return void logger.error({ err: error, fault: describeFault(error) }, 'database connection fault outside any request; continuing');
  logger.fatal({ err: error }, 'uncaught exception; exiting');
  process.exit(1);
});

/** PGlite's data directory: one gateway process at a time (src/db/data-dir-lock.ts). */
function lock(): (() => void) | null {
  try {
    return lockDataDir(config.dataDir);
  } catch (error) {
    console.error(error instanceof DataDirInUseError ? `configuration error: DATA_DIR: ${error.message}` : String(error));
    process.exit(2);
  }
}

let unlock: (() => void) | null = config.databaseUrl ? null : lock();

const database = await openDatabase({
  databaseUrl: config.databaseUrl,
  listenUrl: config.databaseListenUrl,
  dataDir: config.dataDir,
  poolSize: config.databasePoolSize,
  statementTimeoutMs: config.databaseStatementTimeoutMs,
  preparedStatements: config.databasePreparedStatements,
  ...(templateCopy ? { pgliteTemplateCopy: templateCopy } : {}),
  onConnectionError: (error, where) => logger.warn({ where, fault: describeFault(error) }, 'database connection lost; reconnecting'),
});
if (!config.databaseUrl && !unlock) unlock = lock();

/** Ends the start as a configuration error does: the message names the variable, exit 2. */
async function refuse(variable: string, message: string): Promise<never> {
  console.error(`configuration error: ${variable}: ${message}`);
  logger.fatal({ variable }, message);
  await database.close().catch(() => undefined);
  unlock?.();
  process.exit(2);
}

/** PgBouncer's refusal of a startup parameter it does not track (its FATAL comes as 08P01, a "connection" fault). */
function refusedStartupParameter(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /unsupported startup parameter/i.test(message);
}

/**
 * Migrates, waiting for a database that is not reachable yet (it may start
 * after the gateway): attempts 250 ms apart, doubling up to 5 s, for
 * DATABASE_WAIT_SECONDS at most; each retry is logged with its reason.
 */
async function migrateWhenReachable(): Promise<void> {
  const deadline = Date.now() + config.databaseWaitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      // The migrations hold a session advisory lock across statements: over DATABASE_LISTEN_URL when set
      // (a direct connection), never through a pooler in transaction mode. Then one statement through the pool.
      await database.withSession((db) => migrateToLatest(db));
      if (database.kind === 'postgres') await sql`select 1`.execute(database.db);
      if (attempt > 1) logger.info({ attempts: attempt }, 'database reachable');
      return;
    } catch (error) {
      if (refusedStartupParameter(error) && config.databaseStatementTimeoutMs > 0) {
        await refuse(
          'DATABASE_STATEMENT_TIMEOUT_MS',
          `the server at DATABASE_URL or DATABASE_LISTEN_URL refuses the statement_timeout startup parameter (${describeFault(error)}), ` +
            "as PgBouncer does: set DATABASE_STATEMENT_TIMEOUT_MS=0 and put the timeout on the database or role (ALTER ROLE … SET statement_timeout = '15s')",
        );
      }
      const retryInMs = Math.min(5000, 250 * 2 ** Math.min(attempt - 1, 10));
      if (!isConnectionError(error) || Date.now() + retryInMs > deadline) {
        const reason = isConnectionError(error)
          ? `database not reachable after ${config.databaseWaitMs / 1000} s (DATABASE_WAIT_SECONDS)`
          : 'database migration failed';
        logger.fatal({ error: error instanceof Error ? error.message : String(error), fault: describeFault(error) }, reason);
        await database.close().catch(() => undefined);
        unlock?.();
        process.exit(1);
      }
      logger.warn({ attempt, retryInMs, fault: describeFault(error) }, 'database not reachable; waiting for it (retrying)');
      await new Promise((resolve) => setTimeout(resolve, retryInMs));
    }
  }
}
await migrateWhenReachable();

/** How long the start waits for its own NOTIFY to come back on the LISTEN connection. */
const LISTEN_CHECK_MS = 10_000;
// Live updates and token revocations come through LISTEN: a pooler in transaction mode would lose them silently.
if (!(await database.checkListen(LISTEN_CHECK_MS))) {
  await refuse(
    config.databaseListenUrl ? 'DATABASE_LISTEN_URL' : 'DATABASE_URL',
    config.databaseListenUrl
      ? `a NOTIFY sent through DATABASE_URL did not arrive on the LISTEN connection of DATABASE_LISTEN_URL within ${LISTEN_CHECK_MS / 1000} s: ` +
          'DATABASE_LISTEN_URL must be a direct connection (no pooler in transaction or statement mode) to the same database as DATABASE_URL'
      : `a NOTIFY sent through DATABASE_URL did not arrive on a LISTEN connection of DATABASE_URL within ${LISTEN_CHECK_MS / 1000} s, ` +
          'as happens through a pooler in transaction or statement mode (PgBouncer): set DATABASE_LISTEN_URL to a direct connection to PostgreSQL',
  );
}

// The clock of record is the database's (R-LIFE-6): decisions use its time, and an instance whose OS clock is off
// by more than CLOCK_SKEW_MAX_SECONDS is not ready, refuses mutations and skips its sweeps until it is corrected.
const clock = new DbClock({
  db: database.db,
  maxSkewMs: config.clockSkewMaxMs,
  onHealthChange: (health) =>
    health.ok
      ? logger.info({ skewSeconds: (health.skewMs ?? 0) / 1000 }, `clock within bound: ${health.message}`)
      : logger.error(
          { skewSeconds: health.skewMs === null ? null : health.skewMs / 1000 },
          `clock skew: ${health.message}; not ready, mutations refused`,
        ),
});
await clock.start();

const app = createApp({
  database,
  clock,
  operatorToken: config.operatorToken,
  trustedKeys: config.licensePublicKeys,
  sessionTtlSeconds: config.sessionTtlSeconds,
  denialEventIntervalSeconds: config.denialEventIntervalSeconds,
  logger,
  metrics: createMetrics({ processMetrics: true, perOrganization: config.metricsPerOrganization }),
  limits: config.limits,
  rateLimits: config.rateLimits,
  trustProxy: config.trustProxy,
  shutdownTimeoutMs: config.shutdownTimeoutMs,
  metricsToken: config.metricsToken,
  liveLimits: config.liveLimits,
  allocationCacheUsers: config.allocationCacheUsers,
  webhooks: config.webhooks,
  oidc: config.oidc,
});
const address = await app.start(config.port, config.host);
const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
logger.info(
  {
    graphql: `http://${shownHost}:${address.port}/graphql`,
    dashboard: `http://${shownHost}:${address.port}/dashboard`,
    metrics: `http://${shownHost}:${address.port}/metrics`,
    database: database.kind === 'postgres' ? 'postgres' : `pglite (${config.dataDir})`,
    trustedLicenseSigners: config.licensePublicKeys.map((k) => k.kid),
    introspection: config.limits.introspection,
  },
  'gateway listening',
);
if (config.operatorTokenGenerated) {
  // Only for a first look on a developer machine; deployments set OPERATOR_TOKEN.
  // The one secret ever written to the log: one this process made up itself.
  logger.warn({ generatedOperatorToken: config.operatorToken }, 'OPERATOR_TOKEN is not set; generated one for this run');
}

let stopping = false;
/**
 * SIGTERM/SIGINT: /readyz answers 503, the port stops accepting, WebSockets
 * close with 1001, in-flight requests finish (SHUTDOWN_TIMEOUT_SECONDS at
 * most), the database closes, exit 0. Should closing itself hang, exit 1.
 */
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining');
  const hardStop = setTimeout(() => {
    logger.error('shutdown did not finish; exiting');
    process.exit(1);
  }, config.shutdownTimeoutMs + 10_000);
  hardStop.unref();
  await app.stop();
  clock.stop();
  await database.close();
  unlock?.();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
