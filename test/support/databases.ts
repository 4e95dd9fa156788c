import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type DatabaseHandle, type DatabaseKind } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

/**
 * The databases every integration suite runs on: PGlite always, PostgreSQL
 * when TEST_DATABASE_URL is set. TEST_DATABASES=pglite|postgres narrows it.
 */
export const DATABASES: DatabaseKind[] = (() => {
  const wanted = (process.env.TEST_DATABASES ?? 'pglite,postgres').split(',').map((s) => s.trim());
  const kinds: DatabaseKind[] = [];
  if (wanted.includes('pglite')) kinds.push('pglite');
  if (wanted.includes('postgres') && process.env.TEST_DATABASE_URL) kinds.push('postgres');
  if (wanted.includes('postgres') && !process.env.TEST_DATABASE_URL && process.env.TEST_DATABASES?.includes('postgres')) {
    throw new Error('TEST_DATABASES asks for postgres but TEST_DATABASE_URL is not set');
  }
  return kinds;
})();

export const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? null;

export interface TestDatabase extends DatabaseHandle {
  /** For PostgreSQL: the URL of this test's own database (for a second process or pool). */
  url: string | null;
  /** Closes and drops the test's database. */
  dispose(): Promise<void>;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** A fresh, migrated database of `kind`: PGlite in memory (or in `dataDir`), or a new PostgreSQL database. */
export async function freshDatabase(kind: DatabaseKind, options: { dataDir?: string; poolSize?: number } = {}): Promise<TestDatabase> {
  if (kind === 'pglite') {
    const handle = await openDatabase({ databaseUrl: null, dataDir: options.dataDir ?? null });
    await migrateToLatest(handle.db);
    return { ...handle, url: null, dispose: () => handle.close() };
  }
  const empty = await emptyPostgresDatabase();
  const handle = await openDatabase({ databaseUrl: empty.url, dataDir: null, poolSize: options.poolSize ?? 10 });
  await migrateToLatest(handle.db);
  let disposed = false;
  return {
    ...handle,
    url: empty.url,
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      await handle.close();
      await empty.dispose();
    },
  };
}

/** An empty PostgreSQL database, not migrated (for tests of migration itself). */
export async function emptyPostgresDatabase(): Promise<{ url: string; dispose(): Promise<void> }> {
  if (!POSTGRES_URL) throw new Error('TEST_DATABASE_URL is not set');
  const name = `gw_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return {
    url: withDatabase(POSTGRES_URL, name),
    dispose: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
