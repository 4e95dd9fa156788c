/*
 * A PostgreSQL 15 server of a test's own, for tests that stop, crash and
 * restart it (never the shared test server): initdb on a temp directory (as
 * the `postgres` user when running as root, since initdb refuses root), on
 * 127.0.0.1 and a free port, restartable on the same directory and port, and
 * always stopped by its postmaster's pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** True when the PostgreSQL binaries are installed (tests that need them skip otherwise). */
export const HAVE_POSTGRES_BINARIES = existsSync(join(PG_BIN, 'postgres')) && existsSync(join(PG_BIN, 'initdb'));

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while a process with this pid exists (EPERM: it exists, owned by someone else). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface OwnPostgres {
  port: number;
  url(database?: string): string;
  /** Starts the server (again) on its directory and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT to the postmaster: sessions are ended with 57P01); resolves once it is gone. */
  stopFast(): Promise<void>;
  /** kill -9 of the postmaster (a crash); resolves once the postmaster and its backends are gone. */
  crash(): Promise<void>;
  /** Stops whatever runs and removes the directory. */
  dispose(): Promise<void>;
  log(): string;
}

/** A fresh cluster, not started yet (`await pg.start()`). */
export async function ownPostgres(port?: number): Promise<OwnPostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-test-pg-'));
  const asRoot = process.getuid?.() === 0;
  const asPg = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const [initCmd, initArgs] = asPg(join(PG_BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stdout}\n${init.stderr}`);
  const chosen = port ?? (await freePort());
  let launcher: ChildProcess | null = null;
  const postmasterPid = (): number | null => {
    try {
      const pid = Number.parseInt(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
      return Number.isInteger(pid) && pid > 0 ? pid : null;
    } catch {
      return null;
    }
  };
  const ready = () => spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(chosen), '-q']).status === 0;
  const log = () => (existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '');

  const start = async () => {
    for (let attempt = 0; ; attempt++) {
      const [cmd, args] = asPg(join(PG_BIN, 'postgres'), [
        '-D',
        data,
        '-h',
        '127.0.0.1',
        '-p',
        String(chosen),
        '-k',
        dir,
        '-c',
        'max_connections=100',
        '-c',
        'fsync=on',
      ]);
      const fd = openSync(join(dir, 'server.log'), 'a');
      const child = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
      closeSync(fd);
      launcher = child;
      for (let i = 0; i < 200 && child.exitCode === null && !ready(); i++) await sleep(50);
      if (ready()) return;
      // A refused start (the old shared memory is still attached by a dying backend): try again shortly.
      if (child.exitCode === null) child.kill('SIGKILL');
      if (attempt >= 20) throw new Error(`PostgreSQL did not start:\n${log()}`);
      await sleep(250);
    }
  };
  const waitGone = async (pid: number) => {
    for (let i = 0; i < 200 && alive(pid); i++) await sleep(50);
  };
  const stopFast = async () => {
    const pid = postmasterPid();
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGINT');
      await waitGone(pid);
    }
    await reap();
  };
  const crash = async () => {
    const pid = postmasterPid();
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGKILL');
      await waitGone(pid);
    }
    await reap();
  };
  const reap = async () => {
    const l = launcher;
    if (l && l.exitCode === null && l.signalCode === null) await new Promise((r) => l.once('exit', r));
  };
  return {
    port: chosen,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${chosen}/${database}`,
    start,
    stopFast,
    crash,
    log,
    dispose: async () => {
      const pid = postmasterPid();
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGINT');
        await waitGone(pid);
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      }
      const l = launcher;
      if (l && l.exitCode === null && l.signalCode === null) l.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
