/*
 * A private PostgreSQL for the bench: initdb on a temp directory, started on
 * 127.0.0.1 and a free port (as the `postgres` user when running as root,
 * since initdb refuses root), stopped by its postmaster pid; and pgbench
 * helpers for the baselines (the same conditional UPDATE the gateway runs).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync, mkdirSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { onCleanup, tempDir } from './cleanup.ts';

// The server helpers are shared with the tests that run a PostgreSQL of their own.
import { alive as isAlive, freePort, PG_BIN } from '../test/hardening/own-postgres.ts';

export { freePort, PG_BIN };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface PgServer {
  port: number;
  dir: string;
  /** The -h argument of libpq tools: 127.0.0.1, or the socket directory. */
  host: string;
  version: string;
  url(database?: string): string;
  /** One statement on a short-lived connection. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[], database?: string): Promise<T[]>;
  createDatabase(name: string): Promise<string>;
  /** SHOW of the settings that matter for the figures. */
  settings(): Promise<Record<string, string>>;
  /** The postmaster's pid (its backends are its children), null once it is gone. */
  pid(): number | null;
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
  /** Clients (gateways, pgbench, the bench) connect over the Unix socket instead of TCP on 127.0.0.1. */
  unixSocket?: boolean;
}

export async function startPostgres(options: StartOptions = {}): Promise<PgServer> {
  if (!existsSync(join(PG_BIN, 'postgres'))) throw new Error(`PostgreSQL binaries not found in ${PG_BIN} (set PG_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-pg-'));
  const untrackDir = tempDir(dir);
  const asRoot = process.getuid?.() === 0;
  const asPg = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(dir, Number(id.stdout.trim()), Number(gid.stdout.trim()));
  }
  const [initCmd, initArgs] = asPg(join(PG_BIN, 'initdb'), [
    '-D',
    join(dir, 'data'),
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

  const port = await freePort();
  const settings: Record<string, string | number> = {
    max_connections: 300,
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'top',
    ...options.settings,
  };
  const args = ['-D', join(dir, 'data'), '-h', '127.0.0.1', '-p', String(port), '-k', dir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const [cmd, cmdArgs] = asPg(join(PG_BIN, 'postgres'), args);
  const logFd = openSync(join(dir, 'server.log'), 'a');
  const launcher: ChildProcess = spawn(cmd, cmdArgs, { stdio: ['ignore', logFd, logFd], detached: false });
  closeSync(logFd);
  let postmasterPid: number | null = null;

  const stop = async () => {
    const pid = postmasterPid ?? readPostmasterPid(dir);
    if (pid && isAlive(pid)) {
      process.kill(pid, 'SIGINT'); // fast shutdown
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    if (launcher.exitCode === null && launcher.signalCode === null) {
      launcher.kill('SIGTERM');
      for (let i = 0; i < 20 && launcher.exitCode === null && launcher.signalCode === null; i++) await sleep(100);
      if (launcher.exitCode === null && launcher.signalCode === null) launcher.kill('SIGKILL');
    }
  };
  const untrackServer = onCleanup(`postgres on port ${port}`, stop, () => {
    const pid = postmasterPid ?? readPostmasterPid(dir);
    if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
    if (launcher.exitCode === null) launcher.kill('SIGKILL');
  });

  const host = options.unixSocket ? dir : '127.0.0.1';
  const url = (database = 'postgres') =>
    options.unixSocket
      ? `postgres://postgres@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`
      : `postgres://postgres@127.0.0.1:${port}/${database}`;
  for (let i = 0; ; i++) {
    const ready = spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']);
    if (ready.status === 0) break;
    if (i > 150 || launcher.exitCode !== null) {
      const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
      await stop();
      throw new Error(`PostgreSQL did not start:\n${log}`);
    }
    await sleep(100);
  }
  postmasterPid = readPostmasterPid(dir);

  const query = async <T>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  };
  const version = (await query<{ server_version: string }>('show server_version'))[0]?.server_version ?? '?';

  return {
    port,
    dir,
    host,
    version,
    url,
    query,
    async createDatabase(name) {
      await query(`create database "${name}"`);
      try {
        await query('create extension if not exists pg_stat_statements', [], name);
      } catch {
        // not loadable: statement counts fall back to pg_stat_database
      }
      return url(name);
    },
    async settings() {
      const names = [
        'server_version',
        'max_connections',
        'shared_buffers',
        'fsync',
        'synchronous_commit',
        'wal_sync_method',
        'wal_level',
        'work_mem',
        'effective_io_concurrency',
        'shared_preload_libraries',
      ];
      const out: Record<string, string> = {};
      for (const n of names) out[n] = (await query<Record<string, string>>(`show ${n}`))[0]?.[n] ?? '?';
      return out;
    },
    pid: () => postmasterPid ?? readPostmasterPid(dir),
    async stop() {
      await stop();
      untrackServer();
      untrackDir();
      const { rmSync } = await import('node:fs');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readPostmasterPid(dir: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(join(dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/* ------------------------------------------------------------------ pgbench */

/** The pool table of the baseline database: the gateway's seat_pools columns, primary key and check, without the foreign key. */
export const BASELINE_DDL = `
create table if not exists seat_pools (
  organization_id uuid not null,
  product_code text not null,
  capacity integer not null,
  emergency_capacity integer not null default 0,
  overage_allowed boolean not null default false,
  overage_grace_minutes integer not null default 30,
  in_use integer not null default 0,
  peak_day date,
  peak_today integer not null default 0,
  constraint seat_pools_pk primary key (organization_id, product_code),
  constraint seat_pools_in_use_ck check (in_use >= 0)
)`;

/** The organization id of baseline pool `n` (1-based), a valid uuid computed in SQL too. */
export const baselineOrg = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ORG_SQL = `('00000000-0000-4000-8000-' || lpad(:p::text, 12, '0'))::uuid`;

/** The gateway's takeSeat statement (src/sessions/sessions.repository.ts), verbatim but for the parameters. */
const TAKE = `update seat_pools set in_use = in_use + 1, peak_today = case when peak_day = current_date then greatest(peak_today, in_use + 1) else in_use + 1 end, peak_day = current_date
  where organization_id = ${ORG_SQL} and product_code = 'AGENT_SEAT' and (in_use < capacity + emergency_capacity or overage_allowed) returning in_use, capacity, emergency_capacity;`;
/** The gateway's releaseSeat statement. */
const RELEASE = `update seat_pools set in_use = greatest(in_use - 1, 0), peak_today = case when peak_day = current_date then peak_today else greatest(in_use - 1, 0) end, peak_day = current_date
  where organization_id = ${ORG_SQL} and product_code = 'AGENT_SEAT' returning in_use, capacity, emergency_capacity;`;

export type BaselineShape =
  /** One transaction: take a seat, give it back, commit (one commit per checkout; the row lock is held to the commit, as in startSession). */
  | 'txn'
  /** A checkout transaction and a checkin transaction (two commits per checkout). */
  | 'pair'
  /** The gateway's own start statement (sameWorkScript): the same checks and writes, on the gateway's schema. */
  | 'same-work';

/** Runs one statement with its parameters: `pg`'s and PGlite's `query` both fit. */
type Query = (text: string, params?: unknown[]) => Promise<unknown>;

/**
 * What sameWorkScript reads, made on the gateway's own tables (on PostgreSQL
 * and on PGlite): the users of the organization who hold a granted licence,
 * numbered from 1 in `bench_floor_users`, and the sequence `bench_floor_seq`
 * that hands them out. tearDownSameWork removes both.
 */
export async function setUpSameWork(query: Query, organizationId: string): Promise<void> {
  await tearDownSameWork(query);
  await query(
    `create table bench_floor_users as
       select (row_number() over (order by u.id))::int as i, u.id from users u
       where u.organization_id = $1::uuid and exists (select 1 from user_grants g
         where g.organization_id = u.organization_id and g.user_id = u.id and g.status = 'GRANTED')`,
    [organizationId],
  );
  await query('alter table bench_floor_users add primary key (i)');
  await query('create sequence bench_floor_seq');
}

export async function tearDownSameWork(query: Query): Promise<void> {
  await query('drop table if exists bench_floor_users');
  await query('drop sequence if exists bench_floor_seq');
}

/**
 * The same work as an agent client's one-statement start
 * (startWithOneSeat in src/sessions/sessions.repository.ts), as one pgbench
 * statement on the gateway's own schema and rows: the user share-locked and
 * checked ACTIVE, the organization's revision and high-water time, exactly
 * one granted seat licence and no open session; then the pool UPDATE, the
 * session, its seat, the usage point and the event INSERTs, in one
 * autocommit statement. No NOTIFY: the gateway announces after the commit,
 * many starts per notice (src/db/announcer.ts). Each
 * execution takes the next user of `bench_floor_users` (a sequence), so every
 * start is a new one. Differences: ids are gen_random_uuid() (the gateway's
 * are time-ordered UUIDv7) and the seat kind is computed more simply.
 */
export function sameWorkScript(o: { organizationId: string; revision: number; highWater: string | null; product: string }): string {
  const org = `'${o.organizationId}'::uuid`;
  const hw = o.highWater === null ? 'null' : `'${o.highWater}'`;
  const statement = `with pick as materialized (select id from bench_floor_users where i = (select nextval('bench_floor_seq'))),
    active_user as (select u.organization_id, u.id from users u where u.organization_id = ${org} and u.id = (select id from pick) and u.status = 'ACTIVE' for share),
    pool as (select min(g.product_code) as product_code from active_user u
      join organizations o on o.id = u.organization_id and o.revision = ${o.revision} and o.clock_high_water is not distinct from ${hw}::timestamptz
      join user_grants g on g.organization_id = u.organization_id and g.user_id = u.id and g.status = 'GRANTED' and g.product_code = any(array['${o.product}']::text[])
      where not exists (select 1 from sessions o_s where o_s.organization_id = ${org} and o_s.user_id = (select id from pick) and o_s.ended_at is null)
      having count(*) = 1),
    seat as (update seat_pools set in_use = in_use + 1,
        peak_today = case when peak_day = current_date then greatest(peak_today, in_use + 1) else in_use + 1 end, peak_day = current_date
      where organization_id = ${org} and product_code = (select product_code from pool) and (in_use < capacity + emergency_capacity or overage_allowed)
      returning product_code, in_use, capacity, emergency_capacity, case when in_use <= capacity then 'REGULAR' else 'EMERGENCY' end as seat_kind),
    new_session as (insert into sessions (organization_id, id, user_id, seat_kind, started_at, expires_at, ended_at, end_reason, channels, device_id, api_token_id)
      select ${org}, gen_random_uuid(), (select id from pick), seat.seat_kind, now(), now() + interval '1 day', null, null, '[]'::jsonb, null, null from seat returning id),
    new_seat as (insert into session_seats (organization_id, session_id, product_code, seat_kind, channel)
      select ${org}, (select id from new_session), seat.product_code, seat.seat_kind, null from seat),
    new_usage as (insert into usage_changes (organization_id, product_code, at, in_use, capacity, emergency_capacity)
      select ${org}, seat.product_code, now(), seat.in_use, seat.capacity, seat.emergency_capacity from seat),
    new_event as (insert into events (organization_id, id, at, type, user_id, product_code, detail, api_token_id, actor)
      select ${org}, gen_random_uuid(), now(), 'SESSION_STARTED', (select id from pick), seat.product_code, seat.product_code || ' ' || seat.seat_kind, null, 'api' from seat)
    select pool.product_code, seat.in_use
    from (select 1) as one left join pool on true left join seat on true;`;
  return `${statement.replace(/\n\s*/g, ' ')}\n`;
}

export function baselineScript(pools: number, shape: BaselineShape): string {
  const pick = pools === 1 ? '\\set p 1' : `\\set p random(1, ${pools})`;
  // pgbench scripts take one statement per line.
  const take = TAKE.replace(/\n\s*/g, ' ');
  const release = RELEASE.replace(/\n\s*/g, ' ');
  return shape === 'txn'
    ? `${pick}\nbegin;\n${take}\n${release}\ncommit;\n`
    : `${pick}\nbegin;\n${take}\ncommit;\nbegin;\n${release}\ncommit;\n`;
}

export interface PgbenchResult {
  clients: number;
  pools: number;
  shape: BaselineShape;
  seconds: number;
  transactions: number;
  /** Script executions per second (= checkouts per second), excluding connection time. */
  tps: number;
  /** Per-transaction latencies in microseconds (from pgbench's -l log). */
  latenciesUs: number[];
}

/** Creates the baseline database with `pools` pool rows (capacity large enough never to refuse). */
export async function prepareBaseline(server: PgServer, pools: number): Promise<string> {
  const name = `baseline_${pools}`;
  const existing = await server.query<{ n: number }>('select count(*)::int as n from pg_database where datname = $1', [name]);
  if ((existing[0]?.n ?? 0) === 0) await server.createDatabase(name);
  await server.query(BASELINE_DDL, [], name);
  await server.query('truncate seat_pools', [], name);
  await server.query(
    `insert into seat_pools (organization_id, product_code, capacity, emergency_capacity) select ('00000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, 'AGENT_SEAT', 4000, 500 from generate_series(1, $1::int) i`,
    [pools],
    name,
  );
  await server.query('vacuum analyze seat_pools', [], name);
  return name;
}

export async function pgbench(
  server: PgServer,
  options: {
    database: string;
    pools: number;
    shape: BaselineShape;
    clients: number;
    seconds: number;
    /** The script instead of baselineScript (the same-work floor). */
    script?: string;
    /** Transactions per client instead of a duration (-t instead of -T). */
    transactionsPerClient?: number;
    /** pgbench's -M: how statements are sent (default simple: parsed and planned every time). */
    protocol?: 'simple' | 'extended' | 'prepared';
  },
): Promise<PgbenchResult> {
  const work = mkdtempSync(join(tmpdir(), 'gateway-bench-pgbench-'));
  const untrack = tempDir(work);
  try {
    const script = join(work, 'seat.sql');
    writeFileSync(script, options.script ?? baselineScript(options.pools, options.shape));
    mkdirSync(join(work, 'log'));
    const threads = Math.min(options.clients, 4);
    const args = [
      '-n',
      '-h',
      server.host,
      '-p',
      String(server.port),
      '-U',
      'postgres',
      '-c',
      String(options.clients),
      '-j',
      String(threads),
      ...(options.protocol ? ['-M', options.protocol] : []),
      ...(options.transactionsPerClient ? ['-t', String(options.transactionsPerClient)] : ['-T', String(options.seconds)]),
      '-f',
      script,
      '-l',
      `--log-prefix=${join(work, 'log', 'pgb')}`,
      options.database,
    ];
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(join(PG_BIN, 'pgbench'), args, { cwd: work });
      const untrackChild = onCleanup(
        `pgbench ${child.pid}`,
        () => void child.kill('SIGKILL'),
        () => void child.kill('SIGKILL'),
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => {
        untrackChild();
        resolve({ code, stdout, stderr });
      });
    });
    if (out.code !== 0) throw new Error(`pgbench failed (${out.code}): ${out.stderr}\n${out.stdout}`);
    const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out.stdout)?.[1] ?? NaN);
    const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out.stdout)?.[1] ?? NaN);
    const latenciesUs: number[] = [];
    for (const file of readdirSync(join(work, 'log'))) {
      for (const line of readFileSync(join(work, 'log', file), 'utf8').split('\n')) {
        const parts = line.split(' ');
        if (parts.length >= 6) latenciesUs.push(Number(parts[2]));
      }
    }
    return {
      clients: options.clients,
      pools: options.pools,
      shape: options.shape,
      seconds: options.seconds,
      transactions,
      tps,
      latenciesUs,
    };
  } finally {
    const { rmSync } = await import('node:fs');
    rmSync(work, { recursive: true, force: true });
    untrack();
  }
}
