import { readdir } from 'node:fs/promises';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './database.ts';

/** `migrations/` next to `src/`: the sources under tsx or vitest, `dist/migrations/` when running the build. */
const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url);
/** This module's own extension: `.ts` from the sources, `.js` from dist/ (scripts/build.mjs). */
const EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/**
 * Reads `migrations/*.ts` (or their compiled `.js`) in name order. The import
 * happens here rather than in Kysely's FileMigrationProvider so that the
 * loader running the app (tsx, or vitest's transform) also loads the
 * TypeScript migrations. Names leave out the extension, so a database
 * migrated from the sources and one migrated by the build agree.
 */
const provider: MigrationProvider = {
  async getMigrations() {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => /^\d/.test(f) && f.endsWith(EXTENSION) && !f.endsWith('.d.ts')).sort();
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

/** True when every migration in `migrations/` has been applied (readiness). */
export async function migrationsApplied(db: Db): Promise<boolean> {
  try {
    const all = await migrator(db).getMigrations();
    return all.every((m) => m.executedAt !== undefined);
  } catch {
    return false;
  }
}
