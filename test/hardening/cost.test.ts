import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { getSchema } from '../../src/schema/index.ts';
import { operationCost } from '../../src/security/cost.ts';
import { DEFAULT_LIMITS, type OperationLimits } from '../../src/security/limits.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { countingDatabase } from '../support/licensing.ts';
import { codeOf, leaksIn, listen, wsRun, type Body, type ListeningApp } from '../support/listen.ts';
import { openDatabase } from '../../src/db/database.ts';
import { migrateToLatest } from '../../src/db/migrate.ts';

// The bombs of the availability finding: a read token can send them.
const NESTED_USERS =
  'query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id name } } } } } } } } }';
const NESTED_USERS_LITERAL =
  'query($o: ID!) { organization(id: $o) { users(first: 500) { edges { node { site { users(first: 500) { edges { node { id name } } } } } } } } }';
const NESTED_USERS_DEFAULT =
  'query($o: ID!, $n: Int = 500) { organization(id: $o) { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id name } } } } } } } } }';
const USAGE_FIELDS =
  'product { code } peakConcurrent emergencyPeak billableOverage overageEpisodes { startedAt endedAt peakExcess billable }';
const USAGE_ALIASES = `query($o: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $o) { ${Array.from({ length: 29 }, (_, i) => `u${i}: usage(from: $from, to: $to) { ${USAGE_FIELDS} }`).join(' ')} } }`;
const ONE_USAGE = `query($o: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $o) { usage(from: $from, to: $to) { ${USAGE_FIELDS} } } }`;
// 399 days, as in the finding.
const FROM = '2025-10-19T00:00:00.000Z';
const TO = '2026-11-22T00:00:00.000Z';
const SIMPLE = 'query($o: ID!) { organization(id: $o) { id name } }';
const PAGE =
  'query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { totalCount edges { node { id name status site { name } } } } } }';

interface Org {
  id: string;
  siteId: string;
  token: string;
}

async function ok(gw: ListeningApp, query: string, variables: Record<string, unknown>, token?: string): Promise<Record<string, any>> {
  const result = await gw.gql(query, variables, token);
  if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
  return result.data!;
}

/** An organization with a site, `users` users and a SUPERVISOR (read) token. */
async function organization(gw: ListeningApp, name: string, users: number): Promise<Org> {
  const id = (
    await ok(gw, 'mutation($i: CreateOrganizationInput!) { createOrganization(input: $i) { organization { id } } }', {
      i: { name, catalog: 'connect-storm' },
    })
  ).createOrganization.organization.id as string;
  const siteId = (
    await ok(gw, 'mutation($i: CreateSiteInput!) { createSite(input: $i) { site { id } } }', { i: { organizationId: id, name: 'HQ' } })
  ).createSite.site.id as string;
  const token = (
    await ok(gw, 'mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { token } }', {
      i: { organizationId: id, role: 'SUPERVISOR' },
    })
  ).createApiToken.token as string;
  for (let i = 0; i < users; i++) {
    await ok(gw, 'mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }', {
      i: { siteId, name: `User ${i + 1}`, role: 'AGENT' },
    });
  }
  return { id, siteId, token };
}

