import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockDataDir } from '../../src/db/data-dir-lock.ts';
import { openDatabase, type Db } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { migrationFiles } from '../../src/db/migration-files.ts';
import { COPYING_MARKER, findTemplate, startFromTemplate, templateKey } from '../../src/db/pglite-template.ts';
import { buildTemplate } from '../../src/db/pglite-template-build.ts';
import { DATABASES } from '../support/databases.ts';

/*
 * The pre-built PGlite data directory (issue 20, item 6: pglite-template):
 * a fresh DATA_DIR starts as a copy of a directory made by initdb and every
 * migration, so it must be indistinguishable from one made the normal way,
 * and a template of other migrations (or another PGlite) is never used.
 */

/** What a schema is: tables, columns, indexes, constraints, triggers, functions, sequences, and the migrations table. */
async function schemaOf(db: Db): Promise<Record<string, unknown[]>> {
  const rows = async (query: ReturnType<typeof sql>) => (await query.execute(db)).rows;
  return {
    columns: await rows(sql`select table_name, column_name, ordinal_position, data_type, is_nullable, column_default
      from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`),
    indexes: await rows(
      sql`select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by tablename, indexname`,
    ),
    constraints: await rows(sql`select c.conrelid::regclass::text as tbl, c.conname, pg_get_constraintdef(c.oid) as def
      from pg_constraint c join pg_namespace n on n.oid = c.connamespace where n.nspname = 'public' order by 1, 2`),
    triggers: await rows(sql`select tgrelid::regclass::text as tbl, tgname, pg_get_triggerdef(oid) as def from pg_trigger
      where not tgisinternal order by 1, 2`),
    functions: await rows(sql`select p.proname, pg_get_function_identity_arguments(p.oid) as args, md5(p.prosrc) as body
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' order by 1, 2`),
    sequences: await rows(sql`select sequence_name, data_type, start_value, increment from information_schema.sequences
      where sequence_schema = 'public' order by 1`),
    migrations: await rows(sql`select name from kysely_migration order by name`),
    settings: await rows(sql`select current_database() as db, current_user as usr, current_setting('server_encoding') as enc,
      (select datcollate from pg_database where datname = current_database()) as collate, current_setting('TimeZone') as tz`),
  };
}

