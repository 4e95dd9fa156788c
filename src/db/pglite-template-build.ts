import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from './database.ts';
import { migrateToLatest } from './migrate.ts';
import { TEMPLATE_DIR, templateKey } from './pglite-template.ts';

/**
 * Builds the template of the current key under `templates` (see
 * pglite-template.ts): a PGlite directory made the normal way (initdb, then
 * every migration), closed cleanly, renamed into place; templates of other
 * keys there are removed. Returns its directory (kept when it exists).
 *
 * @example
 * const dir = await buildTemplate(mkdtempSync(join(tmpdir(), 'templates-')));
 */
export async function buildTemplate(templates: string = TEMPLATE_DIR): Promise<string> {
  const key = templateKey();
  const target = join(templates, key);
  mkdirSync(templates, { recursive: true });
  if (!existsSync(join(target, 'PG_VERSION'))) {
    const work = `${target}.new-${process.pid}`;
    rmSync(work, { recursive: true, force: true });
    // Never from a template itself: this is the normal path that the template stands for.
    const handle = await openDatabase({ databaseUrl: null, dataDir: work, pgliteTemplates: null });
    try {
      await migrateToLatest(handle.db);
    } finally {
      await handle.close();
    }
    rmSync(target, { recursive: true, force: true });
    renameSync(work, target);
  }
  for (const entry of readdirSync(templates)) if (entry !== key) rmSync(join(templates, entry), { recursive: true, force: true });
  return target;
}
