import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { DATABASES, emptyPostgresDatabase } from '../support/databases.ts';
import { listeningBase, ROOT, spawnGateway, startScript } from '../support/launch.ts';

/** What package.json's start script runs: node's flags, and the file relative to dist/. */
const START = startScript();
const START_FLAGS = START.flags;
const START_ENTRY = START.entry.slice('dist/'.length);

/**
 * What `npm start` runs: the build of scripts/build.mjs (into a directory of
 * this test's own inside the repository, so node_modules resolve), started
 * with plain node: it migrates with the compiled migrations and gets ready.
 * The entry is the one bundled file (dist/gateway.mjs, esbuild): every file
 * it reads at run time (dashboard, catalog presets, migrations, the PGlite
 * template) is still found next to the modules that name it.
 */
describe('build and start (npm start runs the bundle dist/gateway.mjs)', { timeout: 180_000 }, () => {
  const out = join(ROOT, '.tmp', `build-test-${process.pid}`);
  const entry = () => join(out, START_ENTRY);
  const dataDir = mkdtempSync(join(tmpdir(), 'gateway-build-test-'));
  let database: { url: string; dispose(): Promise<void> } | null = null;

  afterAll(async () => {
    rmSync(out, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    await database?.dispose();
  });

  it('builds src/ and migrations/ to JavaScript; started as the start script starts it (its node flags too), it migrates and answers /readyz', async () => {
    await promisify(execFile)(process.execPath, ['scripts/build.mjs', '--out', out], { cwd: ROOT });
    expect(readdirSync(join(out, 'migrations')).every((f) => f.endsWith('.js'))).toBe(true);
    expect(readdirSync(join(out, 'src', 'catalogs', 'presets')).length).toBeGreaterThan(0);

    // An empty database: the compiled migrations must run (PostgreSQL when available, else a PGlite directory).
    const env: Record<string, string> = { OPERATOR_TOKEN: 'build-test-operator-token-0123' };
    if (DATABASES.includes('postgres')) {
      database = await emptyPostgresDatabase();
      env.DATABASE_URL = database.url;
    } else env.DATA_DIR = join(dataDir, 'data');
    expect(START_ENTRY).toBe('gateway.mjs');
    const gateway = spawnGateway(env, { entry: entry(), nodeFlags: START_FLAGS });
    const url = await listeningBase(gateway);
    try {
      const ready = await fetch(`${url}/readyz`);
      expect(await ready.json()).toEqual({
        ready: true,
        database: true,
        migrations: true,
        clock: expect.objectContaining({ ok: true, maxSkewSeconds: 60 }),
        draining: false,
      });
      // What the bundle reads from files at run time: the dashboard page, GraphiQL, a catalog preset.
      const dashboard = await fetch(`${url}/dashboard`);
      expect(dashboard.status).toBe(200);
      expect(await dashboard.text()).toContain('<html');
      const graphiql = await fetch(`${url}/graphql`, { headers: { accept: 'text/html' } });
      expect(await graphiql.text()).toContain('GraphiQL');
      const created = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${env.OPERATOR_TOKEN}` },
        body: JSON.stringify({
          query: 'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { catalog { code } } } }',
          variables: { input: { name: 'Built', catalog: 'connect-storm' } },
        }),
      });
      expect(await created.json()).toEqual({ data: { createOrganization: { organization: { catalog: { code: 'connect-storm' } } } } });
    } finally {
      expect((await gateway.stop('SIGTERM')).code).toBe(0);
    }
  });

  it('[pglite-template] the build holds the PGlite template; a fresh DATA_DIR starts from it, migrated, and is locked as any other', async () => {
    // The build before (above) made exactly one template, for its compiled migrations.
    const templates = readdirSync(join(out, 'pglite-template'));
    expect(templates).toHaveLength(1);
    expect(readdirSync(join(out, 'pglite-template', templates[0]!))).toContain('PG_VERSION');
    // Only the database PGlite opens (template1, base/1): template0 and postgres, never used, are not copied.
    expect(readdirSync(join(out, 'pglite-template', templates[0]!, 'base'))).toEqual(['1']);
    const dir = join(dataDir, 'fresh');
    const startedAt = Date.now();
    const env = { OPERATOR_TOKEN: 'build-test-operator-token-0123', DATA_DIR: dir };
    const gateway = spawnGateway(env, { entry: entry(), nodeFlags: START_FLAGS });
    try {
      const ready = await (await fetch(`${await listeningBase(gateway)}/readyz`)).json();
      expect(ready).toMatchObject({ ready: true, migrations: true });
      // A second gateway on the same directory is kept out by the lock (exit 2).
      const second = spawnGateway(env, { entry: entry(), nodeFlags: START_FLAGS });
      expect((await second.exited).code).toBe(2);
    } finally {
      expect((await gateway.stop('SIGTERM')).code).toBe(0);
    }
    // Made from the template: its migrations were recorded when the build ran, before this gateway started.
    const { openDatabase } = await import('../../src/db/database.ts');
    const handle = await openDatabase({ databaseUrl: null, dataDir: dir, pgliteTemplates: null });
    try {
      const { rows } = await sql<{ timestamp: Date | string }>`select timestamp from kysely_migration`.execute(handle.db);
      expect(rows.length).toBeGreaterThan(0);
      for (const row of rows) expect(new Date(row.timestamp).getTime()).toBeLessThan(startedAt);
    } finally {
      await handle.close();
    }
  });
});
