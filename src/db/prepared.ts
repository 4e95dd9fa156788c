/*
 * Named prepared statements for the hottest statements, on PostgreSQL.
 *
 * node-postgres sends every statement as an unnamed one: each execution
 * carries its whole text, and PostgreSQL parses, analyzes and plans it again.
 * For the one-statement start (about 4 KB of CTE) that is most of the
 * server's work: pgbench running it prepared does about 1.5× the starts per
 * second of the same statement sent unnamed (`npm run bench -- --only storm`,
 * the same-work floor). A statement whose text starts with `PREPARED` is
 * therefore sent as a named statement: parsed once per connection, then only
 * bound and executed (PostgreSQL keeps or replans its plan as it sees fit).
 *
 * Only for statements that run on their own (autocommit), never inside a
 * transaction: if the server says the statement is unknown (26000) or
 * already exists (42P05) — a pooler in transaction mode handed this client
 * another server connection — the pool stops naming statements and runs this
 * one again unnamed, which is safe because nothing of it ran.
 *
 * Behind such a pooler (Debian's PgBouncer 1.18 does not carry prepared
 * statements across server connections) the gateway starts with them off:
 * DATABASE_PREPARED_STATEMENTS (config.ts).
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

/** The start of a statement's text that asks for a named prepared statement (a comment: harmless elsewhere, e.g. on PGlite). */
export const PREPARED = '/* prepared */ ';

/** Distinct texts named per pool (or PGlite backend) at most; beyond that, statements go unnamed (a guard against a text that varies). */
export const MAX_NAMED = 64;

/** The name a marked statement is prepared under: from its text, so a text always has the same name. */
export const statementName = (text: string): string => `gw_${createHash('sha256').update(text).digest('hex').slice(0, 24)}`;

/** SQLSTATEs meaning the server connection is not the one the statement was prepared on. */
const LOST_STATEMENT = new Set(['26000', '42P05']);

type QueryResult = pg.QueryResult<Record<string, unknown>>;

/**
 * The pg.Pool `Client` option: a pg.Client class that sends the statements
 * marked `PREPARED` as named statements (per pool: its names, and its switch
 * that turns them off after a pooler mixed up connections, see above).
 */
export function preparingClient(): typeof pg.Client {
  const names = new Map<string, string>();
  const state = { enabled: true };
  const nameOf = (text: string): string | undefined => {
    let name = names.get(text);
    if (name === undefined && names.size < MAX_NAMED) {
      name = statementName(text);
      names.set(text, name);
    }
    return name;
  };
  class PreparingClient extends pg.Client {
    // pg's overloads cannot be restated one by one here: the marked form (text, values, promise) is
    // handled, every other call goes through unchanged.
    // biome-ignore lint/suspicious/noExplicitAny: see above
    override query(config: any, values?: any, callback?: any): any {
      const text: unknown = config;
      if (state.enabled && typeof text === 'string' && text.startsWith(PREPARED) && Array.isArray(values) && callback === undefined) {
        const name = nameOf(text);
        if (name !== undefined) return this.#named(name, text, values);
      }
      return super.query(config, values, callback);
    }

    async #named(name: string, text: string, values: unknown[]): Promise<QueryResult> {
      try {
        return await super.query<Record<string, unknown>>({ name, text, values });
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code !== 'string' || !LOST_STATEMENT.has(code)) throw error;
        state.enabled = false;
        return super.query<Record<string, unknown>>(text, values);
      }
    }
  }
  return PreparingClient;
}