function expectCostRefusal(body: Body | null | undefined): void {
  expect(body?.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', rule: 'R-SEC-3', maxCost: DEFAULT_LIMITS.maxCost });
  expect(body?.errors?.[0]?.message).toMatch(new RegExp(`cost \\d+, over the limit of ${DEFAULT_LIMITS.maxCost} \\(GRAPHQL_MAX_COST\\)`));
  expect(body?.data ?? undefined).toBeUndefined();
}

describe('[R-SEC-3] operation cost with variables', () => {
  const schema = getSchema();

  it('[R-SEC-3] the variable form, the literal form and a variable default cost the same', () => {
    const variable = operationCost(schema, parse(NESTED_USERS), null, { o: 'x', n: 500 });
    expect(variable).toBe(operationCost(schema, parse(NESTED_USERS_LITERAL), null, { o: 'x' }));
    expect(variable).toBe(operationCost(schema, parse(NESTED_USERS_DEFAULT), null, { o: 'x' }));
    expect(variable).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 10);
    // A small page costs little: `first` scales it.
    expect(operationCost(schema, parse(NESTED_USERS), null, { o: 'x', n: 5 })).toBeLessThan(200);
    // Fragments and @include count; @skip(if: true) does not.
    const fragment =
      'query($o: ID!, $n: Int, $s: Boolean!) { organization(id: $o) { ...U @skip(if: $s) } } fragment U on Organization { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id name } } } } } } } }';
    expect(operationCost(schema, parse(fragment), null, { o: 'x', n: 500, s: false })).toBe(variable);
    expect(operationCost(schema, parse(fragment), null, { o: 'x', n: 500, s: true })).toBeLessThan(5);
  });

  it('[R-SEC-3] fragments spread over and over are counted expanded: beyond 10,000 fields the cost is unbounded', () => {
    const fragments = ['fragment F0 on Query { catalogs { code } }'];
    for (let k = 1; k <= 14; k++) fragments.push(`fragment F${k} on Query { ...F${k - 1} ...F${k - 1} }`);
    expect(operationCost(schema, parse(`query { ...F14 } ${fragments.join(' ')}`), null, {})).toBe(Number.POSITIVE_INFINITY);
    expect(operationCost(schema, parse(`query { ...F3 } ${fragments.slice(0, 4).join(' ')}`), null, {})).toBe(8 * 5);
  });

  it('[R-SEC-3] interval fields cost by the interval they cover', () => {
    const month = operationCost(schema, parse(ONE_USAGE), null, { o: 'x', from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' });
    const year = operationCost(schema, parse(ONE_USAGE), null, { o: 'x', from: FROM, to: TO });
    expect(year).toBeGreaterThan(month * 5);
    expect(year).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost); // one long report is fine …
    expect(operationCost(schema, parse(USAGE_ALIASES), null, { o: 'x', from: FROM, to: TO })).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 10); // … 29 at once are not
    const history =
      'query($o: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $o) { seatHistory(from: $from, to: $to) { at inUse product { code } } } }';
    const hour = operationCost(schema, parse(history), null, { o: 'x', from: '2026-11-22T09:00:00Z', to: '2026-11-22T10:00:00Z' });
    expect(
      operationCost(schema, parse(history), null, { o: 'x', from: '2026-11-01T00:00:00Z', to: '2026-11-22T10:00:00Z' }),
    ).toBeGreaterThan(hour * 10);
  });
});

