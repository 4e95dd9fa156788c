import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { procStat } from '../../src/db/data-dir-lock.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';
import { DATABASES } from '../support/databases.ts';
import { ensureStopped, gatewayCommand, gatewayEnv, listeningBase, ROOT, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/*
 * The PGlite data directory lock (issue name: pglite-restart). A restart right
 * after a kill -9 must start, even while the killed gateway is a zombie its
 * parent has not reaped yet, and a lock file naming a pid that now belongs to
 * another process is taken over; a live gateway still keeps a second one out.
 */

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-lock-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A migrated PGlite directory, made once (in-process) and copied for each test: a first start costs much. */
let template: string | null = null;
async function dataDir(): Promise<string> {
  if (!template) {
    template = mkdtempSync(join(tmpdir(), 'gw-lock-template-'));
    const handle = await openDatabase({ databaseUrl: null, dataDir: template });
    await migrateToLatest(handle.db);
    await handle.close();
  }
  const dir = tempDir();
  cpSync(template, dir, { recursive: true });
  return dir;
}
afterAll(() => {
  if (template) rmSync(template, { recursive: true, force: true });
});

function gateway(env: Record<string, string>): GatewayProcess {
  const g = spawnGateway(env);
  cleanups.push(() => ensureStopped(g));
  return g;
}

const lockHolder = (dir: string) => Number.parseInt(readFileSync(join(dir, 'gateway.pid'), 'utf8'), 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ready(base: string): Promise<unknown> {
  return (await fetch(`${base}/readyz`)).json();
}

describe.skipIf(!DATABASES.includes('pglite'))('PGlite data directory lock', { timeout: 120_000 }, () => {
  it('[R-AVAIL-5][pglite-restart] kill -9 of a gateway whose parent has not reaped it (a zombie): a gateway started at once on the same DATA_DIR takes the lock over and serves', async () => {
    const dir = await dataDir();
    // The victim's parent is `sleep`, which never waits for children: once killed, the victim stays a zombie.
    const log = join(tempDir(), 'victim.log');
    const command = gatewayCommand()
      .map((arg) => `"${arg}"`)
      .join(' ');
    const parent: ChildProcess = spawn('sh', ['-c', `${command} >"${log}" 2>&1 & exec sleep 600`], {
      cwd: ROOT,
      env: gatewayEnv({ DATA_DIR: dir }),
      stdio: 'ignore',
    });
    cleanups.push(() => void parent.kill('SIGKILL'));
    const listening = () => {
      try {
        return readFileSync(log, 'utf8').includes('"gateway listening"');
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 1200 && !listening(); i++) await sleep(50);
    expect(listening()).toBe(true);
    const victim = lockHolder(dir);
    expect(victim).toBeGreaterThan(0);
    cleanups.push(() => {
      try {
        process.kill(victim, 'SIGKILL');
      } catch {
        // gone
      }
    });
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 100 && procStat(victim)?.state !== 'Z'; i++) await sleep(10);
    expect(procStat(victim)?.state).toBe('Z');

    const next = gateway({ DATA_DIR: dir });
    const base = await listeningBase(next);
    expect(await ready(base)).toMatchObject({ ready: true });
    expect(lockHolder(dir)).toBe(next.child.pid);
  });

  it('[R-AVAIL-5][pglite-restart] a lock file naming a live process that is not the gateway that wrote it (its start time differs: the pid was reused) is taken over', async () => {
    const dir = await dataDir();
    const unrelated = spawn('sleep', ['600'], { stdio: 'ignore' });
    cleanups.push(() => void unrelated.kill('SIGKILL'));
    const start = procStat(unrelated.pid!)!.start;
    writeFileSync(join(dir, 'gateway.pid'), `${unrelated.pid} ${Number(start) + 12345}\n`);

    const next = gateway({ DATA_DIR: dir });
    const base = await listeningBase(next);
    expect(await ready(base)).toMatchObject({ ready: true });
    expect(lockHolder(dir)).toBe(next.child.pid);
    expect(unrelated.exitCode).toBeNull(); // untouched
  });

  it('[R-AVAIL-5][pglite-restart] a live gateway still keeps a second one out of its DATA_DIR (exit 2, naming the holder)', async () => {
    const dir = await dataDir();
    const first = gateway({ DATA_DIR: dir });
    await listeningBase(first);
    const second = gateway({ DATA_DIR: dir });
    expect((await second.exited).code).toBe(2);
    expect(second.stderr()).toMatch(new RegExp(`configuration error: DATA_DIR: .* is in use by process ${first.child.pid}`));
    expect(await ready(await listeningBase(first))).toMatchObject({ ready: true });
  });
});
