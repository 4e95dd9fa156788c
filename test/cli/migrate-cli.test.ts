import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { DATABASES, emptyPostgresDatabase } from '../support/databases.ts';
import { ensureStopped, listeningBase, ROOT, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/*
 * `npm run migrate` as an operator runs it, a real process on a real database:
 * `status` lists applied and pending migrations, `down` reverts the last one
 * (its schema change undone, not only its row), `up` applies it again; on
 * PGlite it refuses a DATA_DIR that a gateway process holds, naming its pid.
 */

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function migrate(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/migrate.ts', ...args],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: '', ...env },
        timeout: 90_000,
      },
      (error, stdout, stderr) => resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr }),
    );
  });
}

const MIGRATIONS = ['2026_11_22_0001_foundation', '2026_11_23_0005_revision', '2026_12_01_0008_key_uniqueness'];
// The newest migration, whatever it is: `down` reverts it.
const LAST = readdirSync(new URL('../../migrations/', import.meta.url))
  .filter((name) => name.endsWith('.ts'))
  .sort()
  .at(-1)!
  .replace(/\.ts$/, '');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'migrate-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(DATABASES)('npm run migrate on %s', { timeout: 180_000 }, (kind) => {
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  beforeAll(async () => {
    if (kind === 'pglite') {
      env = { DATA_DIR: join(dir, 'data') };
    } else {
      const empty = await emptyPostgresDatabase();
      env = { DATABASE_URL: empty.url };
      dispose = empty.dispose;
    }
  });
  afterAll(() => dispose());

  /** Whether the last migration's unique index exists (read after the CLI has exited). */
  async function keyIndexExists(): Promise<boolean> {
    const handle = await openDatabase({ databaseUrl: env.DATABASE_URL ?? null, dataDir: env.DATA_DIR ?? null });
    try {
      const rows = await sql<{ n: number }>`select count(*)::int as n from pg_indexes where indexname = 'license_keys_key_id_uq'`.execute(
        handle.db,
      );
      return rows.rows[0]?.n === 1;
    } finally {
      await handle.close();
    }
  }

  it('status on a database never migrated lists every migration as pending', async () => {
    const run = await migrate(['status'], env);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    if (kind === 'pglite') {
      expect(run.stdout).toMatch(/holds no database yet: every migration is pending/);
      expect(existsSync(env.DATA_DIR!)).toBe(false);
    } else {
      for (const name of MIGRATIONS) expect(run.stdout).toContain(`pending  ${name}`);
      expect(run.stdout).toMatch(/^0 applied, \d+ pending$/m);
    }
  });

  it('down on a database never migrated refuses: nothing to revert', async () => {
    const run = await migrate(['down'], env);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/nothing to revert/);
  });

  it('up applies every migration; status then lists them all as applied', async () => {
    const applied = await migrate([], env);
    expect(applied.code, applied.stderr).toBe(0);
    for (const name of MIGRATIONS) expect(applied.stdout).toContain(name);
    const run = await migrate(['status'], env);
    expect(run.code, run.stderr).toBe(0);
    for (const name of MIGRATIONS) expect(run.stdout).toMatch(new RegExp(`^applied  ${name}  \\d{4}-\\d\\d-\\d\\dT`, 'm'));
    expect(run.stdout).toMatch(/^\d+ applied, 0 pending$/m);
    expect(await keyIndexExists()).toBe(true);
  });

  /** The public schema's tables, columns and indexes: what a migration's down() changes. */
  async function schemaShape(): Promise<string> {
    const handle = await openDatabase({ databaseUrl: env.DATABASE_URL ?? null, dataDir: env.DATA_DIR ?? null });
    try {
      const rows = await sql<{ item: string }>`
        select table_name || '.' || column_name as item from information_schema.columns where table_schema = 'public'
        union all select 'index ' || indexname from pg_indexes where schemaname = 'public'
        order by 1`.execute(handle.db);
      return rows.rows.map((r) => r.item).join('\n');
    } finally {
      await handle.close();
    }
  }

  it('down reverts the last migration (its down() runs), status shows it pending, up applies it again', async () => {
    const before = await schemaShape();
    const reverted = await migrate(['down'], env);
    expect(reverted.code, reverted.stderr).toBe(0);
    expect(reverted.stdout).toContain(`reverted: ${LAST}`);
    expect(await schemaShape()).not.toBe(before);

    const status = await migrate(['status'], env);
    expect(status.stdout).toContain(`pending  ${LAST}`);
    expect(status.stdout).toMatch(/^\d+ applied, 1 pending$/m);

    const again = await migrate(['up'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`applied: ${LAST}`);
    expect(await schemaShape()).toBe(before);
  });

  it('an unknown command is a usage error (exit code 2) and touches nothing', async () => {
    const run = await migrate(['sideways'], env);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown command "sideways"/);
  });
});

