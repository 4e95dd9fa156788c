import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN, uniqueCustomerRef } from '../support/gateway.ts';
import { ensureStopped, listeningBase, spawnGateway, type GatewayProcess } from '../support/launch.ts';
import { VENDOR, issueLicenseKey } from '../support/licensing.ts';
import { HAVE_PGBOUNCER, startPgBouncer, type PgBouncer } from '../support/pgbouncer.ts';
import { START_SESSION, type StartView } from '../support/sessions.ts';
import { watchSeatUsage } from '../support/seat-watch.ts';

/*
 * The pooling setup of docs/operations.md, as written there: two gateway
 * processes reach PostgreSQL only through a real PgBouncer in session mode
 * (`pool_mode = session`, the statement timeout set on the database rather
 * than as a startup parameter, which PgBouncer refuses). Sessions start
 * through the pooler, and a subscriber on one instance sees the seat taken on
 * the other: the LISTEN connection works through it. PostgreSQL only.
 */

const DAY = 86_400_000;

type Gql = { data?: any; errors?: { message: string }[] };

async function ok(base: string, query: string, variables: Record<string, unknown>, token: string): Promise<any> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Gql;
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data;
}

describe.skipIf(!DATABASES.includes('postgres') || !HAVE_PGBOUNCER)(
  'gateways behind PgBouncer in session mode',
  { timeout: 240_000 },
  () => {
    let database: TestDatabase;
    let bouncer: PgBouncer | undefined;
    let port: number;
    const gateways: GatewayProcess[] = [];
    const clients: Client[] = [];

    beforeAll(async () => {
      database = await freshDatabase('postgres');
      const target = new URL(database.url!);
      const dbName = target.pathname.slice(1);
      // The statement timeout lives on the database: PgBouncer does not pass a statement_timeout startup parameter on.
      const admin = new pg.Client({ connectionString: database.url! });
      await admin.connect();
      await admin.query(`alter database ${dbName} set statement_timeout = '15s'`);
      await admin.end();

      bouncer = await startPgBouncer({
        databases: { licensing: database.url! },
        poolMode: 'session',
        defaultPoolSize: 40,
        maxClientConn: 200,
      });
      port = bouncer.port;
    }, 120_000);

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await Promise.all(gateways.map((g) => ensureStopped(g)));
      await bouncer?.stop();
      await database?.dispose();
    }, 60_000);

    it('sessions start through the pooler, and a subscriber on the other instance sees them (LISTEN through PgBouncer)', async () => {
      const url = `postgres://postgres@127.0.0.1:${port}/licensing`;
      const env = { DATABASE_URL: url, DATABASE_STATEMENT_TIMEOUT_MS: '0', OPERATOR_TOKEN, LICENSE_PUBLIC_KEYS: VENDOR.publicKey };
      const a = spawnGateway(env);
      const b = spawnGateway(env);
      gateways.push(a, b);
      const [baseA, baseB] = await Promise.all([listeningBase(a), listeningBase(b)]);

      // The server's connections through the pooler carry the database's statement timeout.
      const probe = new pg.Client({ connectionString: url });
      await probe.connect();
      expect((await probe.query('show statement_timeout')).rows[0]?.statement_timeout).toBe('15s');
      await probe.end();
      // What the gateway sends with DATABASE_STATEMENT_TIMEOUT_MS set: PgBouncer refuses the connection.
      const refused = new pg.Client({ connectionString: url, statement_timeout: 15_000 });
      await expect(refused.connect()).rejects.toThrow(/unsupported startup parameter: statement_timeout/);
      await refused.end().catch(() => undefined);

      const customerRef = uniqueCustomerRef();
      const created = await ok(
        baseA,
        `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
        { input: { name: 'Pooled', catalog: 'connect-storm', customerRef } },
        OPERATOR_TOKEN,
      );
      const orgId = created.createOrganization.organization.id as string;
      const site = await ok(
        baseA,
        `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
        { input: { organizationId: orgId, name: 'HQ' } },
        OPERATOR_TOKEN,
      );
      const token = async (role: string) =>
        (
          await ok(
            baseA,
            `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
            { input: { organizationId: orgId, role } },
            OPERATOR_TOKEN,
          )
        ).createApiToken.token as string;
      const adminToken = await token('ADMIN');
      const agentClient = await token('AGENT_CLIENT');
      const key = issueLicenseKey(
        'connect-storm',
        [
          { product: 'BASE', quantity: 10 },
          { product: 'AGENT_SEAT', quantity: 5 },
        ],
        { customerRef, validFrom: new Date(Date.now() - DAY).toISOString() },
      );
      await ok(
        baseA,
        `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
        { input: { organizationId: orgId, key } },
        adminToken,
      );
      const group = await ok(
        baseA,
        `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
        { input: { siteId: site.createSite.site.id, name: 'Agents', functions: ['BASE', 'AGENT_SEAT'] } },
        adminToken,
      );
      const users: string[] = [];
      for (let i = 0; i < 3; i++) {
        const user = await ok(
          baseA,
          `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
          {
            input: {
              siteId: site.createSite.site.id,
              name: `Agent ${i + 1}`,
              role: 'AGENT',
              configurationGroupId: group.createConfigurationGroup.configurationGroup.id,
            },
          },
          adminToken,
        );
        users.push(user.createUser.user.id);
      }

      // A subscriber on B; the sessions start on A.
      const client = createClient({
        url: `${baseB.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${adminToken}` },
      });
      clients.push(client);
      const { seen, errors, until } = watchSeatUsage(client, orgId, 'AGENT_SEAT');
      // The snapshot on subscribe arrives first: the subscription is registered before any session starts.
      await until(0);
      expect(errors).toEqual([]);

      for (const userId of users) {
        const data = (await ok(baseA, START_SESSION, { input: { userId } }, agentClient)) as { startSession: StartView };
        expect(data.startSession.granted).toBe(true);
      }
      await until(3);
      expect(errors).toEqual([]);
      expect(seen.at(-1)).toBe(3);

      // Both gateways were PgBouncer's clients (its admin console lists them), not PostgreSQL's directly.
      const console_ = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/pgbouncer` });
      await console_.connect();
      const rows = (await console_.query('SHOW CLIENTS')).rows as { database: string }[];
      await console_.end();
      expect(rows.filter((r) => r.database === 'licensing').length).toBeGreaterThanOrEqual(2);
    });
  },
);
