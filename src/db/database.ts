import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect, sql, type KyselyConfig, type Transaction } from 'kysely';
import pg from 'pg';
import { Announcer } from './announcer.ts';
import { CompiledStatements } from './compiled.ts';
import { preparingClient } from './prepared.ts';
import { TransactionRetries } from './retries.ts';
import type { Database } from './schema.ts';

/**
 * Kysely over the gateway's schema, carrying the listeners of its
 * transactions' retries (db/transaction.ts), the live notices sent after
 * commits (db/announcer.ts) and the statements compiled once (db/compiled.ts).
 */
export class GatewayDb extends Kysely<Database> {
  readonly transactionRetries = new TransactionRetries();
  /** The hottest statements, printed once per shape (db/compiled.ts). */
  readonly compiled = new CompiledStatements();
  readonly announcer = new Announcer(async (channel, payloads) => {
    await sql`select ${sql.join(payloads.map((p) => sql`pg_notify(${channel}, ${p})`))}`.execute(this);
  });
}

export type Db = GatewayDb;
export type Trx = Transaction<Database>;
/** Repositories take either; services decide where the transaction starts. */
export type Executor = Db | Trx;

export type DatabaseKind = 'postgres' | 'pglite';

export interface DatabaseHandle {
  db: Db;
  kind: DatabaseKind;
  /** For LISTEN/NOTIFY on PostgreSQL (null on PGlite, where pubsub is in-process): the listen URL when one is set. */
  connectionString: string | null;
  /**
   * Runs `work` on a database handle whose connections are sessions of their
   * own: over the listen URL when one is set (a short-lived pool of one
   * connection, closed afterwards), else the pool itself. For what holds
   * session state between statements, as the migrations' advisory lock does,
   * which a pooler in transaction mode would hand to another client.
   */
  withSession<T>(work: (db: Db) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL: sends a NOTIFY through the pool and resolves with true once the
   * LISTEN connection (the listen URL, else the pool's URL) has received it,
   * false after `timeoutMs`. False means the two do not reach one database
   * session-wise: a pooler in transaction or statement mode on the LISTEN
   * side, or another database. PGlite: true.
   */
  checkListen(timeoutMs: number): Promise<boolean>;
  /**
   * LISTENs on `channel` (PostgreSQL NOTIFY; on PGlite the same, in-process).
   * On PostgreSQL a dedicated connection reconnects by itself after a loss and
   * calls `onReconnect`, so the caller can catch up on what it missed.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReconnect?: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

// COUNT(*) and bigserial come back as int8; every such figure here fits a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface OpenDatabaseOptions {
  databaseUrl: string | null;
  /**
   * A direct connection (no pooler in transaction mode) to the same database
   * as `databaseUrl`, for the LISTEN connection and `withSession`; null or
   * unset: `databaseUrl` itself. PostgreSQL only.
   */
  listenUrl?: string | null;
  /** PGlite data directory; null keeps the embedded database in memory (tests). */
  dataDir: string | null;
  poolSize?: number;
  /**
   * PostgreSQL's statement_timeout (ms) for every connection of the pool, sent
   * when it connects (no extra statement); a cancelled statement fails with
   * SQLSTATE 57014. 0 or unset: none. PGlite runs no timers, so it has none.
   */
  statementTimeoutMs?: number;
  /**
   * PostgreSQL: send the statements marked `PREPARED` (db/prepared.ts) as
   * named prepared statements, parsed once per connection. Off behind a
   * pooler in transaction mode that does not carry them. Default on.
   */
  preparedStatements?: boolean;
  /**
   * Where a fresh PGlite `dataDir` finds the pre-built, migrated directory it
   * starts as a copy of (src/db/pglite-template.ts): the build's by default,
   * null for none (initdb and the migrations, as without a template).
   */
  pgliteTemplates?: string | null;
  /**
   * A copy of the template into `dataDir` already under way
   * (`startFromTemplate`, started by main.ts before it loads the app): awaited
   * instead of starting one here.
   */
  pgliteTemplateCopy?: Promise<boolean>;
  /** Kysely's query log (e.g. to count SQL statements in tests, R-API-4); none by default. */
  log?: KyselyConfig['log'];
  /**
   * Told about every connection fault that no query is waiting for (a pooled
   * connection or the LISTEN connection lost: a restart, a crash, an
   * administrator's shutdown). Such faults never end the process; the pool and
   * the LISTEN connection reconnect on their own. main.ts logs them.
   */
  onConnectionError?: (error: Error, where: 'pool' | 'listen') => void;
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 10,
      // A request never waits long for a connection; failing fast is better than piling up.
      connectionTimeoutMillis: 10_000,
      ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
      // A peer that vanished without a FIN (network loss) is noticed by TCP keepalive instead of never.
      keepAlive: true,
      ...(options.preparedStatements === false ? {} : { Client: preparingClient() }),
    });
    const onConnectionError = options.onConnectionError ?? (() => undefined);
    // An idle client that loses its server must not crash the process (pg-pool drops it from the pool)…
    pool.on('error', (error) => onConnectionError(error, 'pool'));
    // … nor one checked out by a transaction between two statements: pg emits 'error' on the client itself
    // (57P01 on an administrator's shutdown, "Connection terminated unexpectedly" on a crash), and with no
    // listener that is an uncaught exception. The statement under way, if any, fails on its own; the pool
    // discards the broken client when Kysely releases it.
    pool.on('connect', (client) => client.on('error', (error) => onConnectionError(error, 'pool')));
    const db = new GatewayDb({ dialect: new PostgresDialect({ pool }), ...(options.log ? { log: options.log } : {}) });
    const listenUrl = options.listenUrl || options.databaseUrl;
    const separate = listenUrl !== options.databaseUrl;
    const listen: DatabaseHandle['listen'] = (channel, onMessage, onReconnect) =>
      listenPostgres(listenUrl, channel, onMessage, onReconnect, (error) => onConnectionError(error, 'listen'));
    return {
      db,
      kind: 'postgres',
      connectionString: listenUrl,
      listen,
      withSession: async (work) => {
        if (!separate) return work(db);
        const direct = new pg.Pool({
          connectionString: listenUrl,
          max: 1,
          connectionTimeoutMillis: 10_000,
          ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
          keepAlive: true,
        });
        direct.on('error', (error) => onConnectionError(error, 'listen'));
        const session = new GatewayDb({ dialect: new PostgresDialect({ pool: direct }), ...(options.log ? { log: options.log } : {}) });
        try {
          return await work(session);
        } finally {
          await session.destroy();
        }
      },
      checkListen: (timeoutMs) => checkListen(db, listen, timeoutMs),
      close: () => closeDb(db),
    };
  }
  // Loaded only for the embedded database: a gateway on PostgreSQL never pays for PGlite.
  const [{ PGlite }, { PGliteDialect }, { startFromTemplate }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('./pglite-dialect.ts'),
    import('./pglite-template.ts'),
  ]);
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    // A fresh directory starts as a copy of the build's pre-built one when it has one for these migrations.
    if (options.pgliteTemplateCopy) await options.pgliteTemplateCopy;
    else if (options.pgliteTemplates !== null) await startFromTemplate(options.dataDir, options.pgliteTemplates);
  }
  const pglite = options.dataDir ? new PGlite(options.dataDir) : new PGlite();
  await pglite.waitReady;
  const db = new GatewayDb({ dialect: new PGliteDialect(pglite), ...(options.log ? { log: options.log } : {}) });
  // One process owns a PGlite database (its directory is locked, or it lives in memory), so the
  // announcer's notices need not go through PGlite's NOTIFY — a statement on the one connection, and
  // writes of its queue files, for every change — to reach this same process: they go to its listeners
  // directly. A NOTIFY in SQL (a token's revocation) still reaches them through PGlite's own LISTEN.
  const local = new Map<string, Set<(payload: string) => void>>();
  // In the one connection's turn, as PGlite's NOTIFY statement had: after the statements queued before it.
  db.announcer.send = (channel, payloads) =>
    db.connection().execute(async () => {
      const listeners = local.get(channel);
      if (!listeners) return;
      // As PGlite delivers its own notifications: each in a microtask, while the turn is still held.
      for (const payload of payloads) for (const listener of listeners) queueMicrotask(() => listener(payload));
    });
  return {
    db,
    kind: 'pglite',
    connectionString: null,
    withSession: (work) => work(db),
    checkListen: async () => true,
    listen: async (channel, onMessage) => {
      // Holding the dialect's one connection keeps LISTEN out of another request's open transaction.
      const unlisten = await db.connection().execute(() => pglite.listen(channel, onMessage));
      const listener = (payload: string) => onMessage(payload);
      const listeners = local.get(channel) ?? new Set();
      listeners.add(listener);
      local.set(channel, listeners);
      return async () => {
        listeners.delete(listener);
        if (!pglite.closed) await unlisten();
      };
    },
    close: () => closeDb(db),
  };
}

