import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DATABASES, emptyPostgresDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN, uniqueCustomerRef } from '../support/gateway.ts';
import {
  ensureStopped,
  type GatewayProcess,
  instanceGql as gql,
  instanceOk as ok,
  listeningBase,
  type NamedInstance,
  spawnGateway,
} from '../support/launch.ts';
import { VENDOR, issueLicenseKey } from '../support/licensing.ts';
import { HAVE_PGBOUNCER, startPgBouncer, type PgBouncer } from '../support/pgbouncer.ts';
import { END_SESSION, START_SESSION, type StartView } from '../support/sessions.ts';
import { watchSeatUsage } from '../support/seat-watch.ts';

/*
 * The deployment of docs/operations.md with a pooler in transaction mode: two
 * gateway processes whose pools reach PostgreSQL through a real PgBouncer
 * (`pool_mode = transaction`, 4 server connections for both gateways' 20
 * client connections), their LISTEN connections and migrations over
 * DATABASE_LISTEN_URL, a direct connection. Both start on an empty database at
 * once (the migrations' session lock over the direct connection). A storm of
 * starts and ends across both ends with exact counts, a subscriber on one
 * instance sees the other's start, and a gateway whose LISTEN would go
 * through the pooler, or that sends the statement timeout PgBouncer refuses,
 * refuses to start naming the variable. PostgreSQL only.
 */

const DAY = 86_400_000;
const POOL_SIZE = 4;

