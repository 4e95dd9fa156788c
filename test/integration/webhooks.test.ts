import { sql } from 'kysely';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { withTransaction } from '../../src/db/transaction.ts';
import { appendEvents } from '../../src/events/events.repository.ts';
import { literalRefusal, refusal } from '../../src/webhooks/address-policy.ts';
import { retryDelayMs } from '../../src/webhooks/backoff.ts';
import type { WebhookOptions } from '../../src/webhooks/options.ts';
import { send } from '../../src/webhooks/sender.ts';
import { WebhookWorker } from '../../src/webhooks/worker.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createMembers, licensedOrg } from '../support/licensing.ts';
import { START_SESSION } from '../support/sessions.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

/*
 * Webhooks (issue "Integrators: signed webhooks from a transactional outbox"):
 * the outbox written by the trigger on `events`, delivered by the real worker
 * over real HTTP to a real receiver that verifies signatures with the
 * standardwebhooks package. The gateway's ManualClock drives retries and the
 * retry window; it starts at the real time so that receivers accept the
 * signature timestamps (5 minutes' tolerance).
 */

const CREATE = `mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { secret endpoint { id url eventTypes enabled } } }`;
const UPDATE = `mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { endpoint { id enabled disabledReason eventTypes url } } }`;
const ROTATE = 'mutation($id: ID!) { rotateWebhookSecret(input: { endpointId: $id }) { secret endpoint { id } } }';
const PING = 'mutation($id: ID!) { sendWebhookPing(endpointId: $id) { message { id eventType status } } }';
const REDELIVER = 'mutation($id: ID!) { redeliverWebhookMessage(id: $id) { message { id status attempts } } }';
const ENDPOINTS = `query($id: ID!) { organization(id: $id) { webhookEndpoints { id enabled disabledReason
  deliveries(first: 100) { edges { node { attempt httpStatus succeeded error durationMs message { id eventType eventId status attempts } } } } } } }`;
const NEW_TOKEN = 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }';

const OPTIONS: Partial<WebhookOptions> = {
  pollMs: 0,
  allowPrivate: true,
  retryMs: 60_000,
  backoffBaseMs: 1000,
  backoffMaxMs: 8000,
  timeoutMs: 5000,
};

interface DeliveryView {
  attempt: number;
  httpStatus: number | null;
  succeeded: boolean;
  error: string | null;
  durationMs: number;
  message: { id: string; eventType: string; eventId: string | null; status: string; attempts: number };
}