for (const kind of DATABASES) {
  describe(`[R-SEC-3] cost, response size and tenant slots on ${kind}`, () => {
    let gw: ListeningApp;
    let counting: Awaited<ReturnType<typeof countingDatabase>>;
    let a: Org;

    beforeAll(async () => {
      counting = await countingDatabase(kind);
      gw = await listen(kind, {}, counting.database);
      a = await organization(gw, 'Tenant A', 12);
    }, 300_000);
    afterAll(async () => {
      await gw.close();
      await counting.database.dispose();
    });

    async function stillServes(): Promise<void> {
      const page = await gw.gql(PAGE, { o: a.id, n: 5 }, a.token);
      expect(page.errors).toBeUndefined();
      expect(page.data?.organization.users.totalCount).toBe(12);
      expect(page.data?.organization.users.edges).toHaveLength(5);
    }

    it('[R-SEC-3] users(first: $n) nested twice with n = 500, ten in one batch: refused before anything runs (no SQL), HTTP 400; the gateway answers afterwards', async () => {
      await stillServes(); // the token is known; nothing left to read for it
      const batch = Array.from({ length: 10 }, () => ({ query: NESTED_USERS, variables: { o: a.id, n: 500 } }));
      counting.reset();
      const refused = await gw.post(batch, { token: a.token });
      expect(counting.statements()).toBe(0);
      expect(refused.status).toBe(400);
      expectCostRefusal(refused.json);
      expect(refused.json?.errors?.[0]?.message).toMatch(/^the operations of this request cost/);
      expect(leaksIn(refused.text)).toEqual([]);
      await stillServes();
    });

    it('[R-SEC-3] one such operation alone is refused too, and the literal form with the same cost', async () => {
      counting.reset();
      const variable = await gw.post({ query: NESTED_USERS, variables: { o: a.id, n: 500 } }, { token: a.token });
      const literal = await gw.post({ query: NESTED_USERS_LITERAL, variables: { o: a.id } }, { token: a.token });
      expect(counting.statements()).toBe(0);
      expectCostRefusal(variable.json);
      expectCostRefusal(literal.json);
      expect(variable.json?.errors?.[0]?.extensions?.cost).toBe(literal.json?.errors?.[0]?.extensions?.cost);
    });

    it('[R-SEC-3] a batch is costed as a whole: operations that pass one by one are refused together', async () => {
      // One page of 500 with licences and warnings costs about a quarter of the limit; ten of them in one request go over it.
      const heavy =
        'query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { edges { node { id name status role email site { id name } licenses { product { code } status } warnings { code } } } } } }';
      const alone = await gw.post({ query: heavy, variables: { o: a.id, n: 500 } }, { token: a.token });
      expect(alone.json?.errors).toBeUndefined();
      const together = await gw.post(
        Array.from({ length: 10 }, () => ({ query: heavy, variables: { o: a.id, n: 500 } })),
        { token: a.token },
      );
      expect(together.status).toBe(400);
      expectCostRefusal(together.json);
    });

    it('[R-SEC-3] 29 aliases of usage over 399 days, batched: refused before anything runs; one 399-day report alone is served', async () => {
      counting.reset();
      const refused = await gw.post(
        Array.from({ length: 10 }, () => ({ query: USAGE_ALIASES, variables: { o: a.id, from: FROM, to: TO } })),
        { token: a.token },
      );
      expect(counting.statements()).toBe(0);
      expect(refused.status).toBe(400);
      expectCostRefusal(refused.json);
      const single = await gw.post({ query: USAGE_ALIASES, variables: { o: a.id, from: FROM, to: TO } }, { token: a.token });
      expectCostRefusal(single.json);
      const report = await gw.gql(ONE_USAGE, { o: a.id, from: FROM, to: TO }, a.token);
      expect(report.errors).toBeUndefined();
      expect(Array.isArray(report.data?.organization.usage)).toBe(true);
      await stillServes();
    });

    it('[R-SEC-3] the same bombs over graphql-ws are refused as errors of the operation; the socket stays usable', async () => {
      const client = gw.ws(`Bearer ${a.token}`);
      expectCostRefusal(await wsRun(client, NESTED_USERS, { o: a.id, n: 500 }));
      expectCostRefusal(await wsRun(client, USAGE_ALIASES, { o: a.id, from: FROM, to: TO }));
      const fine = await wsRun(client, SIMPLE, { o: a.id });
      expect(fine.data?.organization.name).toBe('Tenant A');
    });

    it("[R-SEC-3] a mutation payload list is priced by what it may hold: a dry-run moveUsers selecting each moved user's site's users is refused before anything runs", async () => {
      // moveUsers may name 1000 users; each of them brings its site's 500 users: half a million users, not 10 × 500.
      const group = (
        await ok(gw, 'mutation($i: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $i) { configurationGroup { id } } }', {
          i: { siteId: a.siteId, name: 'Bomb', functions: [] },
        })
      ).createConfigurationGroup.configurationGroup.id as string;
      const userIds = ((await ok(gw, PAGE, { o: a.id, n: 12 })).organization.users.edges as { node: { id: string } }[]).map(
        (e) => e.node.id,
      );
      const bomb =
        'mutation($i: MoveUsersInput!) { moveUsers(input: $i) { applied users { site { users(first: 500) { edges { node { id name email role status createdAt } } } } } } }';
      counting.reset();
      const refused = await gw.post({ query: bomb, variables: { i: { userIds, configurationGroupId: group, dryRun: true } } });
      expect(counting.statements()).toBe(0);
      expect(refused.status).toBe(400);
      expectCostRefusal(refused.json);
      // The payload's lists with small selections are still served.
      const plain = await gw.gql(
        'mutation($i: MoveUsersInput!) { moveUsers(input: $i) { applied users { id } released { user { id } product { code } } warnings { code message } } }',
        { i: { userIds, configurationGroupId: group, dryRun: true } },
      );
      expect(plain.errors).toBeUndefined();
      expect(plain.data?.moveUsers.users).toHaveLength(12);
    });

    it('[R-SEC-3] a costly selection under a subscription is refused over graphql-ws', async () => {
      const client = gw.ws(`Bearer ${a.token}`);
      const events =
        'subscription($o: ID!, $n: Int) { licenseEvents(organizationId: $o) { user { site { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id } } } } } } } } } } }';
      expectCostRefusal(await wsRun(client, events, { o: a.id, n: 500 }));
    });
  });

  describe(`[R-SEC-3] response size bound on ${kind}`, () => {
    let gw: ListeningApp;
    let a: Org;

    beforeAll(async () => {
      gw = await listen(kind, { limits: { maxResponseBytes: 2_000 } });
      a = await organization(gw, 'Tenant A', 30);
    }, 300_000);
    afterAll(() => gw.close());

    it('[R-SEC-3] a result over GRAPHQL_MAX_RESPONSE_BYTES is replaced by a coded error; a smaller one is sent', async () => {
      const small = await gw.gql(PAGE, { o: a.id, n: 5 }, a.token);
      expect(small.errors).toBeUndefined();
      expect(small.data?.organization.users.edges).toHaveLength(5);
      const big = await gw.gql(PAGE, { o: a.id, n: 30 }, a.token);
      expect(big.status).toBe(400);
      expect(big.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', rule: 'R-SEC-3', maxResponseBytes: 2_000 } });
      expect(big.errors?.[0]?.message).toMatch(/larger than 2000 bytes \(GRAPHQL_MAX_RESPONSE_BYTES\)/);
      expect(big.data ?? undefined).toBeUndefined();
      expect(JSON.stringify(big)).not.toContain('User 30');
      const overWs = await wsRun(gw.ws(`Bearer ${a.token}`), PAGE, { o: a.id, n: 30 });
      expect(codeOf(overWs)).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(overWs)).not.toContain('User 30');
    });

    it('[R-SEC-3] the results of a batch count together', async () => {
      const batch = await gw.post(
        Array.from({ length: 4 }, () => ({ query: PAGE, variables: { o: a.id, n: 5 } })),
        { token: a.token },
      );
      const results = batch.json as unknown as Body[];
      expect(results).toHaveLength(4);
      const refused = results.filter((r) => codeOf(r) === 'BAD_USER_INPUT');
      expect(refused.length).toBeGreaterThan(0);
      expect(results.filter((r) => r.data?.organization.users.edges.length === 5).length).toBeGreaterThan(0);
    });
  });

  describe(`[R-SEC-3] expensive operations take a slot of their organization on ${kind}`, () => {
    let gw: ListeningApp;
    let a: Org;
    let b: Org;
    const limits: Partial<OperationLimits> = { expensiveCost: 50, expensiveConcurrency: 1, expensiveWaitMs: 0 };

    beforeAll(async () => {
      gw = await listen(kind, { limits });
      a = await organization(gw, 'Tenant A', 20);
      b = await organization(gw, 'Tenant B', 2);
    }, 300_000);
    afterAll(() => gw.close());

    it("[R-SEC-3] beyond GRAPHQL_EXPENSIVE_CONCURRENCY, an organization's expensive operations get RATE_LIMITED with Retry-After, while another organization is served", async () => {
      const [batch, other] = await Promise.all([
        gw.post(
          Array.from({ length: 6 }, () => ({ query: PAGE, variables: { o: a.id, n: 20 } })),
          { token: a.token },
        ),
        gw.gql(PAGE, { o: b.id, n: 20 }, b.token),
      ]);
      expect(other.errors).toBeUndefined();
      expect(other.data?.organization.users.totalCount).toBe(2);
      const results = batch.json as unknown as Body[];
      const served = results.filter((r) => r.errors === undefined);
      const busy = results.filter((r) => codeOf(r) === 'RATE_LIMITED');
      expect(served.length + busy.length).toBe(6);
      expect(served.length).toBeGreaterThan(0);
      expect(busy.length).toBeGreaterThan(0);
      for (const r of served) expect(r.data?.organization.users.edges).toHaveLength(20);
      expect(busy[0]?.errors?.[0]?.extensions?.rule).toBe('R-SEC-3');
      expect(busy[0]?.errors?.[0]?.message).toMatch(/GRAPHQL_EXPENSIVE_CONCURRENCY/);
      // Cheap operations never wait for a slot.
      const cheap = await gw.post(
        Array.from({ length: 6 }, () => ({ query: SIMPLE, variables: { o: a.id } })),
        { token: a.token },
      );
      expect((cheap.json as unknown as Body[]).every((r) => r.data?.organization.name === 'Tenant A')).toBe(true);
      // A slot comes back once its operation ended.
      const again = await gw.gql(PAGE, { o: a.id, n: 20 }, a.token);
      expect(again.errors).toBeUndefined();
    });
  });
}

