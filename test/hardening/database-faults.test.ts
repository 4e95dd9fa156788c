import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { createApp } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import { openDatabase } from '../../src/db/database.ts';
import { DATABASES } from '../support/databases.ts';
import { VENDOR, issueLicenseKey } from '../support/licensing.ts';
import { freePort, HAVE_POSTGRES_BINARIES, ownPostgres, type OwnPostgres } from './own-postgres.ts';
import { ensureStopped, listeningBase, PROCESS_OPERATOR_TOKEN, spawnGateway, type GatewayProcess } from '../support/launch.ts';
import { listenOn } from '../support/listen.ts';

/*
 * Database faults under load (issue names: db-restart, db-crash). Two gateway
 * processes on one PostgreSQL of the test's own; 32 agent clients start and
 * end sessions without pause; PostgreSQL is shut down fast (SIGINT: every
 * session ends with 57P01), started again, then killed with -9 in the middle
 * of the load and started again (crash recovery). No gateway may exit; during
 * each outage /readyz is 503 and every failed operation is a retryable 503
 * UNAVAILABLE with Retry-After, never a 200 "Unexpected error."; afterwards
 * /readyz is 200, the seat counter equals the open sessions, every grant a
 * client was told of is still open unless that client ended it, and a
 * subscriber connected all along sees the final state.
 */

const CLIENTS = 32;
const SEATS = 24;
const DAY = 86_400_000;

type Reply = { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
type Outcome = { ok: true; data: any } | { ok: false };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function gql(
  base: string,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<{ status: number; retryAfter: string | null; body: Reply }> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), body: (await response.json()) as Reply };
}

