/*
 * Test data, fast. Organizations, tokens, sites and configuration groups go
 * through the API; users, their configuration (assignments) and their BASE
 * licence slots are inserted with a few set-based SQL statements (100,000
 * users in seconds); then the licence key is activated through the API
 * (activateLicenseKey), which computes the allocation for every user and
 * creates the seat pools and the materialized grants, exactly as in use.
 */
import { randomUUID } from 'node:crypto';
import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { systemClock } from '../src/clock.ts';
import { openDatabase } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { generateKeyPair, issueKey, parseTrustedKeys } from '../src/keys/codec.ts';
import { orderToPayload } from '../src/keys/order.ts';
import { OPERATOR_TOKEN } from './gateway.ts';

export const CATALOG = 'connect-storm';
export const SEAT = 'AGENT_SEAT';
export const CUSTOMER = 'BENCH-1';

/** The bench's vendor key pair (the gateways trust its public key). */
export const VENDOR = generateKeyPair();

/** A parameterized SQL runner over PostgreSQL (pg) or PGlite. */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export function pgSql(url: string): Sql {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  return {
    async query<T>(text: string, params: unknown[] = []) {
      return (await pool.query(text, params)).rows as T[];
    },
    close: () => pool.end(),
  };
}

/** What the loaders need of the API: a GqlClient over HTTP, or the app in this process. */
export interface Api {
  ok<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, token?: string): Promise<T>;
}

/**
 * The gateway's app in this process on a PGlite data directory (no gateway
 * process may hold it: PGlite allows one process per directory): its API
 * through yoga.fetch, and SQL on the same database. For loading PGlite.
 */
export async function inProcessGateway(dataDir: string): Promise<{ api: Api; sql: Sql; close(): Promise<void> }> {
  const database = await openDatabase({ databaseUrl: null, dataDir });
  await migrateToLatest(database.db);
  const app = createApp({
    database,
    clock: systemClock,
    operatorToken: OPERATOR_TOKEN,
    trustedKeys: parseTrustedKeys(VENDOR.publicKey),
    sweepIntervalMs: 0,
    rateLimits: { activations: 0 },
  });
  const api: Api = {
    async ok(query, variables = {}, token) {
      const response = await app.yoga.fetch('http://bench.local/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
      if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors).slice(0, 800)}`);
      return body.data as never;
    },
  };
  const sql: Sql = {
    async query<T>(text: string, params: unknown[] = []) {
      return (await database.db.executeQuery<T>(CompiledQuery.raw(text, params))).rows as T[];
    },
    close: async () => undefined,
  };
  return {
    api,
    sql,
    async close() {
      await app.stop();
      await database.close();
    },
  };
}

export interface OrgFixture {
  name: string;
  organizationId: string;
  siteId: string;
  groupId: string;
  /** Its own: a customer reference belongs to one organization. */
  customerRef: string;
  tokens: { ADMIN: string; SUPERVISOR: string; AGENT_CLIENT: string };
}

/** An organization of connect-storm with one site, a group of agents (BASE + AGENT_SEAT) and tokens. */
export async function createOrgFixture(client: Api, name: string): Promise<OrgFixture> {
  const customerRef = `${CUSTOMER}-${randomUUID()}`;
  const org = await client.ok<{ createOrganization: { organization: { id: string } } }>(
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
    { input: { name, catalog: CATALOG, customerRef } },
    OPERATOR_TOKEN,
  );
  const organizationId = org.createOrganization.organization.id;
  const tokens = {} as OrgFixture['tokens'];
  for (const role of ['ADMIN', 'SUPERVISOR', 'AGENT_CLIENT'] as const) {
    const created = await client.ok<{ createApiToken: { token: string } }>(
      `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
      { input: { organizationId, role, label: `bench ${role}` } },
      OPERATOR_TOKEN,
    );
    tokens[role] = created.createApiToken.token;
  }
  const site = await client.ok<{ createSite: { site: { id: string } } }>(
    `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
    { input: { organizationId, name: 'HQ' } },
    tokens.ADMIN,
  );
  const siteId = site.createSite.site.id;
  const group = await client.ok<{ createConfigurationGroup: { configurationGroup: { id: string } } }>(
    `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
    { input: { siteId, name: 'Agents', functions: ['BASE', SEAT] } },
    tokens.ADMIN,
  );
  return { name, customerRef, organizationId, siteId, groupId: group.createConfigurationGroup.configurationGroup.id, tokens };
}

let lastBatchAt = 0;

/**
 * `count` more ACTIVE agents in the fixture's group, configured for BASE and
 * AGENT_SEAT, each holding a BASE slot (the state the API leaves behind when
 * users are added to a group after a key): four set-based statements. Each
 * call's users share one creation instant of their own, which the dependent
 * inserts select them by (no anti-joins: linear in the organization's size).
 */
