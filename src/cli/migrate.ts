/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the PGlite DATA_DIR) and exits. */
import { ConfigError, loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';

try {
  const config = loadConfig();
  const handle = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: 2 });
  try {
    const result = await migrateToLatest(handle.db);
    const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
  } finally {
    await handle.close();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? `configuration error: ${error.message}` : `migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
