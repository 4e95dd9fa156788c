/**
 * Builds the pre-built PGlite data directory that a fresh DATA_DIR starts
 * from (src/db/pglite-template.ts). scripts/build.mjs runs it on every build:
 *
 *   node dist/src/cli/pglite-template.js [DIR]   (default: dist/pglite-template/)
 */
import { buildTemplate } from '../db/pglite-template-build.ts';

try {
  const dir = await buildTemplate(process.argv[2]);
  console.error(`PGlite template ${dir}`);
  process.exit(0);
} catch (error) {
  console.error(`PGlite template not built: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
