/** `npm run migrate`: applies pending migrations to DATABASE_URL (or the PGlite DATA_DIR) and exits. */
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config.ts';
import { openDatabase } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';

const USAGE = `usage: npm run migrate [-- --help]

Applies the pending migrations (migrations/) to the database the gateway would
use: DATABASE_URL when set, else the embedded PGlite database in DATA_DIR, and
exits. The gateway applies them at start too, so this is optional. Do not run it
on a DATA_DIR while a gateway uses that directory (PGlite allows one process).

Exit codes: 0 applied or up to date, 1 migration or configuration failed, 2 usage error.
`;

let help: boolean | undefined;
try {
  ({
    values: { help },
  } = parseArgs({
    args: process.argv.slice(2),
    options: { help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: false,
  }));
} catch (error) {
  console.error(`migrate: ${error instanceof Error ? error.message : String(error)} (run with --help for usage)`);
  process.exit(2);
}
if (help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

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
  console.error(
    error instanceof ConfigError
      ? `configuration error: ${error.message}`
      : `migration failed: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
}
