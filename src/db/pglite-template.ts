/*
 * The pre-built PGlite data directory: a fresh DATA_DIR starts as a copy of a
 * directory that PGlite's initdb made and every migration then migrated, once,
 * at build time (scripts/build.mjs runs src/cli/pglite-template.ts). That
 * skips the two slow parts of a fresh start: initdb in WebAssembly and the
 * migrations.
 *
 * The template stays true by its name: `<key>/` where the key is a hash of
 * the PGlite version and of the name and content of every migration file
 * the migrator would run (migration-files.ts). A template of other
 * migrations or another PGlite is never found, and the fresh directory is
 * made the normal way (initdb, then the migrations). Templates are
 * generated, never committed.
 *
 * A directory copy rather than PGlite's `loadDataDir` (a tarball that
 * PGlite unpacks in JavaScript through its Emscripten filesystem, slower
 * here): and the copy is crash-safe. A marker file is written first and
 * PG_VERSION, which makes PGlite take the directory for a database, last.
 * A start killed in between leaves the marker and no PG_VERSION, and the
 * next start clears what was copied and copies again.
 *
 * The files are copied by a worker thread, so main.ts starts the copy
 * before it loads the gateway's modules and the two run side by side (on
 * this machine the copy took 290 ms of a 2.0 s start). Not on libuv's
 * threads: 500 copies queued there held up the module loader's own file
 * reads (PGlite's modules) behind them.
 */
import { createHash } from 'node:crypto';
import { constants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MIGRATIONS_DIR, migrationFiles } from './migration-files.ts';

/** Bumped when the way templates are made changes, so older ones are not used (2: template0 and postgres dropped). */
const FORMAT = 2;
/** Where the build keeps templates: `dist/pglite-template/` next to `dist/src/` (ignored when running from the sources). */
export const TEMPLATE_DIR = fileURLToPath(new URL('../../pglite-template/', import.meta.url));
/** Present in a data directory while a template is being copied into it. */
export const COPYING_MARKER = '.template-copy';

/** The installed PGlite's version (its package.json, found from its entry point: the package exports no package.json). */
export function pgliteVersion(): string {
  const entry = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  const pkg = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== '@electric-sql/pglite' || !pkg.version) throw new Error(`no version in PGlite's package.json next to ${entry}`);
  return pkg.version;
}

/** The key of the template for exactly these migrations and this PGlite (hex). */
export function templateKey(): string {
  const hash = createHash('sha256').update(`format ${FORMAT}\npglite ${pgliteVersion()}\n`);
  for (const file of migrationFiles())
    hash
      .update(`${file}\0`)
      .update(readFileSync(new URL(file, MIGRATIONS_DIR)))
      .update('\0');
  return hash.digest('hex').slice(0, 32);
}

/** The template directory for the current key under `templates`, or null when there is none (stale or not built). */
export function findTemplate(templates: string = TEMPLATE_DIR): string | null {
  const dir = join(templates, templateKey());
  return existsSync(join(dir, 'PG_VERSION')) ? dir : null;
}

/**
 * Makes a fresh `dataDir` (created when missing) a copy of the current
 * template; false (nothing done) when the directory already holds a
 * database, when the template is stale or absent, or when something in the
 * directory is in the way. A copy interrupted by a crash (its marker, no
 * PG_VERSION) is cleared and done again. Everything but the file copies
 * happens before it returns; those run in a worker thread, needing nothing
 * of the caller's thread until the last.
 */
export async function startFromTemplate(dataDir: string, templates: string = TEMPLATE_DIR): Promise<boolean> {
  if (existsSync(join(dataDir, 'PG_VERSION'))) return false;
  const marker = join(dataDir, COPYING_MARKER);
  if (existsSync(marker))
    for (const entry of readdirSync(dataDir)) if (entry !== COPYING_MARKER) rmSync(join(dataDir, entry), { recursive: true, force: true });
  const template = findTemplate(templates);
  if (!template) return false;
  const entries = readdirSync(template);
  // Anything of the same name already there (not left by an interrupted copy): PGlite decides, as without a template.
  if (entries.some((entry) => existsSync(join(dataDir, entry)))) return false;
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(marker, '');
  const files: [from: string, to: string][] = [];
  plan(template, dataDir, files);
  await copyInWorker(files);
  copyFileSync(join(template, 'PG_VERSION'), join(dataDir, 'PG_VERSION'), constants.COPYFILE_FICLONE);
  unlinkSync(marker);
  return true;
}

/** The worker of `copyInWorker` (CommonJS, evaluated): copy-on-write where the filesystem can (a reflink), a plain copy elsewhere. */
const COPY_WORKER = `
const { workerData } = require('node:worker_threads');
const { constants, copyFileSync } = require('node:fs');
for (const [from, to] of workerData) copyFileSync(from, to, constants.COPYFILE_FICLONE);
`;

/** Copies every [from, to] pair in a worker thread; rejects with the first copy that failed. */
function copyInWorker(files: readonly [string, string][]): Promise<void> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(COPY_WORKER, { eval: true, workerData: files });
    worker.once('error', reject);
    worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the template copy's worker exited with code ${code}`))));
  });
}

/** Makes the directories of `from` under `to` at once and lists its files to copy, but the top level's PG_VERSION (copied last). */
function plan(from: string, to: string, files: [string, string][], top = true): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.isDirectory()) plan(join(from, entry.name), join(to, entry.name), files, false);
    else if (!(top && entry.name === 'PG_VERSION')) files.push([join(from, entry.name), join(to, entry.name)]);
  }
}
