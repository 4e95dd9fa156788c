/** Process entry: read config, open the database, migrate, listen; stop cleanly on SIGTERM/SIGINT. */
import { createApp } from './app.ts';
import { systemClock } from './clock.ts';
import { ConfigError, loadConfig } from './config.ts';
import { openDatabase } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';

function log(level: string, msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ level, time: new Date().toISOString(), msg, ...extra }));
}

let config;
try {
  config = loadConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : String(error));
  process.exit(2);
}

const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize });
try {
  await migrateToLatest(database.db);
} catch (error) {
  log('fatal', 'database migration failed', { error: error instanceof Error ? error.message : String(error) });
  await database.close();
  process.exit(1);
}

const app = createApp({ database, clock: systemClock, operatorToken: config.operatorToken, trustedKeys: config.licensePublicKeys });
const address = await app.start(config.port, config.host);
const shownHost = config.host === '0.0.0.0' ? 'localhost' : config.host;
log('info', 'gateway listening', {
  graphql: `http://${shownHost}:${address.port}/graphql`,
  dashboard: `http://${shownHost}:${address.port}/dashboard`,
  database: database.kind === 'postgres' ? 'postgres' : `pglite (${config.dataDir})`,
  trustedLicenseSigners: config.licensePublicKeys.map((k) => k.kid),
});
if (config.operatorTokenGenerated) {
  // Only for a first look on a developer machine; deployments set OPERATOR_TOKEN.
  log('warn', 'OPERATOR_TOKEN is not set; generated one for this run', { operatorToken: config.operatorToken });
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log('info', 'shutting down', { signal });
  const timer = setTimeout(() => {
    log('error', 'shutdown took too long; exiting');
    process.exit(1);
  }, 10_000);
  timer.unref();
  await app.stop();
  await database.close();
  log('info', 'stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