async function ok(base: string, query: string, variables: Record<string, unknown>, token = PROCESS_OPERATOR_TOKEN): Promise<any> {
  const { body } = await gql(base, query, variables, token);
  if (body.errors?.length || !body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function readyz(base: string): Promise<number> {
  try {
    return (await fetch(`${base}/readyz`)).status;
  } catch {
    return 0;
  }
}

/** Polls until every gateway's /readyz answers `status` (bounded; false when it never did or one is gone). */
async function allReady(bases: string[], status: number, exited: () => boolean): Promise<boolean> {
  for (let i = 0; i < 300 && !exited(); i++) {
    if ((await Promise.all(bases.map(readyz))).every((s) => s === status)) return true;
    await sleep(100);
  }
  return false;
}

const START = 'mutation($input: StartSessionInput!) { startSession(input: $input) { granted session { id } denial { code } } }';
const END = 'mutation($input: EndSessionInput!) { endSession(input: $input) { session { id endedAt } } }';

describe.skipIf(!DATABASES.includes('postgres') || !HAVE_POSTGRES_BINARIES)(
  'database faults under load: two gateways, 32 clients, PostgreSQL shut down and crashed',
  { timeout: 180_000 },
  () => {
    let server: OwnPostgres;
    let url: string;
    const gateways: GatewayProcess[] = [];
    let subscriber: Client | null = null;

    beforeAll(async () => {
      server = await ownPostgres();
      await server.start();
      const admin = new pg.Client({ connectionString: server.url() });
      await admin.connect();
      await admin.query('create database gateway');
      await admin.end();
      url = server.url('gateway');
      const env = { DATABASE_URL: url, LICENSE_PUBLIC_KEYS: VENDOR.publicKey, DATABASE_POOL_SIZE: '6' };
      // Both at once: migrations run under an advisory lock.
      gateways.push(spawnGateway(env), spawnGateway(env));
      await Promise.all(gateways.map(listeningBase));
    }, 120_000);

    afterAll(async () => {
      await subscriber?.dispose();
      await Promise.all(gateways.map(ensureStopped));
      await server?.dispose();
    }, 60_000);

    it('[R-AVAIL-1][db-restart][db-crash] no gateway exits; /readyz 503 then 200; outages answer 503 UNAVAILABLE with Retry-After; no acknowledged grant lost; seats = open sessions; subscriptions resume', async () => {
      const [a, b] = await Promise.all(gateways.map(listeningBase));
      const bases = [a!, b!];
      const exited = () => gateways.some((g) => g.child.exitCode !== null || g.child.signalCode !== null);
      const exits = () =>
        gateways.map((g) => ({
          exitCode: g.child.exitCode,
          signal: g.child.signalCode,
          log: g.child.exitCode === null ? '' : g.output().slice(-1500),
        }));

      // An organization with SEATS concurrent seats for CLIENTS agents, set up through gateway A.
      const organizationId = (
        await ok(
          a!,
          'mutation { createOrganization(input: { name: "Faults", catalog: "connect-storm", customerRef: "CUST-1" }) { organization { id } } }',
          {},
        )
      ).createOrganization.organization.id as string;
      const token = async (role: string) =>
        (
          await ok(a!, 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }', {
            input: { organizationId, role },
          })
        ).createApiToken.token as string;
      const admin = await token('ADMIN');
      const agentClient = await token('AGENT_CLIENT');
      const key = issueLicenseKey(
        'connect-storm',
        [
          { product: 'BASE', quantity: CLIENTS },
          { product: 'AGENT_SEAT', quantity: SEATS },
        ],
        { validFrom: new Date(Date.now() - DAY).toISOString() },
      );
      await ok(
        a!,
        'mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }',
        { input: { organizationId, key } },
        admin,
      );
      const siteId = (
        await ok(
          a!,
          'mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }',
          { input: { organizationId, name: 'HQ' } },
          admin,
        )
      ).createSite.site.id as string;
      const groupId = (
        await ok(
          a!,
          'mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }',
          { input: { siteId, name: 'Agents', functions: ['BASE', 'AGENT_SEAT'] } },
          admin,
        )
      ).createConfigurationGroup.configurationGroup.id as string;
      const users: string[] = [];
      for (let i = 0; i < CLIENTS; i++)
        users.push(
          (
            await ok(
              a!,
              'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }',
              { input: { siteId, name: `Agent ${i}`, role: 'AGENT' } },
              admin,
            )
          ).createUser.user.id,
        );
      await ok(
        a!,
        'mutation($input: MoveUsersInput!) { moveUsers(input: $input) { applied } }',
        { input: { userIds: users, configurationGroupId: groupId } },
        admin,
      );

      // A subscriber on gateway B, connected for the whole test.
      let lastInUse: number | null = null;
      subscriber = createClient({
        url: `${b!.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${admin}` },
        retryAttempts: 0,
      });
      let subscriptionFailure: unknown = null;
      const subscriptionEnded = new Promise<void>((resolve) => {
        subscriber!.subscribe<{
          seatUsage: { pools: { product: { code: string }; inUse: number; emergencyInUse: number; overageInUse: number }[] };
        }>(
          {
            query:
              'subscription($id: ID!) { seatUsage(organizationId: $id) { pools { product { code } inUse emergencyInUse overageInUse } } }',
            variables: { id: organizationId },
          },
          {
            next: (result) => {
              const pool = result.data?.seatUsage.pools.find((p) => p.product.code === 'AGENT_SEAT');
              if (pool) lastInUse = pool.inUse + pool.emergencyInUse + pool.overageInUse;
              if (result.errors) subscriptionFailure = result.errors;
            },
            error: (error) => {
              subscriptionFailure = error;
              resolve();
            },
            complete: () => resolve(),
          },
        );
      });
      for (let i = 0; i < 100 && lastInUse === null; i++) await sleep(50);
      expect(lastInUse).toBe(0);

      // The load: each client starts a session for its agent, holds it a moment, ends it, again and again.
      const wrong: string[] = [];
      let succeeded = 0;
      let unavailable = 0;
      const call = async (base: string, query: string, variables: Record<string, unknown>): Promise<Outcome> => {
        let reply: Awaited<ReturnType<typeof gql>>;
        try {
          reply = await gql(base, query, variables, agentClient);
        } catch (error) {
          wrong.push(`no HTTP answer: ${String(error)}`);
          return { ok: false };
        }
        if (!reply.body.errors?.length && reply.body.data) {
          succeeded++;
          return { ok: true, data: reply.body.data };
        }
        const retryable =
          reply.status === 503 &&
          reply.retryAfter !== null &&
          Number(reply.retryAfter) > 0 &&
          reply.body.errors!.every((e) => e.extensions?.code === 'UNAVAILABLE');
        if (retryable) unavailable++;
        else wrong.push(`${reply.status} ${JSON.stringify(reply.body.errors)}`);
        return { ok: false };
      };
      let stopping = false;
      /** Sessions granted to a client that it has not tried to end. */
      const held = new Map<string, string>();
      /** Sessions a client ended (acknowledged). */
      const ended = new Set<string>();
      const client = async (i: number) => {
        const base = bases[i % 2]!;
        const userId = users[i]!;
        while (!stopping) {
          const started = await call(base, START, { input: { userId } });
          if (!started.ok) {
            await sleep(100);
            continue;
          }
          if (!started.data.startSession.granted) {
            await sleep(20);
            continue;
          }
          const sessionId = started.data.startSession.session.id as string;
          held.set(userId, sessionId);
          await sleep(Math.random() * 30);
          if (stopping) return;
          held.delete(userId);
          // From the first attempt to end it, its state is known only once an end is acknowledged.
          for (let attempt = 0; ; attempt++) {
            const done = await call(base, END, { input: { sessionId } });
            if (done.ok) break;
            if (stopping && attempt > 50) return void wrong.push(`session ${sessionId} could not be ended`);
            await sleep(100);
          }
          ended.add(sessionId);
        }
      };
      const load = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i)));
      const progress = async (more: number) => {
        const target = succeeded + more;
        for (let i = 0; i < 600 && succeeded < target && !exited(); i++) await sleep(50);
        return succeeded >= target;
      };
      const outage = async (fault: () => Promise<void>) => {
        expect(await progress(60)).toBe(true);
        const before = unavailable;
        await fault();
        expect(await allReady(bases, 503, exited)).toBe(true);
        for (let i = 0; i < 100 && unavailable < before + CLIENTS; i++) await sleep(50);
        expect(unavailable).toBeGreaterThanOrEqual(before + CLIENTS);
        await server.start();
        expect(await allReady(bases, 200, exited)).toBe(true);
        expect(await progress(60)).toBe(true);
      };

      try {
        // An administrator's fast shutdown (57P01 on every connection), then a start.
        await outage(() => server.stopFast());
        // A crash in the middle of the load (kill -9 of the postmaster), then crash recovery.
        await outage(() => server.crash());
      } finally {
        stopping = true;
        await load;
        expect(exits()).toEqual(gateways.map(() => ({ exitCode: null, signal: null, log: '' })));
      }

      expect(wrong).toEqual([]);
      expect(unavailable).toBeGreaterThan(0);

      const check = new pg.Client({ connectionString: url });
      await check.connect();
      try {
        const open = (
          await check.query<{ id: string; user_id: string }>(
            'select id, user_id from sessions where organization_id = $1 and ended_at is null',
            [organizationId],
          )
        ).rows;
        const inUse = (
          await check.query<{ in_use: number }>(
            "select in_use from seat_pools where organization_id = $1 and product_code = 'AGENT_SEAT'",
            [organizationId],
          )
        ).rows[0]!.in_use;
        expect(inUse).toBe(open.length);
        expect(new Set(open.map((s) => s.user_id)).size).toBe(open.length);
        const openIds = new Set(open.map((s) => s.id));
        for (const sessionId of held.values()) expect(openIds.has(sessionId), `granted session ${sessionId} is open`).toBe(true);
        const endedRows = (
          await check.query<{ id: string }>(
            'select id from sessions where organization_id = $1 and ended_at is not null and id = any($2::uuid[])',
            [organizationId, [...ended]],
          )
        ).rows;
        expect(endedRows.length).toBe(ended.size);

        // The subscriber connected all along sees the final count.
        for (let i = 0; i < 200 && lastInUse !== inUse; i++) await sleep(50);
        expect({ lastInUse, subscriptionFailure }).toEqual({ lastInUse: inUse, subscriptionFailure: null });
      } finally {
        await check.end();
      }
      void subscriptionEnded;
    });
  },
);

