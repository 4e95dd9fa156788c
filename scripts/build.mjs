#!/usr/bin/env node
/*
 * Builds what `npm start` runs: every file of tsconfig.build.json (src/, migrations/)
 * transpiled to dist/ with TypeScript's transpileModule (each file on its own, as
 * `isolatedModules` guarantees is safe; types are checked by `npm run typecheck`,
 * not here), plus the non-TypeScript files under src/ (catalog presets, the
 * dashboard page), and dist/gateway.mjs: src/main.js with what it imports
 * bundled into one file (see `bundle`). Running plain JavaScript instead of
 * tsx saves about 100 MiB of RSS and a loader thread (BENCHMARKS.md, R-PERF-4).
 *
 *   node scripts/build.mjs              build (npm ci runs it as `prepare`)
 *   node scripts/build.mjs --if-stale   build only when an input is newer than
 *                                       the last build (`prestart`; a few ms
 *                                       when nothing changed)
 *   node scripts/build.mjs --out DIR    into DIR instead of dist/ (tests)
 *
 * It also makes the pre-built PGlite data directory a fresh DATA_DIR starts
 * from (dist/pglite-template/, see src/db/pglite-template.ts).
 *
 * The new tree is written next to dist/ and swapped in by rename, so a deleted
 * source (a migration!) leaves nothing behind and a gateway starting meanwhile
 * sees either the old build or the new one.
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const outIndex = process.argv.indexOf('--out');
const OUT = outIndex > 0 && process.argv[outIndex + 1] ? resolve(process.argv[outIndex + 1]) : join(ROOT, 'dist');
const STAMP = join(OUT, '.build-stamp');
const CONFIG = join(ROOT, 'tsconfig.build.json');
/** Everything whose change makes the build stale (directories too: their mtime moves when a file is added, removed or renamed). */
const INPUTS = ['src', 'migrations', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.mjs', 'package.json'];

function newestMtime(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  let newest = stat.mtimeMs;
  if (stat.isDirectory()) for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

function isStale() {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.some((input) => newestMtime(join(ROOT, input)) > built);
}

async function build() {
  const started = performance.now();
  // Loaded only when building: TypeScript itself takes a few hundred ms to load.
  const { default: ts } = await import('typescript');
  const read = ts.readConfigFile(CONFIG, ts.sys.readFile);
  if (read.error) throw new Error(ts.formatDiagnostic(read.error, formatHost));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, ROOT, undefined, CONFIG);
  if (parsed.errors.length > 0) throw new Error(ts.formatDiagnostics(parsed.errors, formatHost));
  const options = parsed.options;
  const rootDir = options.rootDir ?? ROOT;
  const staging = `${OUT}.new-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });

  let failed = false;
  for (const file of parsed.fileNames) {
    if (file.endsWith('.d.ts')) continue;
    const { outputText, diagnostics } = ts.transpileModule(ts.sys.readFile(file) ?? '', {
      // transpileModule cannot tell ESM from CJS under NodeNext; package.json says "type": "module".
      compilerOptions: { ...options, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, noEmit: false },
      fileName: file,
      reportDiagnostics: true,
    });
    if (diagnostics?.length) {
      failed = true;
      console.error(ts.formatDiagnostics(diagnostics, formatHost));
    }
    const target = join(staging, relative(rootDir, file)).replace(/\.(m|c)?ts$/, (_, m) => `.${m ?? ''}js`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  if (failed) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error('build failed (syntax errors above)');
  }
  copyAssets(join(ROOT, 'src'), join(staging, 'src'));
  await bundle(staging);
  buildPgliteTemplate(staging);
  writeFileSync(join(staging, '.build-stamp'), `${new Date().toISOString()}\n`);

  const old = `${OUT}.old-${process.pid}`;
  if (existsSync(OUT)) renameSync(OUT, old);
  renameSync(staging, OUT);
  rmSync(old, { recursive: true, force: true });
  console.error(
    `built ${parsed.fileNames.length} files into ${relative(ROOT, OUT) || OUT}/ in ${Math.round(performance.now() - started)} ms`,
  );
}

/**
 * Packages left out of the bundle, loaded from node_modules as usual: PGlite
 * finds its WebAssembly and data files next to its own modules,
 * jsonc-parser's UMD build requires its parts by computed paths, and
 * render-graphiql (8.8 MB, two thirds of the bundle) is imported only when
 * the GraphiQL page is first asked for (src/server/graphiql.ts).
 */
const UNBUNDLED = ['@electric-sql/pglite', 'jsonc-parser', 'pg-native', '@graphql-yoga/render-graphiql'];

/**
 * <build>/gateway.mjs, what `npm start` runs: src/main.js and everything it
 * imports (node_modules included, but UNBUNDLED) as one file, by esbuild.
 * Node's module loaders resolve, read and link each of the 1,200 modules
 * (160 of them the gateway's) on its own: about 1 s of a 2.8 s start on
 * PGlite (a CPU profile of `node dist/src/main.js`); the bundle starts in
 * 1.8 s.
 * Each module's `import.meta.url` is replaced by the URL of its own compiled
 * file in the tree beside the bundle, so what it reads relative to itself
 * (dashboard.html, the catalog presets, migrations/, the PGlite template) is
 * found where it always was; the migrations are still imported as files.
 */
async function bundle(staging) {
  const { build: esbuild } = await import('esbuild');
  const outfile = join(staging, 'gateway.mjs');
  const ownFiles = join(staging, 'src');
  const built = await esbuild({
    entryPoints: [join(ownFiles, 'main.js')],
    metafile: true,
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // A package's ES module build before its CommonJS one (esbuild's default for node is the reverse). graphql
    // ships both without an `exports` map: bundled as CommonJS, each of the 44 modules that import it reads every
    // binding through a getter (`__toESM`), about 1 % of a storm's profile in the executor's hot loop alone.
    mainFields: ['module', 'main'],
    external: UNBUNDLED,
    logLevel: 'warning',
    // Bundled CommonJS packages call require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __gatewayRequire } from 'node:module'; const require = __gatewayRequire(import.meta.url);" },
    plugins: [
      {
        // A deep import (`graphql/language/parser`, by graphql-armor-max-tokens) names no main field: it would
        // resolve to the CommonJS file and bring a second copy of graphql (its GraphQLError failing instanceof).
        name: 'graphql-as-es-modules',
        setup(build) {
          build.onResolve({ filter: /^graphql\/[\w/]+$/ }, (args) => {
            const file = join(ROOT, 'node_modules', `${args.path}.mjs`);
            return existsSync(file) ? { path: file } : undefined;
          });
        },
      },
      {
        name: 'own-import-meta-url',
        setup(build) {
          build.onLoad({ filter: /\.js$/ }, async (args) => {
            if (!args.path.startsWith(ownFiles)) return undefined;
            const source = readFileSync(args.path, 'utf8');
            if (!source.includes('import.meta.url')) return undefined;
            const own = `new URL(${JSON.stringify(relative(staging, args.path))}, import.meta.url).href`;
            return { contents: source.replaceAll('import.meta.url', own), loader: 'js' };
          });
        },
      },
    ],
  });
  // One graphql, as ES modules: a CommonJS file of it beside the .mjs ones would be a second copy.
  const cjsGraphql = Object.keys(built.metafile.inputs).filter((file) => /node_modules\/graphql\/.*\.js$/.test(file));
  if (cjsGraphql.length > 0) throw new Error(`the bundle holds graphql as CommonJS as well: ${cjsGraphql.slice(0, 3).join(', ')}`);
}

/**
 * The pre-built PGlite data directory (src/db/pglite-template.ts): initdb and
 * every compiled migration, once, into <build>/pglite-template/<key>/, so
 * that a fresh DATA_DIR starts as a copy of it. The previous build's is
 * reused when its key (PGlite version, migration files) is still the same.
 * Without it the gateway makes fresh directories the normal way, so a
 * failure here warns and the build goes on.
 */
function buildPgliteTemplate(staging) {
  const templates = join(staging, 'pglite-template');
  const previous = join(OUT, 'pglite-template');
  if (existsSync(previous)) cpSync(previous, templates, { recursive: true });
  const run = spawnSync(process.execPath, [join(staging, 'src', 'cli', 'pglite-template.js'), templates], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (run.status !== 0) {
    rmSync(templates, { recursive: true, force: true });
    console.error('warning: no PGlite template in this build; fresh PGlite directories run initdb and the migrations');
  }
}

/** Non-TypeScript files the code reads at run time, relative to itself (presets, dashboard.html). */
function copyAssets(from, to) {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const source = join(from, entry.name);
    if (entry.isDirectory()) copyAssets(source, join(to, entry.name));
    else if (!/\.[mc]?ts$/.test(entry.name)) {
      mkdirSync(to, { recursive: true });
      copyFileSync(source, join(to, entry.name));
    }
  }
}

const formatHost = { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' };

if (!process.argv.includes('--if-stale') || isStale()) {
  try {
    await build();
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }
}
