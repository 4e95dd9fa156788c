/**
 * `npm run migrate [-- up | status | down]`: the schema of DATABASE_URL (or of
 * the PGlite DATA_DIR). On PGlite it takes the DATA_DIR lock the gateway
 * takes (src/db/data-dir-lock.ts): two processes on one directory corrupt it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { loadConfig, type Config } from '../config.ts';
import { DataDirInUseError, lockDataDir } from '../db/data-dir-lock.ts';
import { openDatabase, type DatabaseHandle, type Db } from '../db/database.ts';
import { Refusal, runCli, UsageError } from './run.ts';
import { migrateToLatest, migrator } from '../db/migrate.ts';

const USAGE = `usage: npm run migrate [-- up | status | down | --help]

Works on the database the gateway would use: DATABASE_URL when set, else the
embedded PGlite database in DATA_DIR.

  up      (the default) apply the pending migrations (migrations/) and exit.
          The gateway applies them at start too, so this is optional.
  status  list every migration, applied (with when) or pending; changes nothing.
  down    revert the last applied migration (its down()); refused when that
          migration has none. Stop every gateway on the database first.

On DATA_DIR it takes the directory's lock (DATA_DIR/gateway.pid) and refuses,
naming the process, while a gateway uses that directory (PGlite allows one
process). On PostgreSQL, Kysely's advisory lock keeps two runs apart; it is a
session's, so with DATABASE_LISTEN_URL set (DATABASE_URL through a pooler in
transaction mode) the command works over DATABASE_LISTEN_URL.

Exit codes: 0 done or up to date, 1 migration, lock or configuration failed, 2 usage error.
`;

type Command = 'up' | 'status' | 'down';
const COMMANDS: readonly Command[] = ['up', 'status', 'down'];

function parse(argv: string[]): { help: boolean; command: Command } {
  let values: { help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help) return { help: true, command: 'up' };
  if (positionals.length > 1) throw new UsageError(`one command at most, got ${positionals.join(' ')}`);
  const name = positionals[0] ?? 'up';
  const command = COMMANDS.find((c) => c === name);
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)} (up, status or down)`);
  return { help: false, command };
}

/** Takes the DATA_DIR lock (PGlite only); returns its release, or null when there is nothing to lock yet. */
function lock(config: Config): (() => void) | null {
  if (config.databaseUrl) return null;
  try {
    return lockDataDir(config.dataDir);
  } catch (error) {
    if (error instanceof DataDirInUseError) throw new Refusal(`DATA_DIR: ${error.message}; stop that gateway first`);
    throw error;
  }
}

async function up(db: Db): Promise<void> {
  const result = await migrateToLatest(db);
  const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
}

async function status(db: Db): Promise<void> {
  const all = await migrator(db).getMigrations();
  for (const m of all) {
    console.log(m.executedAt ? `applied  ${m.name}  ${m.executedAt.toISOString()}` : `pending  ${m.name}`);
  }
  // Kysely lists only the migrations of this release: those a newer release applied are read from its table.
  const known = new Set(all.map((m) => m.name));
  const recorded = all.some((m) => m.executedAt)
    ? (await sql<{ name: string; timestamp: string }>`select name, timestamp from kysely_migration order by name`.execute(db)).rows
    : [];
  const unknown = recorded.filter((r) => !known.has(r.name));
  for (const r of unknown) console.log(`unknown  ${r.name}  ${new Date(r.timestamp).toISOString()}  (applied by a newer release)`);
  const pending = all.filter((m) => !m.executedAt).length;
  console.log(`${all.length - pending} applied, ${pending} pending${unknown.length ? `, ${unknown.length} unknown to this release` : ''}`);
}

async function down(db: Db): Promise<void> {
  const m = migrator(db);
  const last = (await m.getMigrations()).filter((info) => info.executedAt !== undefined).at(-1);
  if (last === undefined) throw new Refusal('down: no migration is applied; nothing to revert');
  // Kysely would drop the row of a migration without down() and leave its schema: refuse instead.
  if (typeof last.migration.down !== 'function') {
    throw new Refusal(`down: migration ${last.name} has no down(); it cannot be reverted (restore a backup taken before it instead)`);
  }
  const result = await m.migrateDown();
  if (result.error) {
    const cause = result.error instanceof Error ? result.error.message : String(result.error);
    throw new Error(`reverting ${last.name} failed: ${cause}`, { cause: result.error });
  }
  const reverted = result.results?.find((r) => r.direction === 'Down' && r.status === 'Success')?.migrationName;
  console.log(reverted ? `reverted: ${reverted}` : 'nothing reverted');
}

async function main(argv: string[]): Promise<number> {
  const { help, command } = parse(argv);
  if (help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const config = loadConfig();
  // Looking at a DATA_DIR that holds no database creates none.
  if (!config.databaseUrl && command !== 'up' && !existsSync(join(config.dataDir, 'PG_VERSION'))) {
    if (command === 'down') throw new Refusal(`down: DATA_DIR ${config.dataDir} holds no database; nothing to revert`);
    console.log(`DATA_DIR ${config.dataDir} holds no database yet: every migration is pending`);
    return 0;
  }
  let unlock = lock(config);
  let handle: DatabaseHandle | null = null;
  try {
    handle = await openDatabase({
      databaseUrl: config.databaseUrl,
      listenUrl: config.databaseListenUrl,
      dataDir: config.dataDir,
      poolSize: 2,
    });
    // A DATA_DIR initialized just now: lock it before touching anything (the gateway does the same).
    if (!config.databaseUrl && unlock === null) unlock = lock(config);
    // The migrations' advisory lock is a session's: over DATABASE_LISTEN_URL (direct) when set, not through a pooler.
    await handle.withSession((db) => ({ up, status, down })[command](db));
    return 0;
  } finally {
    await handle?.close();
    unlock?.();
  }
}

runCli('migrate', 'migration failed', main);
