import { Migrator, sql, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './database.ts';
import { MIGRATION_EXTENSION as EXTENSION, MIGRATIONS_DIR, migrationFiles } from './migration-files.ts';

/**
 * Reads `migrations/*.ts` (or their compiled `.js`) in name order. The import
 * happens here rather than in Kysely's FileMigrationProvider so that the
 * loader running the app (tsx, or vitest's transform) also loads the
 * TypeScript migrations. Names leave out the extension, so a database
 * migrated from the sources and one migrated by the build agree.
 */
const provider: MigrationProvider = {
  async getMigrations() {
    const files = migrationFiles();
    const migrations: Record<string, Migration> = {};
    for (const file of files) {
      const module: Partial<Migration> = await import(new URL(file, MIGRATIONS_DIR).href);
      if (typeof module.up !== 'function') throw new Error(`migration ${file} has no up()`);
      migrations[file.slice(0, -EXTENSION.length)] = { up: module.up, ...(module.down ? { down: module.down } : {}) };
    }
    return migrations;
  },
};

/** Kysely's Migrator over `migrations/` (the CLI's `status` and `down` use it directly). */
export function migrator(db: Db): Migrator {
  return new Migrator({ db, provider });
}

/**
 * Applies every pending migration. Kysely's Migrator takes a PostgreSQL
 * advisory lock first, so several instances starting at once apply each
 * migration exactly once. Throws with the failing migration's name (the
 * database's error as its cause), or the database's own error when no
 * migration ran (unreachable: see isConnectionError).
 */
export async function migrateToLatest(db: Db): Promise<MigrationResultSet> {
  // Already exactly these migrations (every start but the first): what Kysely would find, in two small reads
  // instead of its catalog introspection (twice), its lock and the import of every migration.
  const applied = await appliedMigrations(db);
  const files = migrationNames();
  if (applied && applied.length === files.length && applied.every((name, i) => name === files[i])) return { results: [] };
  const result = await migrator(db).migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    // No migration failed: the run did not get that far (the database was not reachable, the lock not had).
    // The original error goes up, so the caller can tell a connection fault (and wait) from a broken migration.
    if (failed === undefined) throw result.error;
    throw new Error(`migration ${failed} failed: ${result.error instanceof Error ? result.error.message : String(result.error)}`, {
      cause: result.error,
    });
  }
  return result;
}

/** The names of the migration files, as the migrator records them (without the extension), in name order. */
function migrationNames(): string[] {
  return migrationFiles().map((file) => file.slice(0, -EXTENSION.length));
}

/** The names recorded in Kysely's migration table, in name order; null when there is no such table yet. */
async function appliedMigrations(db: Db): Promise<string[] | null> {
  const table = await sql<{ present: boolean }>`select to_regclass('kysely_migration') is not null as present`.execute(db);
  if (!table.rows[0]?.present) return null;
  const rows = await sql<{ name: string }>`select name from kysely_migration`.execute(db);
  // Sorted here, as the files are: the database's collation may order names otherwise.
  return rows.rows.map((row) => row.name).sort();
}

/** True when every migration in `migrations/` has been applied (readiness; two small reads). */
export async function migrationsApplied(db: Db): Promise<boolean> {
  try {
    const applied = new Set(await appliedMigrations(db));
    return migrationNames().every((name) => applied.has(name));
  } catch {
    return false;
  }
}
