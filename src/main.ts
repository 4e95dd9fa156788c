/** Process entry: read config, open the database, migrate, listen; drain and stop cleanly on SIGTERM/SIGINT. */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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

// Loaded after the configuration is known good, so a bad variable is reported at once.
const [{ createApp }, { systemClock }, { openDatabase }, { migrateToLatest }, { createLogger }, { createMetrics }, { configureAllocationCache }] = await Promise.all([
  import('./app.ts'),
  import('./clock.ts'),
  import('./db/database.ts'),
  import('./db/migrate.ts'),
  import('./observability/logger.ts'),
  import('./observability/metrics.ts'),
  import('./assignments/allocation-cache.ts'),
]);
configureAllocationCache(config.allocationCacheUsers);

const logger = createLogger(config.logLevel);
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception; exiting');
  process.exit(1);
});

/**
 * PGlite takes no lock on its data directory, and two processes writing one
 * directory corrupt it; so the gateway keeps its pid in `gateway.pid` there.
 * A file left by a process that is gone (killed) is taken over. Returns null
 * when the directory is not initialized yet (PGlite's initdb wants it empty):
 * then the lock is taken right after opening.
 */
function lockDataDir(dir: string): (() => void) | null {
  if (!existsSync(join(dir, 'PG_VERSION'))) return null;
  const file = join(dir, 'gateway.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => {
        try {
          if (readFileSync(file, 'utf8').trim() === String(process.pid)) unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new ConfigError('DATA_DIR', `${dir} is in use by process ${pid}; PGlite allows one gateway process per data directory (use PostgreSQL for several)`);
      }
      unlinkSync(file);
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let unlock: (() => void) | null = null;
try {
  if (!config.databaseUrl) unlock = lockDataDir(config.dataDir);
} catch (error) {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
  process.exit(2);
}

const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize, statementTimeoutMs: config.databaseStatementTimeoutMs });
if (!config.databaseUrl && !unlock) unlock = lockDataDir(config.dataDir);
try {
  await migrateToLatest(database.db);
} catch (error) {
  logger.fatal({ error: error instanceof Error ? error.message : String(error) }, 'database migration failed');
  await database.close();
  unlock?.();
  process.exit(1);
}

const app = createApp({
  database,
  clock: systemClock,
  operatorToken: config.operatorToken,
  trustedKeys: config.licensePublicKeys,
  sessionTtlSeconds: config.sessionTtlSeconds,
  logger,
  metrics: createMetrics({ processMetrics: true }),
  limits: config.limits,
  rateLimits: config.rateLimits,
  trustProxy: config.trustProxy,
  shutdownTimeoutMs: config.shutdownTimeoutMs,
  metricsToken: config.metricsToken,
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
  await database.close();
  unlock?.();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