if (DATABASES.includes('postgres')) {
  describe('[R-SEC-3] tenants do not starve each other on postgres (a blocked table holds the slots)', () => {
    let database: TestDatabase;
    let gw: ListeningApp;
    let locker: pg.Client;
    let a: Org;
    let b: Org;

    beforeAll(async () => {
      database = await freshDatabase('postgres', { poolSize: 10 });
      gw = await listen('postgres', { limits: { expensiveCost: 50, expensiveConcurrency: 2, expensiveWaitMs: 0 } }, database);
      a = await organization(gw, 'Tenant A', 20);
      b = await organization(gw, 'Tenant B', 2);
      locker = new pg.Client({ connectionString: database.url! });
      await locker.connect();
    }, 300_000);
    afterAll(async () => {
      await locker.end().catch(() => undefined);
      await gw.close();
      await database.dispose();
    });

    it("[R-SEC-3] while twelve of A's expensive reads are stuck, A's extra ones are refused at once and B's simple query is served from the pool", {
      timeout: 120_000,
    }, async () => {
      await locker.query('begin');
      await locker.query('lock table users in access exclusive mode');
      const stuck: Promise<Body & { status: number }>[] = [];
      try {
        for (let i = 0; i < 12; i++) stuck.push(gw.gql(PAGE, { o: a.id, n: 20 }, a.token));
        // Only the operations holding a slot reach the database (and wait there for the lock).
        // pg_stat_activity is a snapshot per transaction: cleared before each look.
        const waiting = async () => {
          await locker.query('select pg_stat_clear_snapshot()');
          return Number(
            (
              await locker.query(
                "select count(*) as n from pg_stat_activity where state = 'active' and wait_event_type = 'Lock' and datname = current_database()",
              )
            ).rows[0].n,
          );
        };
        for (let i = 0; i < 1000 && (await waiting()) < 2; i++) await new Promise((resolve) => setTimeout(resolve, 20));
        const activity = (
          await locker.query(
            'select state, wait_event_type, left(query, 80) as q from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
          )
        ).rows;
        expect(await waiting(), JSON.stringify(activity)).toBe(2);
        const other = await gw.gql(SIMPLE, { o: b.id }, b.token);
        expect(other.errors).toBeUndefined();
        expect(other.data?.organization.name).toBe('Tenant B');
      } finally {
        await locker.query('commit');
      }
      const results = await Promise.all(stuck);
      expect(results.filter((r) => codeOf(r) === 'RATE_LIMITED')).toHaveLength(10);
      expect(results.filter((r) => r.status === 429)).toHaveLength(10);
      const served = results.filter((r) => r.errors === undefined);
      expect(served).toHaveLength(2);
      for (const r of served) expect(r.data?.organization.users.totalCount).toBe(20);
    });
  });

  describe('[R-SEC-3] statement_timeout on postgres', () => {
    let base: TestDatabase;
    let gw: ListeningApp;
    let locker: pg.Client;
    let a: Org;

    beforeAll(async () => {
      base = await freshDatabase('postgres');
      const handle = await openDatabase({ databaseUrl: base.url, dataDir: null, statementTimeoutMs: 300 });
      await migrateToLatest(handle.db);
      gw = await listen('postgres', {}, { ...handle, url: base.url, dispose: () => handle.close() });
      a = await organization(gw, 'Tenant A', 3);
      locker = new pg.Client({ connectionString: base.url! });
      await locker.connect();
    }, 300_000);
    afterAll(async () => {
      await locker.end().catch(() => undefined);
      await gw.close();
      await gw.database.dispose();
      await base.dispose();
    });

    it('[R-SEC-3] a read stuck past DATABASE_STATEMENT_TIMEOUT_MS answers STATEMENT_TIMEOUT (retryable, 503), no SQL, no "Unexpected error."', async () => {
      await locker.query('begin');
      await locker.query('lock table users in access exclusive mode');
      let stuck: Body & { status: number };
      try {
        stuck = await gw.gql(PAGE, { o: a.id, n: 5 }, a.token);
      } finally {
        await locker.query('commit');
      }
      expect(codeOf(stuck)).toBe('STATEMENT_TIMEOUT');
      expect(stuck.errors?.[0]?.extensions?.retryable).toBe(true);
      expect(stuck.status).toBe(503);
      expect(leaksIn(JSON.stringify(stuck))).toEqual([]);
      const after = await gw.gql(PAGE, { o: a.id, n: 5 }, a.token);
      expect(after.errors).toBeUndefined();
      expect(after.data?.organization.users.totalCount).toBe(3);
    });
  });
}

