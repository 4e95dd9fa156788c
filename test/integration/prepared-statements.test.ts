import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { HAVE_PGBOUNCER, startPgBouncer, type PgBouncer } from '../support/pgbouncer.ts';
import { TRUSTED_KEYS, createGroup, createUsers, licensedOrg } from '../support/licensing.ts';
import { poolCounter } from '../support/sessions.ts';

/*
 * The one-statement start as a named prepared statement (db/prepared.ts,
 * DATABASE_PREPARED_STATEMENTS): parsed once per connection, then only bound
 * and executed. Off, nothing is prepared. Behind a pooler in transaction mode
 * that hands the connection's next statement to another server connection
 * (Debian's PgBouncer 1.18 does not carry prepared statements), the pool
 * notices the unknown statement, runs it again unnamed and stops preparing:
 * every start still counts exactly. PGlite's one backend parses it once too.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } session { id seatKind } } }`;

/** A gateway on `url` (a pool of one connection, so that the session-level view below is that connection's). */
async function gatewayOn(url: string, preparedStatements: boolean): Promise<TestGateway> {
  const handle = await openDatabase({ databaseUrl: url, dataDir: null, poolSize: 1, preparedStatements });
  const database: TestDatabase = { ...handle, url, dispose: () => handle.close() };
  return startGateway('postgres', { now: NOW, trustedKeys: TRUSTED_KEYS, database });
}

async function agentsOrg(gw: TestGateway, users: number): Promise<{ org: OrgFixture; users: string[] }> {
  const org = await licensedOrg(gw, 'connect-storm', [
    { product: 'BASE', quantity: users },
    { product: 'AGENT_SEAT', quantity: users },
  ]);
  const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
  return { org, users: await createUsers(gw, org, users, { configurationGroupId: group }) };
}

const start = async (gw: TestGateway, org: OrgFixture, userId: string) =>
  (await gw.ok<{ startSession: { granted: boolean } }>(START, { input: { userId } }, org.tokens.AGENT_CLIENT)).startSession;

/** The named statements of the (one) pool connection. */
const prepared = async (gw: TestGateway) =>
  (
    await sql<{ name: string; statement: string; executions: number }>`
      select name, statement, (generic_plans + custom_plans)::int as executions from pg_prepared_statements order by name`.execute(
      gw.database.db,
    )
  ).rows;

describe('PGlite: the one-statement start parsed once by its backend', { timeout: 120_000 }, () => {
  it.skipIf(!DATABASES.includes('pglite'))('[R-PERF-1] the start is parsed once and then only bound and executed', async () => {
    const database = await freshDatabase('pglite');
    const gw = await startGateway('pglite', { now: NOW, trustedKeys: TRUSTED_KEYS, database });
    try {
      const { org, users } = await agentsOrg(gw, 5);
      for (const user of users) expect(await start(gw, org, user)).toMatchObject({ granted: true });
      const statements = await prepared(gw);
      expect(statements, JSON.stringify(statements)).toHaveLength(2);
      const direct = statements.find((s) => /having count\(\*\) = 1/.test(s.statement));
      expect(direct?.executions).toBe(users.length - 1);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(5);
    } finally {
      await gw.close();
    }
  });
});

