import { readdirSync } from 'node:fs';

/** `migrations/` next to `src/`: the sources under tsx or vitest, `dist/migrations/` when running the build. */
export const MIGRATIONS_DIR = new URL('../../migrations/', import.meta.url);
/** This module's own extension: `.ts` from the sources, `.js` from dist/ (scripts/build.mjs). */
export const MIGRATION_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/**
 * The migration files the migrator runs, in name order (`0001_….ts` from the
 * sources, their compiled `.js` from dist/). The migrator (migrate.ts) and
 * the key of the pre-built PGlite directory (pglite-template.ts) both read
 * this one list, so the two cannot disagree about what "every migration" is.
 */
export function migrationFiles(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((f) => /^\d/.test(f) && f.endsWith(MIGRATION_EXTENSION) && !f.endsWith('.d.ts'))
    .sort();
}