describe('[R-SEC-3] cost configuration', () => {
  it('reads the cost, response and slot limits from the environment, with the documented defaults', () => {
    const env = { OPERATOR_TOKEN };
    const config = loadConfig(env);
    expect(config.limits).toMatchObject({
      maxCost: 50_000,
      maxResponseBytes: 8_388_608,
      expensiveCost: 2_000,
      expensiveConcurrency: 3,
      expensiveWaitMs: 1_000,
    });
    expect(config.databaseStatementTimeoutMs).toBe(15_000);
    const custom = loadConfig({
      ...env,
      GRAPHQL_MAX_COST: '900',
      GRAPHQL_MAX_RESPONSE_BYTES: '0',
      GRAPHQL_EXPENSIVE_COST: '50',
      GRAPHQL_EXPENSIVE_CONCURRENCY: '0',
      GRAPHQL_EXPENSIVE_WAIT_MS: '0',
      DATABASE_STATEMENT_TIMEOUT_MS: '0',
    });
    expect(custom.limits).toMatchObject({
      maxCost: 900,
      maxResponseBytes: 0,
      expensiveCost: 50,
      expensiveConcurrency: 0,
      expensiveWaitMs: 0,
    });
    expect(custom.databaseStatementTimeoutMs).toBe(0);
    expect(() => loadConfig({ ...env, GRAPHQL_EXPENSIVE_WAIT_MS: 'soon' })).toThrow(/^GRAPHQL_EXPENSIVE_WAIT_MS: must be a whole number/);
  });
});