describe.skipIf(!DATABASES.includes('postgres'))('named prepared statements (DATABASE_PREPARED_STATEMENTS)', { timeout: 120_000 }, () => {
  let base: TestDatabase;

  beforeAll(async () => {
    base = await freshDatabase('postgres', { poolSize: 1 });
  });
  afterAll(() => base.dispose());

  it('[R-PERF-1] the one-statement start is prepared once per connection and then only executed', async () => {
    const gw = await gatewayOn(base.url!, true);
    try {
      const { org, users } = await agentsOrg(gw, 5);
      for (const user of users) expect(await start(gw, org, user)).toMatchObject({ granted: true });
      // Two shapes of the one statement: the first start's, for the pool its probe planned, and the
      // direct one of every later start (the statement checks what the probe read). Each parsed once.
      const statements = await prepared(gw);
      expect(statements, JSON.stringify(statements)).toHaveLength(2);
      for (const s of statements) expect(s.statement).toMatch(/^\/\* prepared \*\/ with active_user[\s\S]*update seat_pools/);
      const direct = statements.find((s) => /having count\(\*\) = 1/.test(s.statement));
      expect(direct?.executions).toBe(users.length - 1);
      expect(statements.find((s) => s !== direct)?.executions).toBe(1);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(5);
    } finally {
      await gw.close();
    }
  });

  it('[R-PERF-1] turned off, no statement is prepared and the start is the same', async () => {
    const gw = await gatewayOn(base.url!, false);
    try {
      const { org, users } = await agentsOrg(gw, 3);
      for (const user of users) expect(await start(gw, org, user)).toMatchObject({ granted: true });
      expect(await prepared(gw)).toEqual([]);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(3);
    } finally {
      await gw.close();
    }
  });

  describe.skipIf(!HAVE_PGBOUNCER)('behind PgBouncer in transaction mode, switched on by mistake', () => {
    let bouncer: PgBouncer;
    beforeAll(async () => {
      bouncer = await startPgBouncer({ databases: { gw: base.url! }, poolMode: 'transaction', defaultPoolSize: 2 });
    });
    afterAll(() => bouncer?.stop());

    it('[R-CONC-4] a statement prepared on another server connection is run again unnamed: every start counts once', async () => {
      const gw = await gatewayOn(bouncer.url('gw'), true);
      // Holds one of PgBouncer's two server connections in a transaction, so that the gateway's next
      // statement lands on the other one, where its prepared statement does not exist.
      const holder = new pg.Client({ connectionString: bouncer.url('gw') });
      try {
        const { org, users } = await agentsOrg(gw, 6);
        const granted: boolean[] = [];
        // The first start probes; the next ones are the one statement, prepared on whichever server connection.
        granted.push((await start(gw, org, users[0]!)).granted, (await start(gw, org, users[1]!)).granted);
        await holder.connect();
        for (const user of users.slice(2)) {
          // Alternate which server connection is free: taken, released, taken again.
          await holder.query('begin');
          await holder.query('select 1');
          granted.push((await start(gw, org, user)).granted);
          await holder.query('commit');
        }
        expect(granted).toEqual(users.map(() => true));
        expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(users.length);
        const [row] = (
          await sql<{
            n: number;
          }>`select count(*)::int as n from sessions where organization_id = ${org.organizationId} and ended_at is null`.execute(
            gw.database.db,
          )
        ).rows;
        expect(row?.n).toBe(users.length);
      } finally {
        await holder.end().catch(() => undefined);
        await gw.close();
      }
    });
  });
});

/** Every node of an EXPLAIN (FORMAT JSON) plan, depth first. */
function planNodes(node: Record<string, unknown>): Record<string, unknown>[] {
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [node, ...children.flatMap(planNodes)];
}

for (const kind of DATABASES) {
  describe(`the start's plan on ${kind}, made while few sessions are open`, { timeout: 120_000 }, () => {
    it('[R-PERF-1] the open-session check of a start is a key lookup of that user, not a scan of every open session', async () => {
      // A gateway started at night plans its start statement once, when few agents are logged in, and keeps
      // that plan: a check that walked the open sessions would cost each start of the morning storm more
      // than the last. The plan is read as the server keeps it: generic, made now, on a nearly empty table.
      const database = await freshDatabase(kind, { poolSize: 1 });
      const gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS, database });
      try {
        const { org, users } = await agentsOrg(gw, 3);
        for (const user of users) expect(await start(gw, org, user)).toMatchObject({ granted: true });
        const [direct] = (
          await sql<{ statement: string; types: string }>`
            select statement, array_to_string(parameter_types, ',') as types from pg_prepared_statements
            where statement like '%having count(*) = 1%'`.execute(gw.database.db)
        ).rows;
        expect(direct, 'the direct start is a prepared statement').toBeDefined();
        const types = direct!.types.split(',');
        const plan = await gw.database.db.transaction().execute(async (trx) => {
          await sql`set local plan_cache_mode = force_generic_plan`.execute(trx);
          await sql.raw(`prepare start_plan_probe(${types.join(', ')}) as ${direct!.statement}`).execute(trx);
          const { rows } = await sql
            .raw<{ 'QUERY PLAN': unknown }>(`explain (format json) execute start_plan_probe(${types.map(() => 'null').join(', ')})`)
            .execute(trx);
          await sql`deallocate start_plan_probe`.execute(trx);
          const json = rows[0]!['QUERY PLAN'];
          return (typeof json === 'string' ? JSON.parse(json) : json) as { Plan: Record<string, unknown> }[];
        });
        const check = planNodes(plan[0]!.Plan).filter((n) => n['Relation Name'] === 'sessions' && n.Alias === 'o_s');
        expect(check, JSON.stringify(plan)).toHaveLength(1);
        // An index scan's condition, or a bitmap heap scan's index's: what the index is searched by.
        const cond = planNodes(check[0]!)
          .map((n) => String(n['Index Cond'] ?? ''))
          .join(' ');
        expect(cond, JSON.stringify(check[0])).toMatch(/organization_id = /);
        expect(cond, JSON.stringify(check[0])).toMatch(/user_id = /);
        // And every other read of the statement searches an index, none walks a table.
        for (const read of planNodes(plan[0]!.Plan).filter((n) => n['Relation Name'] && n['Node Type'] !== 'ModifyTable'))
          expect(
            planNodes(read).some((n) => n['Index Cond']),
            JSON.stringify(read),
          ).toBe(true);
      } finally {
        await gw.close();
        await database.dispose();
      }
    });
  });
}