for (const kind of DATABASES) {
  describe(`webhooks on ${kind}`, () => {
    let gw: TestGateway;
    let receiver: Receiver;
    const cleanups: (() => Promise<void>)[] = [];

    beforeAll(async () => {
      gw = await startGateway(kind, { now: new Date(), trustedKeys: TRUSTED_KEYS });
    });
    afterAll(async () => {
      await gw?.close();
    });
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
      // Each test's endpoints go with it, so the next test's worker sees only its own messages.
      await sql`delete from webhook_endpoints`.execute(gw.database.db);
    });

    const worker = (options: Partial<WebhookOptions> = {}, instance = 'test-worker') =>
      new WebhookWorker({ db: gw.database.db, clock: gw.clock, options: { ...OPTIONS, ...options }, instance });

    /** Rounds until nothing is due; `stepMs` moves the clock past the backoff between rounds. */
    async function deliverAll(w: WebhookWorker, stepMs = 0, maxRounds = 40): Promise<void> {
      for (let i = 0; i < maxRounds; i++) {
        const n = await w.deliverDue();
        if (n === 0 && stepMs === 0) return;
        if (stepMs) gw.clock.advance(stepMs);
        if (n === 0 && (await pendingCount()) === 0) return;
      }
    }

    async function pendingCount(): Promise<number> {
      const r = await sql<{ n: number }>`select count(*)::int as n from webhook_messages m join webhook_endpoints w on w.id = m.endpoint_id
        where m.status = 'PENDING' and w.enabled`.execute(gw.database.db);
      return r.rows[0]!.n;
    }

    async function setup(
      eventTypes: string[] | null = ['API_TOKEN_CREATED'],
    ): Promise<{ org: OrgFixture; endpointId: string; secret: string }> {
      receiver = await startReceiver();
      cleanups.push(() => receiver.close());
      const org = await createOrg(gw, 'connect-storm');
      const created = await gw.ok(CREATE, { input: { organizationId: org.organizationId, url: receiver.url, eventTypes } }, org.admin);
      receiver.secret = created.createWebhookEndpoint.secret;
      return { org, endpointId: created.createWebhookEndpoint.endpoint.id, secret: created.createWebhookEndpoint.secret };
    }

    const newToken = async (org: OrgFixture, label: string) =>
      (await gw.ok(NEW_TOKEN, { input: { organizationId: org.organizationId, role: 'INTEGRATOR', label } }, org.admin)).createApiToken
        .apiToken.id as string;

    async function deliveries(org: OrgFixture): Promise<DeliveryView[]> {
      const data = await gw.ok(ENDPOINTS, { id: org.organizationId }, org.admin);
      return data.organization.webhookEndpoints[0].deliveries.edges.map((e: { node: DeliveryView }) => e.node);
    }

    it('[webhooks] the secret is whsec_ base64, shown once; no field reads it; only ADMIN and the operator manage endpoints', async () => {
      const { org, secret, endpointId } = await setup();
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
      const listed = await gw.gql(
        `query($id: ID!) { organization(id: $id) { webhookEndpoints { secret } } }`,
        { id: org.organizationId },
        org.admin,
      );
      expect(codeOf(listed)).toBe('GRAPHQL_VALIDATION_FAILED');
      for (const role of ['SUPERVISOR', 'INTEGRATOR'] as const) {
        const read = await gw.gql(ENDPOINTS, { id: org.organizationId }, org.tokens[role]);
        expect(codeOf(read), role).toBe('FORBIDDEN');
        const ping = await gw.gql(PING, { id: endpointId }, org.tokens[role]);
        expect(codeOf(ping), role).toBe('FORBIDDEN');
      }
      const other = await createOrg(gw, 'connect-storm', 'Other');
      expect(codeOf(await gw.gql(UPDATE, { input: { endpointId, enabled: false } }, other.admin))).toBe('NOT_FOUND');
      const rotated = await gw.ok(ROTATE, { id: endpointId }, org.admin);
      expect(rotated.rotateWebhookSecret.secret).toMatch(/^whsec_/);
      expect(rotated.rotateWebhookSecret.secret).not.toBe(secret);
      const bad = await gw.gql(CREATE, { input: { organizationId: org.organizationId, url: 'ftp://example.com/x' } }, org.admin);
      expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
      const badType = await gw.gql(
        CREATE,
        { input: { organizationId: org.organizationId, url: receiver.url, eventTypes: ['nope'] } },
        org.admin,
      );
      expect(badType.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.eventTypes[0]' });
    });

    it('[webhooks] signed per Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature verify; the body is the event', async () => {
      const { org, secret } = await setup();
      const tokenId = await newToken(org, 'signed');
      await deliverAll(worker());
      expect(receiver.received).toHaveLength(1);
      const got = receiver.received[0]!;
      expect(got.verifyError).toBeNull();
      expect(got.timestamp).toBe(String(Math.floor(gw.clock.now().getTime() / 1000)));
      expect(got.signature).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
      const event = (
        await sql<{
          id: string;
          type: string;
          detail: string;
        }>`select id, type, detail from events where organization_id = ${org.organizationId}
          and type = 'API_TOKEN_CREATED' order by id desc limit 1`.execute(gw.database.db)
      ).rows[0]!;
      expect(got.verified).toMatchObject({
        type: 'API_TOKEN_CREATED',
        data: { id: event.id, organizationId: org.organizationId, detail: event.detail },
      });
      expect(String(got.verified!.data.detail)).toContain(tokenId);
      // The check can fail: another secret, or one changed byte, is refused by the receiver's library.
      const other = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
      const headers = { 'webhook-id': got.id, 'webhook-timestamp': got.timestamp, 'webhook-signature': got.signature };
      expect(() => new Webhook(other).verify(got.body, headers)).toThrow();
      expect(() => new Webhook(secret).verify(got.body.replace('API_TOKEN_CREATED', 'API_TOKEN_CREATEX'), headers)).toThrow();
      const [logged] = await deliveries(org);
      expect(logged).toMatchObject({
        attempt: 1,
        httpStatus: 200,
        succeeded: true,
        message: { id: got.id, status: 'DELIVERED', eventId: event.id },
      });
    });

    it('[webhooks] outbox in the same transaction: a rolled-back change announces nothing, a committed one is queued', async () => {
      const { org, endpointId } = await setup(['USERS_MOVED']);
      const count = async () =>
        (
          await sql<{ n: number }>`select count(*)::int as n from webhook_messages where endpoint_id = ${endpointId}`.execute(
            gw.database.db,
          )
        ).rows[0]!.n;
      const probe = {
        organizationId: org.organizationId,
        type: 'USERS_MOVED' as const,
        at: gw.clock.now(),
        actor: 'system',
        apiTokenId: null,
      };
      await expect(
        withTransaction(gw.database.db, async (trx) => {
          await appendEvents(trx, [probe]);
          throw new Error('the change fails after its event');
        }),
      ).rejects.toThrow('the change fails');
      expect(await count()).toBe(0);
      await deliverAll(worker());
      expect(receiver.received).toHaveLength(0);
      await withTransaction(gw.database.db, (trx) => appendEvents(trx, [probe, { ...probe, type: 'USER_DELETED' as const }]));
      expect(await count()).toBe(1);
      await deliverAll(worker());
      expect(receiver.received.map((r) => r.verified?.type)).toEqual(['USERS_MOVED']);
    });

    it('[webhooks] the session start (its event inserted inside one CTE) reaches the outbox with no change to its write path', async () => {
      receiver = await startReceiver();
      cleanups.push(() => receiver.close());
      const org = await licensedOrg(gw, 'connect-storm', [
        { product: 'BASE', quantity: 5 },
        { product: 'AGENT_SEAT', quantity: 5 },
      ]);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      const [agent] = await createMembers(gw, org, 1, group, { prefix: 'Agent' });
      const created = await gw.ok(
        CREATE,
        { input: { organizationId: org.organizationId, url: receiver.url, eventTypes: ['SESSION_STARTED'] } },
        org.admin,
      );
      receiver.secret = created.createWebhookEndpoint.secret;
      const started = await gw.ok(START_SESSION, { input: { userId: agent } }, org.tokens.AGENT_CLIENT);
      expect(started.startSession.granted).toBe(true);
      await deliverAll(worker());
      expect(receiver.received).toHaveLength(1);
      expect(receiver.received[0]!.verified).toMatchObject({ type: 'SESSION_STARTED', data: { userId: agent } });
    });

    it('[webhooks] a receiver that fails 3 times then recovers gets every message once delivered, in order; every attempt is logged', async () => {
      const { org } = await setup();
      const tokens = [await newToken(org, 'one'), await newToken(org, 'two'), await newToken(org, 'three')];
      receiver.respond = (_r, index) => (index < 3 ? 500 : 200);
      await deliverAll(worker(), 10_000);
      const answered = receiver.received.map((r) => ({ id: r.id, status: r.answered, detail: String(r.verified?.data.detail) }));
      expect(answered).toHaveLength(6);
      expect(receiver.received.every((r) => r.verifyError === null)).toBe(true);
      // The first message four times (500, 500, 500, 200); the next ones only after it, in event order.
      expect(answered.slice(0, 4).map((a) => a.status)).toEqual([500, 500, 500, 200]);
      expect(new Set(answered.slice(0, 4).map((a) => a.id)).size).toBe(1);
      expect(answered.map((a) => tokens.findIndex((t) => a.detail.includes(t)))).toEqual([0, 0, 0, 0, 1, 2]);
      const log = (await deliveries(org)).reverse();
      expect(log.map((d) => [d.attempt, d.httpStatus, d.succeeded])).toEqual([
        [1, 500, false],
        [2, 500, false],
        [3, 500, false],
        [4, 200, true],
        [1, 200, true],
        [1, 200, true],
      ]);
      expect(log[0]!.error).toBe('HTTP 500');
      expect(log.every((d) => d.message.status === 'DELIVERED' && d.durationMs >= 0)).toBe(true);
    });

    it('[webhooks] after the retry window the message is given up, the endpoint disabled with an event; enabling it delivers what waited; redelivery', async () => {
      const { org, endpointId } = await setup(['API_TOKEN_CREATED', 'WEBHOOK_ENDPOINT_DISABLED']);
      // A second endpoint of the organization hears about the first one's disabling.
      const watcher = await startReceiver();
      cleanups.push(() => watcher.close());
      const second = await gw.ok(
        CREATE,
        { input: { organizationId: org.organizationId, url: watcher.url, eventTypes: ['WEBHOOK_ENDPOINT_DISABLED'] } },
        org.admin,
      );
      watcher.secret = second.createWebhookEndpoint.secret;
      await newToken(org, 'first');
      await newToken(org, 'second');
      receiver.respond = () => 503;
      const w = worker();
      for (
        let i = 0;
        i < 30 && (await gw.ok(ENDPOINTS, { id: org.organizationId }, org.admin)).organization.webhookEndpoints[0].enabled;
        i++
      ) {
        await w.deliverDue();
        gw.clock.advance(8000);
      }
      const endpoints = (await gw.ok(ENDPOINTS, { id: org.organizationId }, org.admin)).organization.webhookEndpoints;
      const first = endpoints.find((e: { id: string }) => e.id === endpointId);
      expect(first.enabled).toBe(false);
      expect(first.disabledReason).toContain('not delivered within 60 s');
      const statuses = first.deliveries.edges.map((e: { node: DeliveryView }) => e.node.message.status);
      expect(statuses[0]).toBe('FAILED');
      // Only the first message was attempted: the second waited behind it, and waits still.
      expect(new Set(receiver.received.map((r) => r.id)).size).toBe(1);
      const events = await sql<{ type: string; actor: string; detail: string }>`select type, actor, detail from events
        where organization_id = ${org.organizationId} and type = 'WEBHOOK_ENDPOINT_DISABLED'`.execute(gw.database.db);
      expect(events.rows).toHaveLength(1);
      expect(events.rows[0]).toMatchObject({ actor: 'system' });
      expect(events.rows[0]!.detail).toContain(endpointId);
      await deliverAll(w);
      expect(watcher.received.map((r) => [r.verified?.type, r.verifyError])).toEqual([['WEBHOOK_ENDPOINT_DISABLED', null]]);

      // Disabled: nothing is claimed for it, and pings and redeliveries are refused with the reason.
      const failedId = receiver.received[0]!.id;
      const refused = await gw.gql(REDELIVER, { id: failedId }, org.admin);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
      expect(refused.errors?.[0]?.message).toContain('disabled');
      const pingRefused = await gw.gql(PING, { id: endpointId }, org.admin);
      expect(pingRefused.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'endpointId' });

      // Enabled again: the waiting message goes out; then the given-up one is redelivered with its webhook-id.
      receiver.respond = () => 200;
      const before = receiver.received.length;
      await gw.ok(UPDATE, { input: { endpointId, enabled: true } }, org.admin);
      await deliverAll(w);
      expect(receiver.received.slice(before).map((r) => r.id)).toHaveLength(1);
      expect(receiver.received.at(-1)!.id).not.toBe(failedId);
      const again = await gw.ok(REDELIVER, { id: failedId }, org.admin);
      expect(again.redeliverWebhookMessage.message).toMatchObject({ id: failedId, status: 'PENDING' });
      await deliverAll(w);
      const last = receiver.received.at(-1)!;
      expect(last.id).toBe(failedId);
      expect(last.verifyError).toBeNull();
      expect(last.answered).toBe(200);
      const log = await deliveries(org);
      expect(log.find((d) => d.message.id === failedId)?.message.status).toBe('DELIVERED');
    });

    it('[webhooks] a ping is signed and logged; after a rotation messages carry both signatures for a day', async () => {
      const { org, endpointId, secret } = await setup();
      const ping = await gw.ok(PING, { id: endpointId }, org.admin);
      expect(ping.sendWebhookPing.message).toMatchObject({ eventType: 'WEBHOOK_PING', status: 'PENDING' });
      const notYet = await gw.gql(REDELIVER, { id: ping.sendWebhookPing.message.id }, org.admin);
      expect(notYet.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
      expect(notYet.errors?.[0]?.message).toContain('still waiting');
      await deliverAll(worker());
      expect(receiver.received.map((r) => [r.id, r.verified?.type])).toEqual([[ping.sendWebhookPing.message.id, 'WEBHOOK_PING']]);
      expect((await deliveries(org))[0]).toMatchObject({ succeeded: true, message: { eventType: 'WEBHOOK_PING', eventId: null } });

      const rotated = (await gw.ok(ROTATE, { id: endpointId }, org.admin)).rotateWebhookSecret.secret as string;
      receiver.secret = rotated;
      await gw.ok(PING, { id: endpointId }, org.admin);
      await deliverAll(worker());
      const signed = receiver.received.at(-1)!;
      expect(signed.verifyError).toBeNull();
      expect(signed.signature.split(' ')).toHaveLength(2);
      const headers = { 'webhook-id': signed.id, 'webhook-timestamp': signed.timestamp, 'webhook-signature': signed.signature };
      expect(() => new Webhook(secret).verify(signed.body, headers)).not.toThrow();
      gw.clock.advance(86_400_000 + 1000);
      await gw.ok(PING, { id: endpointId }, org.admin);
      await deliverAll(worker());
      // A day later the old secret signs no more (the receiver's clock tolerance is not in play: parse the header only).
      expect(receiver.received.at(-1)!.signature.split(' ')).toHaveLength(1);
      gw.clock.set(new Date());
    });

    it('[webhooks] SSRF: loopback (127.0.0.1, [::1], localhost) is refused without a connection unless allowed', async () => {
      const v4 = await startReceiver('127.0.0.1');
      const v6 = await startReceiver('::1');
      cleanups.push(
        () => v4.close(),
        () => v6.close(),
      );
      const port4 = new URL(v4.url).port;
      for (const url of [v4.url, v6.url, `http://localhost:${port4}/hooks`]) {
        const refused = await send(url, '{}', {}, { timeoutMs: 2000, allowPrivate: false });
        expect(refused.ok, url).toBe(false);
        expect(refused.status, url).toBeNull();
        expect(refused.error, url).toMatch(/refused to connect to .*loopback address .*WEBHOOK_ALLOW_PRIVATE/);
      }
      expect(v4.received).toHaveLength(0);
      expect(v6.received).toHaveLength(0);
      for (const url of [v4.url, v6.url, `http://localhost:${port4}/hooks`]) {
        expect((await send(url, '{}', {}, { timeoutMs: 2000, allowPrivate: true })).status, url).toBe(200);
      }
      expect(v4.received.length + v6.received.length).toBe(3);

      // Through the worker: the attempt is logged as refused and retried like any failure.
      const { org } = await setup();
      await newToken(org, 'refused');
      await worker({ allowPrivate: false }).deliverDue();
      expect(receiver.received).toHaveLength(0);
      const [logged] = await deliveries(org);
      expect(logged).toMatchObject({ succeeded: false, httpStatus: null, message: { status: 'PENDING' } });
      expect(logged!.error).toContain('loopback');
    });

    it('[webhooks] a receiver that does not answer within WEBHOOK_TIMEOUT_MS fails the attempt, which is retried', async () => {
      const { org } = await setup();
      receiver.respond = (_r, index) => (index === 0 ? new Promise((resolve) => setTimeout(() => resolve(200), 1500)) : 200);
      await newToken(org, 'slow');
      await deliverAll(worker({ timeoutMs: 300 }), 10_000);
      const log = (await deliveries(org)).reverse();
      expect(log.map((d) => [d.attempt, d.succeeded, d.httpStatus])).toEqual([
        [1, false, null],
        [2, true, 200],
      ]);
      expect(log[0]!.error).toBe('timed out after 300 ms');
    });

    it('[webhooks] no redirect is followed: a 3xx is a failed attempt', async () => {
      const target = await startReceiver();
      cleanups.push(() => target.close());
      const { org } = await setup();
      receiver.respond = () => 302;
      await newToken(org, 'redirected');
      await worker().deliverDue();
      expect(target.received).toHaveLength(0);
      expect((await deliveries(org))[0]).toMatchObject({ succeeded: false, httpStatus: 302, error: 'HTTP 302' });
    });
  });
}