describe.skipIf(!DATABASES.includes('pglite'))('PGlite data directory from the template', { timeout: 300_000 }, () => {
  let root: string;
  let templates: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'gw-template-'));
    templates = join(root, 'templates');
    await buildTemplate(templates);
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('[pglite-template] the template is keyed by these migrations and this PGlite, and the build keeps only the current one', async () => {
    expect(readdirSync(templates)).toEqual([templateKey()]);
    expect(findTemplate(templates)).toBe(join(templates, templateKey()));
    expect(existsSync(join(templates, templateKey(), 'gateway.pid'))).toBe(false);
    // A second build with a stale one beside it: the current one is kept, the stale one removed.
    mkdirSync(join(templates, 'stale-key'));
    await buildTemplate(templates);
    expect(readdirSync(templates)).toEqual([templateKey()]);
  });

  it('[pglite-template] a fresh directory from the template has exactly the schema of one made by initdb and the migrations', async () => {
    const fromTemplate = join(root, 'from-template');
    const normal = join(root, 'normal');
    const a = await openDatabase({ databaseUrl: null, dataDir: fromTemplate, pgliteTemplates: templates });
    const b = await openDatabase({ databaseUrl: null, dataDir: normal, pgliteTemplates: null });
    try {
      // Nothing left to migrate in the copy; everything in the normal one.
      expect((await migrateToLatest(a.db)).results).toEqual([]);
      expect((await migrateToLatest(b.db)).results?.filter((r) => r.status === 'Success')).toHaveLength(migrationFiles().length);
      const [sa, sb] = [await schemaOf(a.db), await schemaOf(b.db)];
      expect(sa.columns?.length).toBeGreaterThan(50);
      expect(sa.migrations).toHaveLength(migrationFiles().length);
      expect(sa).toEqual(sb);
      // And it works as a database: a write survives a reopen.
      await sql`insert into organizations (id, name, catalog_code, created_at) values (gen_random_uuid(), 'Template Org', 'connect-storm', now())`.execute(
        a.db,
      );
    } finally {
      await a.close();
      await b.close();
    }
    expect(existsSync(join(fromTemplate, COPYING_MARKER))).toBe(false);
    const again = await openDatabase({ databaseUrl: null, dataDir: fromTemplate, pgliteTemplates: templates });
    try {
      const rows = (await sql<{ name: string }>`select name from organizations`.execute(again.db)).rows;
      expect(rows.map((r) => r.name)).toEqual(['Template Org']);
    } finally {
      await again.close();
    }
  });

  it('[pglite-template] a template of other migrations is never used: the directory is made the normal way', async () => {
    // The same directory under another key: what a template of an older build of the migrations looks like.
    const stale = join(root, 'stale-templates');
    mkdirSync(stale);
    cpSync(join(templates, templateKey()), join(stale, 'f'.repeat(32)), { recursive: true });
    expect(findTemplate(stale)).toBeNull();
    const dir = join(root, 'fallback');
    mkdirSync(dir);
    expect(await startFromTemplate(dir, stale)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
    const handle = await openDatabase({ databaseUrl: null, dataDir: dir, pgliteTemplates: stale });
    try {
      // initdb made it (PGlite's own), so every migration is still to apply.
      const applied = (await migrateToLatest(handle.db)).results?.filter((r) => r.status === 'Success') ?? [];
      expect(applied).toHaveLength(migrationFiles().length);
    } finally {
      await handle.close();
    }
    // No template at all: the same.
    expect(await startFromTemplate(join(root, 'fallback-none'), join(root, 'no-such-dir'))).toBe(false);
  });

  it('[pglite-template] a copy interrupted by a crash is cleared and made again; a directory that holds anything of the template is left alone', async () => {
    const dir = join(root, 'interrupted');
    mkdirSync(join(dir, 'base'), { recursive: true });
    writeFileSync(join(dir, COPYING_MARKER), '');
    writeFileSync(join(dir, 'base', 'half-copied'), 'x');
    expect(await startFromTemplate(dir, templates)).toBe(true);
    expect(existsSync(join(dir, 'base', 'half-copied'))).toBe(false);
    expect(existsSync(join(dir, COPYING_MARKER))).toBe(false);
    expect(existsSync(join(dir, 'PG_VERSION'))).toBe(true);
    // A directory that already holds a database is never touched.
    expect(await startFromTemplate(dir, templates)).toBe(false);

    const inTheWay = join(root, 'in-the-way');
    mkdirSync(join(inTheWay, 'base'), { recursive: true });
    expect(await startFromTemplate(inTheWay, templates)).toBe(false);
    expect(readdirSync(inTheWay)).toEqual(['base']);
  });

  it('[pglite-template] the DATA_DIR lock is taken on a directory made from the template, and keeps a second holder out', async () => {
    const dir = join(root, 'locked');
    const handle = await openDatabase({ databaseUrl: null, dataDir: dir, pgliteTemplates: templates });
    try {
      const release = lockDataDir(dir);
      expect(release).toBeTypeOf('function');
      expect(existsSync(join(dir, 'gateway.pid'))).toBe(true);
      release?.();
      expect(existsSync(join(dir, 'gateway.pid'))).toBe(false);
    } finally {
      await handle.close();
    }
    // A renamed template directory is not found either (the key is its name).
    renameSync(join(templates, templateKey()), join(templates, 'renamed'));
    try {
      expect(findTemplate(templates)).toBeNull();
    } finally {
      renameSync(join(templates, 'renamed'), join(templates, templateKey()));
    }
  });
});