describe.skipIf(!DATABASES.includes('pglite'))('npm run migrate and a gateway on one DATA_DIR', { timeout: 180_000 }, () => {
  let gateway: GatewayProcess | undefined;
  afterAll(() => ensureStopped(gateway));

  it('up, status and down refuse while a gateway process holds the DATA_DIR, naming its pid; after it stops they run', async () => {
    const dataDir = join(dir, 'held');
    gateway = spawnGateway({ DATA_DIR: dataDir });
    await listeningBase(gateway);
    const pid = gateway.child.pid!;
    for (const args of [[], ['status'], ['down']]) {
      const run = await migrate(args, { DATA_DIR: dataDir });
      expect(run.code, `${args.join(' ')}: ${run.stdout}`).toBe(1);
      expect(run.stderr).toContain(`in use by process ${pid}`);
      expect(run.stdout).toBe('');
    }
    // The gateway still serves, and its lock file is still its own.
    await gateway.stop();
    const after = await migrate(['status'], { DATA_DIR: dataDir });
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/^\d+ applied, 0 pending$/m);
  });
});

/*
 * A rolling upgrade seen from the old release: the database has a migration
 * this release does not know (a newer one applied it). A running gateway of
 * this release stays ready; `migrate status` names the unknown migration;
 * `migrate up` and a new start of this release refuse, naming it.
 */
describe.each(DATABASES)('a database migrated by a newer release, on %s', { timeout: 180_000 }, (kind) => {
  const FUTURE = '2099_01_01_0099_future';
  let env: Record<string, string>;
  let dispose: () => Promise<void> = async () => undefined;
  const gateways: GatewayProcess[] = [];
  beforeAll(async () => {
    if (kind === 'pglite') {
      env = { DATA_DIR: join(dir, 'newer') };
      const applied = await migrate([], env);
      expect(applied.code, applied.stderr).toBe(0);
    } else {
      const empty = await emptyPostgresDatabase();
      env = { DATABASE_URL: empty.url };
      dispose = empty.dispose;
    }
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => ensureStopped(g)));
    await dispose();
  });

  async function recordFuture(): Promise<void> {
    const handle = await openDatabase({ databaseUrl: env.DATABASE_URL ?? null, dataDir: env.DATA_DIR ?? null });
    try {
      await sql`insert into kysely_migration (name, timestamp) values (${FUTURE}, ${new Date().toISOString()})`.execute(handle.db);
    } finally {
      await handle.close();
    }
  }

  it('status lists it as unknown, up refuses naming it; a gateway already running stays ready, a new one does not start', async () => {
    let running: GatewayProcess | undefined;
    if (kind === 'postgres') {
      // PostgreSQL: a gateway of this release is running while the newer release migrates.
      running = spawnGateway({ DATABASE_URL: env.DATABASE_URL! });
      gateways.push(running);
      const base = await listeningBase(running);
      await recordFuture();
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(200);
    } else {
      await recordFuture();
    }

    const status = await migrate(['status'], env);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`^unknown  ${FUTURE}  .*applied by a newer release`, 'm'));
    expect(status.stdout).toMatch(/, 1 unknown to this release$/m);

    const up = await migrate([], env);
    expect(up.code).toBe(1);
    expect(up.stderr).toContain(`previously executed migration ${FUTURE} is missing`);

    if (kind === 'postgres') {
      const late = spawnGateway({ DATABASE_URL: env.DATABASE_URL! });
      gateways.push(late);
      const exited = await late.exited;
      expect(exited.code).toBe(1);
      expect(late.output()).toContain(`previously executed migration ${FUTURE} is missing`);
    }
  });
});