describe('[webhooks] destination policy and backoff', () => {
  it('refuses private, link-local, unique-local, unspecified and other special addresses; lets public unicast through', () => {
    for (const address of [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '172.16.5.4',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '255.255.255.255',
      '224.0.0.1',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      '::ffff:127.0.0.1',
      '::ffff:10.1.2.3',
    ]) {
      expect(refusal(address, false), address).not.toBeNull();
      expect(refusal(address, true), address).toBeNull();
    }
    for (const address of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111']) expect(refusal(address, false), address).toBeNull();
    expect(literalRefusal(new URL('http://10.1.2.3/'), false)?.message).toContain('private address 10.1.2.3');
    expect(literalRefusal(new URL('http://169.254.169.254/latest/meta-data'), false)?.message).toContain('linkLocal');
    expect(literalRefusal(new URL('http://[::1]:8080/'), false)?.message).toContain('loopback');
    expect(literalRefusal(new URL('http://example.com/'), false)).toBeNull();
  });

  it('backs off exponentially with jitter, capped', () => {
    expect(retryDelayMs(1, 1000, 8000, () => 0)).toBe(500);
    expect(retryDelayMs(1, 1000, 8000, () => 1)).toBe(1000);
    expect(retryDelayMs(3, 1000, 8000, () => 1)).toBe(4000);
    expect(retryDelayMs(10, 1000, 8000, () => 1)).toBe(8000);
    expect(retryDelayMs(10, 1000, 8000, () => 0)).toBe(4000);
  });
});

describe('[webhooks] configuration', () => {
  it('reads WEBHOOK_* with defaults; a bad value names its variable', () => {
    expect(loadConfig({}).webhooks).toMatchObject({ allowPrivate: false, pollMs: 1000, timeoutMs: 10_000, retryMs: 259_200_000 });
    expect(
      loadConfig({
        WEBHOOK_ALLOW_PRIVATE: 'true',
        WEBHOOK_RETRY_SECONDS: '60',
        WEBHOOK_BACKOFF_BASE_MS: '100',
        WEBHOOK_BACKOFF_MAX_MS: '400',
      }).webhooks,
    ).toMatchObject({ allowPrivate: true, retryMs: 60_000, backoffBaseMs: 100, backoffMaxMs: 400 });
    for (const [variable, value] of [
      ['WEBHOOK_ALLOW_PRIVATE', 'maybe'],
      ['WEBHOOK_TIMEOUT_MS', '5'],
      ['WEBHOOK_POLL_MS', '-1'],
      ['WEBHOOK_BACKOFF_MAX_MS', '10'],
    ] as const) {
      const attempt = () => loadConfig({ [variable]: value });
      expect(attempt, variable).toThrow(ConfigError);
      expect(attempt, variable).toThrow(new RegExp(`^${variable}:`));
    }
  });
});
