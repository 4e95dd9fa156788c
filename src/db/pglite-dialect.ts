import { createRequire } from 'node:module';
import { protocol, type messages, type PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { MAX_NAMED, PREPARED, statementName } from './prepared.ts';

/**
 * Kysely dialect for embedded PGlite. PGlite is one connection in one
 * process, so connections are handed out one at a time: a transaction holds
 * the only connection until it commits, and other work waits its turn. That
 * keeps transactions isolated exactly as on a one-connection pool.
 */
export class PGliteDialect implements Dialect {
  constructor(private readonly pglite: PGlite) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new PGliteDriver(this.pglite);
  }
  createIntrospector(db: Kysely<unknown>) {
    return new PostgresIntrospector(db);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
}

/**
 * node-postgres' own conversion of a JavaScript value to a text parameter
 * (Date, array, object as JSON, …): parameters reach PGlite exactly as they
 * reach PostgreSQL through pg, untyped, and the server infers their types.
 * Required from pg's module (it exports no types for it).
 */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };

const { serialize } = protocol;
const DESCRIBE_PORTAL = serialize.describe({ type: 'P' });
const EXECUTE = serialize.execute({});
const SYNC = serialize.sync();

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Rows changed by the statement, from its command tag ("INSERT 0 3", "UPDATE 2"; 0 for the rest), as PGlite counts them. */
function affectedRows(tag: string): number {
  const parts = tag.split(' ');
  switch (parts[0]) {
    case 'INSERT':
      return Number.parseInt(parts[2] ?? '0', 10);
    case 'UPDATE':
    case 'DELETE':
    case 'COPY':
    case 'MERGE':
      return Number.parseInt(parts[1] ?? '0', 10);
    default:
      return 0;
  }
}

class PGliteConnection implements DatabaseConnection {
  /** Statements marked PREPARED (db/prepared.ts) already parsed by this backend, by text: their names. */
  readonly #named = new Map<string, string>();

  constructor(private readonly pglite: PGlite) {}

  /**
   * The name of a marked statement, parsed by the backend the first time (a
   * call of its own, so that the statement exists whatever its first
   * execution does); undefined: not marked, it goes unnamed.
   */
  async #statementName(text: string): Promise<string | undefined> {
    if (!text.startsWith(PREPARED)) return undefined;
    let name = this.#named.get(text);
    if (name !== undefined) return name;
    if (this.#named.size >= MAX_NAMED) return undefined;
    name = statementName(text);
    await this.pglite.execProtocol(concat([serialize.parse({ name, text }), SYNC]), { syncToFs: false });
    this.#named.set(text, name);
    return name;
  }

  /**
   * One statement in ONE call into PGlite: Parse, Bind, Describe, Execute and
   * Sync in one buffer, answered by one pass of its backend. PGlite's own
   * `query()` makes six calls for it (a Describe of the statement first, to
   * type the parameters), each a turn of the WebAssembly backend and of its
   * socket files in the data directory, and copies its table of type parsers
   * for every result. The rows are decoded with the same parsers, so
   * results are the same as `query()`'s. The dialect hands out its one
   * connection one at a time, so nothing else talks to PGlite meanwhile.
   */
  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const pglite = this.pglite;
    if (pglite.closed) throw new Error('PGlite is closed');
    let name: string | undefined;
    try {
      name = await this.#statementName(query.sql);
    } catch (error) {
      if (error instanceof Error && 'code' in error) Object.assign(error, { query: query.sql, params: query.parameters });
      throw error;
    }
    const values = query.parameters.map((value) => prepareValue(value) as string | null);
    const message = concat([
      ...(name === undefined ? [serialize.parse({ text: query.sql })] : []),
      serialize.bind({ statement: name ?? '', values }),
      DESCRIBE_PORTAL,
      EXECUTE,
      SYNC,
    ]);
    let replies: messages.BackendMessage[];
    try {
      // Throws the statement's DatabaseError (code = SQLSTATE); the Sync was in the same buffer, so the
      // backend is ready for the next statement (or in its failed transaction, as after any error).
      ({ messages: replies } = await pglite.execProtocol(message, { syncToFs: false }));
    } catch (error) {
      if (error instanceof Error && 'code' in error) Object.assign(error, { query: query.sql, params: query.parameters });
      throw error;
    }
    const parsers = pglite.parsers;
    let fields: messages.Field[] = [];
    const rows: R[] = [];
    let count = 0;
    for (const reply of replies) {
      if (reply.name === 'rowDescription') fields = (reply as messages.RowDescriptionMessage).fields;
      else if (reply.name === 'dataRow') {
        const values = (reply as messages.DataRowMessage).fields;
        const row: Record<string, unknown> = {};
        for (let i = 0; i < fields.length; i++) {
          const field = fields[i]!;
          const value = values[i] ?? null;
          const parser = parsers[field.dataTypeID];
          row[field.name] = value === null || !parser ? value : parser(value, field.dataTypeID);
        }
        rows.push(row as R);
      } else if (reply.name === 'commandComplete') count += affectedRows((reply as messages.CommandCompleteMessage).text);
    }
    // Outside a transaction, what the statement wrote reaches the filesystem as after `query()`.
    if (!pglite.isInTransaction()) await pglite.syncToFs();
    return { rows, numAffectedRows: BigInt(count) };
  }

  // biome-ignore lint/correctness/useYield: PGlite has no cursors over the wire; the generator only refuses
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on PGlite');
  }
}

class PGliteDriver implements Driver {
  private readonly connection: PGliteConnection;
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | null = null;

  constructor(private readonly pglite: PGlite) {
    this.connection = new PGliteConnection(pglite);
  }

  async init(): Promise<void> {
    await this.pglite.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((resolve) => (release = resolve));
    await previous;
    this.release = release;
    return this.connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const isolation = settings.isolationLevel ? ` isolation level ${settings.isolationLevel}` : '';
    await connection.executeQuery(CompiledQuery.raw(`begin${isolation}`));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    const release = this.release;
    this.release = null;
    release?.();
  }

  async destroy(): Promise<void> {
    await this.queue;
    await this.pglite.close();
  }
}