/** Sends the notices of changes already committed, then closes. */
async function closeDb(db: Db): Promise<void> {
  await db.announcer.close();
  await db.destroy();
}

/** True when the database answers. */
export async function ping(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db);
    return true;
  } catch {
    return false;
  }
}

/**
 * LISTENs on a channel of its own, NOTIFYs it through the pool (a transaction
 * like the gateway's own notices) and waits for the notice. Through a pooler in
 * transaction mode the LISTEN stays behind on a server connection the pooler
 * hands to other clients, and the notice never arrives.
 */
async function checkListen(db: Db, listen: DatabaseHandle['listen'], timeoutMs: number): Promise<boolean> {
  const channel = `gateway_listen_check_${randomBytes(8).toString('hex')}`;
  const payload = randomBytes(8).toString('hex');
  let arrived: () => void = () => undefined;
  const received = new Promise<true>((resolve) => {
    arrived = () => resolve(true);
  });
  const unlisten = await listen(channel, (message) => {
    if (message === payload) arrived();
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    await db.transaction().execute((trx) => sql`select pg_notify(${channel}, ${payload})`.execute(trx));
    return await Promise.race([received, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
  } finally {
    clearTimeout(timer);
    await unlisten();
  }
}

/** The longest pause between two attempts to get the LISTEN connection back. */
const LISTEN_RETRY_MAX_MS = 2000;

/**
 * A LISTEN connection of its own that comes back after the server or network
 * drops it (attempts 100 ms apart, doubling up to 2 s), then calls
 * `onReconnect` so the caller can catch up on what it missed.
 */
async function listenPostgres(
  url: string,
  channel: string,
  onMessage: (payload: string) => void,
  onReconnect: (() => void) | undefined,
  onError: (error: Error) => void,
): Promise<() => Promise<void>> {
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
  let attempt = 0;
  const quoted = `"${channel.replace(/"/g, '""')}"`;
  const connect = async (isReconnect: boolean): Promise<void> => {
    const c = new pg.Client({ connectionString: url, keepAlive: true });
    let connected = false;
    c.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload !== undefined) onMessage(msg.payload);
    });
    // Only the live connection's loss schedules a reconnect (a failed attempt schedules its own, below).
    const lost = () => {
      if (client !== c) return;
      client = null;
      void c.end().catch(() => undefined);
      schedule();
    };
    c.on('error', (error) => {
      if (connected) onError(error);
      lost();
    });
    c.on('end', lost);
    try {
      await c.connect();
      await c.query(`LISTEN ${quoted}`);
    } catch (error) {
      await c.end().catch(() => undefined);
      if (!isReconnect) throw error;
      schedule();
      return;
    }
    if (stopped) {
      await c.end().catch(() => undefined);
      return;
    }
    connected = true;
    client = c;
    attempt = 0;
    if (isReconnect) onReconnect?.();
  };
  const schedule = () => {
    if (stopped || retry) return;
    const delay = Math.min(LISTEN_RETRY_MAX_MS, 100 * 2 ** attempt++);
    retry = setTimeout(() => {
      retry = null;
      void connect(true);
    }, delay);
    retry.unref();
  };
  await connect(false);
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    const c = client;
    client = null;
    await c?.end().catch(() => undefined);
  };
}
