import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../hardening/own-postgres.ts';

/*
 * A PgBouncer of a test's (or the bench's) own: Debian's /usr/sbin/pgbouncer
 * with a generated ini in a temp directory, on 127.0.0.1 and a free port,
 * trust authentication (as the test servers use), no Unix socket. Run as the
 * `postgres` user when running as root (PgBouncer refuses root), spawned
 * directly so that the child's pid is PgBouncer's own; stopped by that pid,
 * also when the process exits without stopping it.
 */

export const PGBOUNCER = process.env.PGBOUNCER ?? '/usr/sbin/pgbouncer';

/** True when PgBouncer is installed (tests that need it skip otherwise; .ci/run installs it). */
export const HAVE_PGBOUNCER = existsSync(PGBOUNCER);

export type PoolMode = 'session' | 'transaction' | 'statement';

export interface PgBouncerOptions {
  /** Alias → PostgreSQL URL of the database behind it (user, host, port, database name are taken from it). */
  databases: Record<string, string>;
  poolMode: PoolMode;
  /** Server connections per database and user (PgBouncer's default_pool_size). */
  defaultPoolSize: number;
  /** Client connections PgBouncer accepts in all (default 1000). */
  maxClientConn?: number;
  /** Further [pgbouncer] settings, written as they are. */
  settings?: Record<string, string | number>;
}

export interface PgBouncer {
  port: number;
  pid: number;
  /** The URL of `alias` through PgBouncer. */
  url(alias: string): string;
  /** PgBouncer's admin console (SHOW POOLS, SHOW SERVERS, …). */
  show<T = Record<string, unknown>>(what: string): Promise<T[]>;
  /** What PgBouncer printed so far. */
  log(): string;
  /** SIGTERM to its pid (SIGKILL after 5 s); resolves once it has exited, then removes its directory. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every PgBouncer this process started and has not stopped yet: killed by pid when the process exits. */
const running = new Set<ChildProcess>();
let exitHook = false;

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  if (!HAVE_PGBOUNCER) throw new Error(`PgBouncer not found at ${PGBOUNCER} (apt-get install pgbouncer)`);
  const dir = mkdtempSync(join(tmpdir(), 'gateway-pgbouncer-'));
  const port = await freePort();
  const databases = Object.entries(options.databases).map(([alias, target]) => {
    const u = new URL(target);
    const user = decodeURIComponent(u.username || 'postgres');
    return `${alias} = host=${u.hostname} port=${u.port || 5432} dbname=${decodeURIComponent(u.pathname.slice(1))} user=${user}`;
  });
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    admin_users: 'postgres',
    pool_mode: options.poolMode,
    default_pool_size: options.defaultPoolSize,
    max_client_conn: options.maxClientConn ?? 1000,
    ...options.settings,
  };
  writeFileSync(join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    ['[databases]', ...databases, '', '[pgbouncer]', ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`), ''].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  let ids: { uid: number; gid: number } | object = {};
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    ids = { uid, gid };
  }
  const child = spawn(PGBOUNCER, [join(dir, 'pgbouncer.ini')], { ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  running.add(child);
  void exited.then(() => running.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of running) if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    });
  }
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => child.pid !== undefined && child.exitCode === null && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const admin = `postgres://postgres@127.0.0.1:${port}/pgbouncer`;
  // Ready once its admin console answers.
  for (let attempt = 0; ; attempt++) {
    const probe = new pg.Client({ connectionString: admin });
    try {
      await probe.connect();
      await probe.query('SHOW VERSION');
      await probe.end();
      break;
    } catch (error) {
      await probe.end().catch(() => undefined);
      if (attempt >= 100 || child.exitCode !== null) {
        await stop();
        throw new Error(`pgbouncer did not start: ${String(error)}\n${output}`);
      }
      await sleep(100);
    }
  }
  return {
    port,
    pid: child.pid!,
    url: (alias) => `postgres://postgres@127.0.0.1:${port}/${alias}`,
    show: async <T>(what: string) => {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        return (await client.query(`SHOW ${what}`)).rows as T[];
      } finally {
        await client.end();
      }
    },
    log: () => output,
    stop,
  };
}