describe.skipIf(!DATABASES.includes('postgres'))('a PostgreSQL that cannot be reached', () => {
  it('[R-AVAIL-1][db-unavailable] operations answer HTTP 503 UNAVAILABLE with Retry-After (never "Unexpected error."), /readyz 503, a WebSocket whose token cannot be read is closed with 1013', async () => {
    const port = await freePort(); // nothing listens there
    const database = await openDatabase({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, dataDir: null, poolSize: 2 });
    const app = createApp({
      database,
      clock: new ManualClock(new Date('2026-11-22T10:00:00.000Z')),
      operatorToken: PROCESS_OPERATOR_TOKEN,
      sweepIntervalMs: 0,
    });
    const address = await listenOn({ app });
    const base = `http://127.0.0.1:${address.port}`;
    try {
      for (const accept of ['application/graphql-response+json', 'application/json']) {
        // The operator token needs no database; the organization does.
        const reply = await fetch(`${base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${PROCESS_OPERATOR_TOKEN}` },
          body: JSON.stringify({ query: 'query { organization(id: "01a202b2-c500-7053-89e8-c6e76c65cafb") { id } }' }),
        });
        expect(reply.status).toBe(503);
        expect(reply.headers.get('retry-after')).toBe('2');
        const body = (await reply.json()) as Reply;
        expect(body.errors).toEqual([
          expect.objectContaining({
            message: expect.stringMatching(/database is unavailable/),
            path: ['organization'],
            extensions: { code: 'UNAVAILABLE' },
          }),
        ]);
      }
      // An API token has to be read from the database: the same answer from the context factory.
      const tokenReply = await fetch(`${base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer lgw_not-cached-anywhere-0123456789' },
        body: JSON.stringify({ query: '{ catalogs { code } }' }),
      });
      expect(tokenReply.status).toBe(503);
      expect(((await tokenReply.json()) as Reply).errors?.[0]?.extensions?.code).toBe('UNAVAILABLE');
      expect((await fetch(`${base}/readyz`)).status).toBe(503);

      const socket = new WebSocket(`ws://127.0.0.1:${address.port}/graphql`, 'graphql-transport-ws');
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      socket.once('open', () =>
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer lgw_not-cached-anywhere-0123456789' } })),
      );
      expect(await closed).toBe(1013);
    } finally {
      await app.stop();
      await database.close();
    }
  });
});