export async function insertUsers(sql: Sql, org: OrgFixture, count: number): Promise<void> {
  lastBatchAt = Math.max(Date.now(), lastBatchAt + 1);
  const at = new Date(lastBatchAt).toISOString();
  const o = org.organizationId;
  const [{ n: before } = { n: 0 }] = await sql.query<{ n: number }>(
    'select count(*)::int as n from users where organization_id = $1::uuid',
    [o],
  );
  await sql.query(
    `insert into users (organization_id, id, site_id, configuration_group_id, team_id, name, email, role, status, created_at)
     select $1::uuid, gen_random_uuid(), $2::uuid, $3::uuid, null, 'Agent ' || i, null, 'AGENT', 'ACTIVE', $4::timestamptz
     from generate_series($5::int + 1, $5::int + $6::int) as i`,
    [o, org.siteId, org.groupId, at, before, count],
  );
  await sql.query(
    `insert into user_status_history (organization_id, user_id, at, status)
     select organization_id, id, created_at, 'ACTIVE' from users where organization_id = $1::uuid and created_at = $2::timestamptz`,
    [o, at],
  );
  await sql.query(
    `insert into assignments (organization_id, user_id, product_code, source, configured_at)
     select u.organization_id, u.id, p.code, 'GROUP', u.created_at from users u cross join (values ('BASE'), ('${SEAT}')) as p(code)
     where u.organization_id = $1::uuid and u.created_at = $2::timestamptz`,
    [o, at],
  );
  const [{ n: slots } = { n: 0 }] = await sql.query<{ n: number }>(
    `select coalesce(max(slot_no), 0)::int as n from license_slots where organization_id = $1::uuid and product_code = 'BASE'`,
    [o],
  );
  await sql.query(
    `insert into license_slots (organization_id, product_code, slot_no, holder_user_id, window_start, early_used)
     select organization_id, 'BASE', $3::int + (row_number() over (order by id))::int, id, created_at, false
     from users where organization_id = $1::uuid and created_at = $2::timestamptz`,
    [o, at, slots],
  );
}

/** Removes the fixture's users again (with their configuration, slots and history). */
export async function deleteUsers(sql: Sql, org: OrgFixture): Promise<void> {
  await sql.query('delete from license_slots where organization_id = $1::uuid', [org.organizationId]);
  await sql.query('delete from user_status_history where organization_id = $1::uuid', [org.organizationId]);
  await sql.query('delete from user_grants where organization_id = $1::uuid', [org.organizationId]);
  await sql.query('delete from users where organization_id = $1::uuid', [org.organizationId]);
}

export interface Activation {
  /** ms of the activation that made the key effective for every user (the last batch's when batched). */
  ms: number;
  mode: 'single' | 'batches';
  batches: number;
  /** The single activation's failure, when it failed. */
  singleError: string | null;
  singleMs: number | null;
}

/**
 * Loads `users` agents and activates a key for them through the API. One
 * activation for everyone first (what a customer does); should it fail, the
 * users are loaded again in batches with a new key activated after each, so
 * every activation grants at most `batchSize` users (the bench goes on and
 * reports the failure).
 */
export async function loadAndActivate(
  api: Api,
  sql: Sql,
  org: OrgFixture,
  users: number,
  capacity: number,
  emergency: number,
  batchSize = 3000,
): Promise<Activation> {
  await insertUsers(sql, org, users);
  await analyze(sql);
  const t0 = process.hrtime.bigint();
  try {
    return {
      ms: await activate(api, org, issueBenchKey(users, capacity, emergency, org.customerRef)),
      mode: 'single',
      batches: 1,
      singleError: null,
      singleMs: null,
    };
  } catch (error) {
    const singleMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const singleError = error instanceof Error ? error.message : String(error);
    await deleteUsers(sql, org);
    let ms = 0;
    let batches = 0;
    for (let done = 0; done < users; done += batchSize) {
      await insertUsers(sql, org, Math.min(batchSize, users - done));
      if (++batches % 10 === 0) await analyze(sql);
      ms = await activate(api, org, issueBenchKey(users, capacity, emergency, org.customerRef));
    }
    await analyze(sql);
    return { ms, mode: 'batches', batches, singleError, singleMs };
  }
}

export async function analyze(sql: Sql): Promise<void> {
  await sql.query('analyze users, assignments, license_slots, user_grants, user_status_history, sessions, seat_pools');
}

export async function userIdsOf(sql: Sql, organizationId: string): Promise<string[]> {
  return (await sql.query<{ id: string }>('select id from users where organization_id = $1::uuid order by id', [organizationId])).map(
    (r) => r.id,
  );
}

/** A key for `users` BASE licences and `capacity` + `emergency` agent seats, valid from yesterday for 12 months. */
export function issueBenchKey(users: number, capacity: number, emergency: number, customerRef: string): string {
  const validFrom = new Date(Date.now() - 86_400_000).toISOString();
  const order = {
    customerRef,
    catalog: CATALOG,
    validFrom,
    entitlements: [
      { product: 'BASE', quantity: Math.max(users, 1) },
      { product: SEAT, quantity: capacity, emergencyQuantity: emergency },
    ],
  };
  return issueKey(orderToPayload(order, new Date(validFrom)), VENDOR.privateKeyPem);
}

const ACTIVATE = `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`;

/** Activates a key through the API; resolves with the milliseconds it took. */
export async function activate(client: Api, org: OrgFixture, key: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const data = await client.ok<{ activateLicenseKey: { license: { state: string } } }>(
    ACTIVATE,
    { input: { organizationId: org.organizationId, key } },
    org.tokens.ADMIN,
  );
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (data.activateLicenseKey.license.state !== 'ACTIVE')
    throw new Error(`key not ACTIVE for ${org.name}: ${data.activateLicenseKey.license.state}`);
  return ms;
}

export const SEAT_USAGE = `query($id: ID!) { organization(id: $id) { seatUsage { pools { product { code } capacity inUse emergencyCapacity emergencyInUse overageInUse } } } }`;

/** Every seat in use of the organization's AGENT_SEAT pool (regular + emergency + overage), through the API. */
export async function seatsInUse(client: Api, org: OrgFixture): Promise<number> {
  const data = await client.ok<{
    organization: { seatUsage: { pools: { product: { code: string }; inUse: number; emergencyInUse: number; overageInUse: number }[] } };
  }>(SEAT_USAGE, { id: org.organizationId }, org.tokens.ADMIN);
  const pool = data.organization.seatUsage.pools.find((p) => p.product.code === SEAT);
  return pool ? pool.inUse + pool.emergencyInUse + pool.overageInUse : 0;
}