describe.skipIf(!DATABASES.includes('postgres') || !HAVE_PGBOUNCER)(
  'two gateways behind PgBouncer in transaction mode, LISTEN direct (DATABASE_LISTEN_URL)',
  { timeout: 300_000 },
  () => {
    let database: { url: string; dispose(): Promise<void> };
    let bouncer: PgBouncer;
    let pooled: string;
    let direct: pg.Pool;
    let a: NamedInstance;
    let b: NamedInstance;
    const children: GatewayProcess[] = [];
    const clients: Client[] = [];

    const launch = async (name: string, env: Record<string, string>): Promise<NamedInstance> => {
      const gateway = spawnGateway({ OPERATOR_TOKEN, LICENSE_PUBLIC_KEYS: VENDOR.publicKey, ...env });
      children.push(gateway);
      const base = await listeningBase(gateway).catch((error: Error) => {
        throw new Error(`${name}: ${error.message}`);
      });
      return Object.assign(gateway, { name, url: `${base}/graphql` });
    };

    beforeAll(async () => {
      database = await emptyPostgresDatabase();
      const name = new URL(database.url).pathname.slice(1);
      direct = new pg.Pool({ connectionString: database.url, max: 2 });
      // The statement timeout on the database: PgBouncer refuses it as a startup parameter.
      await direct.query(`alter database ${name} set statement_timeout = '15s'`);
      bouncer = await startPgBouncer({ databases: { licensing: database.url }, poolMode: 'transaction', defaultPoolSize: POOL_SIZE });
      pooled = bouncer.url('licensing');
      const env = { DATABASE_URL: pooled, DATABASE_LISTEN_URL: database.url, DATABASE_STATEMENT_TIMEOUT_MS: '0', DATABASE_POOL_SIZE: '10' };
      // Both on the empty database at once: each migrates under the session lock, over the direct connection.
      [a, b] = await Promise.all([launch('gateway A', env), launch('gateway B', env)]);
    }, 180_000);

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await Promise.all(children.map((child) => ensureStopped(child)));
      await bouncer?.stop();
      await direct?.end();
      await database?.dispose();
    }, 60_000);

    /** An organization of `seats` + `emergency` AGENT_SEATs and `users` agents, with its admin and agent-client tokens. */
    async function organization(seats: number, emergency: number, users: number) {
      const customerRef = uniqueCustomerRef();
      const id = (
        await ok(
          a,
          `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
          { input: { name: 'pooled', catalog: 'connect-storm', customerRef } },
          OPERATOR_TOKEN,
        )
      ).createOrganization.organization.id as string;
      const token = async (role: string) =>
        (
          await ok(
            a,
            `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
            { input: { organizationId: id, role } },
            OPERATOR_TOKEN,
          )
        ).createApiToken.token as string;
      const admin = await token('ADMIN');
      const agentClient = await token('AGENT_CLIENT');
      const key = issueLicenseKey(
        'connect-storm',
        [
          { product: 'BASE', quantity: users },
          { product: 'AGENT_SEAT', quantity: seats, ...(emergency ? { emergencyQuantity: emergency } : {}) },
        ],
        { customerRef, validFrom: new Date(Date.now() - DAY).toISOString() },
      );
      await ok(
        a,
        `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
        { input: { organizationId: id, key } },
        admin,
      );
      const siteId = (
        await ok(
          a,
          `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
          { input: { organizationId: id, name: 'HQ' } },
          admin,
        )
      ).createSite.site.id as string;
      const groupId = (
        await ok(
          a,
          `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
          { input: { siteId, name: 'Agents', functions: ['BASE', 'AGENT_SEAT'] } },
          admin,
        )
      ).createConfigurationGroup.configurationGroup.id as string;
      const userIds: string[] = [];
      for (let i = 0; i < users; i++) {
        const { createUser } = await ok(
          i % 2 === 0 ? a : b,
          `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
          { input: { siteId, name: `Agent ${i + 1}`, role: 'AGENT', configurationGroupId: groupId } },
          admin,
        );
        userIds.push(createUser.user.id);
      }
      return { id, admin, agentClient, userIds };
    }

    it('[R-CONC-4] starts and ends racing on both gateways through 4 shared server connections: counts exact on both', async () => {
      const org = await organization(20, 5, 60);
      // Warm both processes' start caches (the next starts try the one statement first).
      for (const instance of [a, b]) {
        const warm = (await ok(instance, START_SESSION, { input: { userId: org.userIds[0] } }, org.agentClient)).startSession as StartView;
        expect(warm.granted).toBe(true);
        await ok(instance, END_SESSION, { input: { sessionId: warm.session!.id } }, org.agentClient);
      }
      const start = async (userId: string, i: number) => {
        const result = await gql(i % 2 === 0 ? a : b, START_SESSION, { input: { userId } }, org.agentClient);
        expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
        return { userId, ...(result.data.startSession as StartView) };
      };
      /** Runs `work` over `items`, `width` at a time. */
      const storm = async <T, R>(items: T[], width: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> => {
        const queue = items.map((item, i) => ({ item, i }));
        const out: R[] = [];
        await Promise.all(
          Array.from({ length: width }, async () => {
            for (let next = queue.shift(); next; next = queue.shift()) out.push(await work(next.item, next.i));
          }),
        );
        return out;
      };

      // Round 1: all 60 at once (40 in flight) against 20 + 5 seats.
      const first = await storm(org.userIds, 40, start);
      const granted = first.filter((r) => r.granted);
      expect(granted).toHaveLength(25);
      expect(granted.filter((r) => r.session?.seatKind === 'EMERGENCY')).toHaveLength(5);
      for (const r of first.filter((x) => !x.granted)) expect(r.denial?.code).toBe('NO_SEAT_AVAILABLE');
      // The gateways' 20 client connections shared PgBouncer's 4 server connections.
      const servers = (await bouncer.show<{ database: string }>('SERVERS')).filter((s) => s.database === 'licensing');
      const pooledClients = (await bouncer.show<{ database: string }>('CLIENTS')).filter((c) => c.database === 'licensing');
      expect(servers.length).toBeLessThanOrEqual(POOL_SIZE);
      expect(pooledClients.length).toBeGreaterThan(POOL_SIZE);

      // Round 2: every holder ends on the other instance while every denied user tries again, all at once.
      const denied = first.filter((r) => !r.granted).map((r) => r.userId);
      const mixed = await storm(
        [...granted.map((r) => ({ end: r.session!.id, i: 0 })), ...denied.map((userId) => ({ userId, i: 0 }))].sort(
          () => Math.random() - 0.5,
        ),
        40,
        async (job: { end?: string; userId?: string }, i) => {
          if (job.end) {
            const result = await gql(i % 2 === 0 ? b : a, END_SESSION, { input: { sessionId: job.end } }, org.agentClient);
            expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
            return null;
          }
          return start(job.userId!, i);
        },
      );
      const second = mixed.filter((r): r is NonNullable<typeof r> => r !== null);
      expect(second.filter((r) => r.granted).length).toBeLessThanOrEqual(25);
      // Round 3: everyone without a session tries once more: the pool ends full, exactly.
      const holders = new Set(second.filter((r) => r.granted).map((r) => r.userId));
      const third = await storm(
        org.userIds.filter((u) => !holders.has(u)),
        40,
        start,
      );
      expect(holders.size + third.filter((r) => r.granted).length).toBe(25);

      // The stored state: open sessions, the seats they hold and the pool's counter agree on 25. (A session's seat
      // kind is what it got when it started; seatUsage splits the counter against the capacities.)
      const open = await direct.query<{ sessions: number; seats: number }>(
        `select count(distinct s.id)::int as sessions, count(ss.session_id)::int as seats
           from sessions s left join session_seats ss
             on ss.organization_id = s.organization_id and ss.session_id = s.id and ss.product_code = 'AGENT_SEAT'
          where s.organization_id = $1 and s.ended_at is null`,
        [org.id],
      );
      expect(open.rows[0]).toEqual({ sessions: 25, seats: 25 });
      const counter = await direct.query<{ in_use: number }>(
        `select in_use from seat_pools where organization_id = $1 and product_code = 'AGENT_SEAT'`,
        [org.id],
      );
      expect(counter.rows[0]?.in_use).toBe(25);
      // Either gateway's seatUsage says the same.
      for (const instance of [a, b]) {
        const usage = await ok(
          instance,
          `query($id: ID!) { organization(id: $id) { seatUsage { pools { product { code } inUse emergencyInUse } } } }`,
          { id: org.id },
          org.admin,
        );
        expect(usage.organization.seatUsage.pools, instance.name).toEqual([
          { product: { code: 'AGENT_SEAT' }, inUse: 20, emergencyInUse: 5 },
        ]);
      }
    });

    it('[R-LIVE-1] a seatUsage subscriber on B sees the start made on A (LISTEN on the direct connection)', async () => {
      const org = await organization(5, 0, 3);
      const client = createClient({
        url: `${b.url.replace('http', 'ws')}`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${org.admin}` },
      });
      clients.push(client);
      const { seen, errors, until } = watchSeatUsage(client, org.id, 'AGENT_SEAT');
      // The snapshot on subscribe comes first: the subscription is registered before the start.
      await until(0);
      for (const userId of org.userIds) {
        const data = await ok(a, START_SESSION, { input: { userId } }, org.agentClient);
        expect((data.startSession as StartView).granted).toBe(true);
      }
      await until(3);
      expect(errors).toEqual([]);
      expect(seen.at(-1)).toBe(3);
    });

    it('without DATABASE_LISTEN_URL, a gateway whose LISTEN would go through the pooler refuses to start, naming DATABASE_LISTEN_URL', async () => {
      const gateway = spawnGateway({
        OPERATOR_TOKEN,
        DATABASE_URL: pooled,
        DATABASE_STATEMENT_TIMEOUT_MS: '0',
        DATABASE_WAIT_SECONDS: '5',
      });
      children.push(gateway);
      const { code } = await gateway.exited;
      expect(code).toBe(2);
      expect(gateway.stderr()).toMatch(/configuration error: DATABASE_URL: a NOTIFY sent through DATABASE_URL did not arrive/);
      expect(gateway.stderr()).toMatch(/set DATABASE_LISTEN_URL to a direct connection/);
      expect(gateway.lines.some((l) => l.msg === 'gateway listening')).toBe(false);
    });

    it('DATABASE_LISTEN_URL through the pooler too is refused the same way, naming DATABASE_LISTEN_URL', async () => {
      const gateway = spawnGateway({
        OPERATOR_TOKEN,
        DATABASE_URL: pooled,
        DATABASE_LISTEN_URL: pooled,
        DATABASE_STATEMENT_TIMEOUT_MS: '0',
        DATABASE_WAIT_SECONDS: '5',
      });
      children.push(gateway);
      const { code } = await gateway.exited;
      expect(code).toBe(2);
      expect(gateway.stderr()).toMatch(/configuration error: DATABASE_LISTEN_URL: .*must be a direct connection/);
    });

    it('a statement timeout sent as a startup parameter, which PgBouncer refuses, stops the start at once naming DATABASE_STATEMENT_TIMEOUT_MS', async () => {
      // The default DATABASE_STATEMENT_TIMEOUT_MS (15 s); a long DATABASE_WAIT_SECONDS: the refusal must not wait for it.
      const gateway = spawnGateway({
        OPERATOR_TOKEN,
        DATABASE_URL: pooled,
        DATABASE_LISTEN_URL: database.url,
        DATABASE_WAIT_SECONDS: '600',
      });
      children.push(gateway);
      const { code } = await gateway.exited;
      expect(code).toBe(2);
      expect(gateway.stderr()).toMatch(
        /configuration error: DATABASE_STATEMENT_TIMEOUT_MS: .*unsupported startup parameter: statement_timeout/,
      );
      expect(gateway.stderr()).toMatch(/set DATABASE_STATEMENT_TIMEOUT_MS=0/);
    });
  },
);
