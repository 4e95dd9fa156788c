import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASES, POSTGRES_URL, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';
import { ensureStopped, listeningBase, PROCESS_OPERATOR_TOKEN, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/*
 * Webhooks across real gateway processes (`node --import tsx src/main.ts`):
 * a process killed with SIGKILL while its receiver holds the response loses
 * no event, and two processes on one PostgreSQL database make each attempt
 * of each message once. The receivers verify every signature with the
 * standardwebhooks package.
 */

/** Loopback allowed (the receiver is on 127.0.0.1), short timeout (so a 3 s lease), fast polls and retries. */
const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE: 'true',
  WEBHOOK_POLL_MS: '100',
  WEBHOOK_TIMEOUT_MS: '1000',
  WEBHOOK_BACKOFF_BASE_MS: '100',
  WEBHOOK_BACKOFF_MAX_MS: '400',
};

async function ok(base: string, query: string, variables: Record<string, unknown>): Promise<Record<string, any>> {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PROCESS_OPERATOR_TOKEN}` },
    body: JSON.stringify({ query, variables }),
  });
  const reply = (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
  if (reply.errors?.length || !reply.data) throw new Error(JSON.stringify(reply.errors));
  return reply.data;
}

const CREATE_ORG = 'mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }';
const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id } } }`;
const NEW_TOKEN = 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { apiToken { id } } }';
const DELIVERIES = `query($id: ID!) { organization(id: $id) { webhookEndpoints { id
  deliveries(first: 200) { edges { node { attempt httpStatus succeeded message { id status attempts } } } } } } }`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function gatewayDatabase(kind: 'pglite' | 'postgres'): Promise<Record<string, string>> {
  if (kind === 'postgres') {
    const postgres: TestDatabase = await freshDatabase('postgres', { poolSize: 2 });
    cleanups.push(() => postgres.dispose());
    return { DATABASE_URL: postgres.url! };
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-webhooks-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  return { DATA_DIR: dataDir };
}

function spawn(env: Record<string, string>, processes: GatewayProcess[], extra: Record<string, string> = {}): GatewayProcess {
  const gateway = spawnGateway({ ...env, ...WEBHOOK_ENV, ...extra });
  processes.push(gateway);
  return gateway;
}

for (const kind of DATABASES) {
  describe(`webhooks across processes on ${kind}`, () => {
    it('[webhooks] a gateway killed with SIGKILL mid-delivery loses no event: after the restart every message is delivered, in order', async () => {
      const env = await gatewayDatabase(kind);
      const processes: GatewayProcess[] = [];
      cleanups.push(async () => void (await Promise.all(processes.map(ensureStopped))));
      const receiver: Receiver = await startReceiver();
      cleanups.push(() => receiver.close());
      let release: (status: number) => void = () => undefined;
      const held = new Promise<number>((resolve) => (release = resolve));
      // The first request is held until the gateway that sent it is dead; every later one is answered 200.
      receiver.respond = (_r, index) => (index === 0 ? held : 200);
      cleanups.push(async () => release(200));

      // The killed gateway waits 5 s for its answer (lease 11 s): on a loaded machine a 1 s timeout could
      // fire before the kill, and the gateway would log a failed attempt and retry by itself (seen in CI).
      const first = spawn(env, processes, { WEBHOOK_TIMEOUT_MS: '5000' });
      let base = await listeningBase(first);
      const organizationId = (await ok(base, CREATE_ORG, { input: { name: 'Killed webhooks', catalog: 'connect-storm' } }))
        .createOrganization.organization.id as string;
      const endpoint = await ok(base, CREATE_ENDPOINT, {
        input: { organizationId, url: receiver.url, eventTypes: ['API_TOKEN_CREATED'] },
      });
      receiver.secret = endpoint.createWebhookEndpoint.secret;
      const tokens: string[] = [];
      for (let i = 0; i < 3; i++) {
        tokens.push(
          (await ok(base, NEW_TOKEN, { input: { organizationId, role: 'INTEGRATOR', label: `t${i}` } })).createApiToken.apiToken.id,
        );
      }
      await receiver.waitFor(1);
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      release(200);

      const second = spawn(env, processes);
      base = await listeningBase(second);
      await receiver.waitFor(4);
      type Delivery = { node: { attempt: number; succeeded: boolean; message: { id: string; status: string } } };
      let log: Delivery[] = [];
      await until(async () => {
        log = (await ok(base, DELIVERIES, { id: organizationId })).organization.webhookEndpoints[0].deliveries.edges;
        return new Set(log.map((e) => e.node.message.id)).size === 3 && log.every((e) => e.node.message.status === 'DELIVERED');
      }, 'three delivered messages');
      // The killed gateway logged nothing: the held attempt is not in the log, each message has one successful attempt.
      expect(log.map((e) => e.node.succeeded)).toEqual([true, true, true]);

      expect(receiver.received.every((r) => r.verifyError === null)).toBe(true);
      // The held message again (same webhook-id) once its lease ran out, then the two that waited behind it.
      const order = receiver.received.map((r) => tokens.findIndex((t) => String(r.verified?.data.detail).includes(t)));
      expect(order).toEqual([0, 0, 1, 2]);
      expect(receiver.received[1]!.id).toBe(receiver.received[0]!.id);
      expect(receiver.received.slice(1).map((r) => r.answered)).toEqual([200, 200, 200]);
      second.child.kill('SIGTERM');
      expect((await second.exited).code).toBe(0);
    });
  });
}

describe.runIf(DATABASES.includes('postgres') && POSTGRES_URL)('webhooks with two gateway processes on one PostgreSQL', () => {
  it('[webhooks] each attempt of each message is made once, by one instance; order holds per endpoint', async () => {
    const postgres = await freshDatabase('postgres', { poolSize: 2 });
    cleanups.push(() => postgres.dispose());
    const processes: GatewayProcess[] = [];
    cleanups.push(async () => void (await Promise.all(processes.map(ensureStopped))));
    const receiver = await startReceiver();
    cleanups.push(() => receiver.close());
    // Every message's first attempt fails, its second succeeds: two attempts each, to be made once each.
    const seen = new Set<string>();
    receiver.respond = (r) => {
      if (seen.has(r.id)) return 200;
      seen.add(r.id);
      return 500;
    };
    const env = { DATABASE_URL: postgres.url! };
    const a = spawn(env, processes);
    const b = spawn(env, processes);
    const [baseA] = await Promise.all([listeningBase(a), listeningBase(b)]);
    const organizationId = (await ok(baseA, CREATE_ORG, { input: { name: 'Two instances', catalog: 'connect-storm' } })).createOrganization
      .organization.id as string;
    const ENDPOINTS = 4;
    const EVENTS = 10;
    let secret = '';
    for (let e = 0; e < ENDPOINTS; e++) {
      const created = await ok(baseA, CREATE_ENDPOINT, {
        input: { organizationId, url: `${receiver.url}?endpoint=${e}`, eventTypes: ['API_TOKEN_CREATED'] },
      });
      secret = created.createWebhookEndpoint.secret;
    }
    // One receiver verifies with one secret: give every endpoint the last one's (same database, the test's own).
    await sql`update webhook_endpoints set secret = ${secret}`.execute(postgres.db);
    receiver.secret = secret;
    const tokens: string[] = [];
    for (let i = 0; i < EVENTS; i++) {
      tokens.push(
        (await ok(baseA, NEW_TOKEN, { input: { organizationId, role: 'INTEGRATOR', label: `t${i}` } })).createApiToken.apiToken.id,
      );
    }
    await receiver.waitFor(ENDPOINTS * EVENTS * 2);
    await until(async () => {
      const r = await sql<{ n: number }>`select count(*)::int as n from webhook_messages where status = 'DELIVERED'`.execute(postgres.db);
      return r.rows[0]!.n === ENDPOINTS * EVENTS;
    }, 'every message delivered');
    // Let any duplicate that would come, come.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    expect(receiver.received).toHaveLength(ENDPOINTS * EVENTS * 2);
    expect(receiver.received.every((r) => r.verifyError === null)).toBe(true);
    const byId = new Map<string, number[]>();
    for (const r of receiver.received) byId.set(r.id, [...(byId.get(r.id) ?? []), r.answered ?? -1]);
    expect(byId.size).toBe(ENDPOINTS * EVENTS);
    for (const [id, answers] of byId) expect(answers, id).toEqual([500, 200]);
    const attempts = await sql<{ message_id: string; attempts: number; logged: number; instances: number }>`
      select m.id as message_id, m.attempts, count(a.id)::int as logged, count(distinct a.instance)::int as instances
      from webhook_messages m join webhook_attempts a on a.message_id = m.id group by m.id, m.attempts`.execute(postgres.db);
    expect(attempts.rows).toHaveLength(ENDPOINTS * EVENTS);
    for (const row of attempts.rows) expect([row.attempts, row.logged], row.message_id).toEqual([2, 2]);
    // In order per endpoint: each endpoint's requests follow the event order (a retry right after its failure).
    for (let e = 0; e < ENDPOINTS; e++) {
      const order = receiver.received
        .filter((r) => r.path.endsWith(`endpoint=${e}`))
        .map((r) => tokens.findIndex((t) => String(r.verified?.data.detail).includes(t)));
      expect(order, `endpoint ${e}`).toEqual(tokens.flatMap((_t, i) => [i, i]));
    }
    const instances = await sql<{ n: number }>`select count(distinct instance)::int as n from webhook_attempts`.execute(postgres.db);
    console.info(`webhook attempts made by ${instances.rows[0]!.n} instance(s)`);
  });
});
