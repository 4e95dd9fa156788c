import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_CHANNEL, type LiveNotice } from '../../src/db/announcer.ts';
import { TOKEN_CHANNEL } from '../../src/tokens/token-cache.ts';
import { WebhookWorker } from '../../src/webhooks/worker.ts';
import { DATABASES } from '../support/databases.ts';
import { createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { countingDatabase, createUsers, TRUSTED_KEYS } from '../support/licensing.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

/*
 * Live notices after the commit, for every write that records an event
 * (R-LIVE-1, db/announcer.ts): the webhook endpoint mutations, the webhook
 * worker's giving up, API tokens and security keys. None may NOTIFY the live
 * channel inside its transaction (PostgreSQL would serialize its commit with
 * every other notifying commit of the database); each event still reaches a
 * listener, in one notice, after the commit. The one NOTIFY a write keeps in
 * its transaction is a token revocation's (tokens/token-cache.ts): delivered
 * with the commit or not at all, so no instance keeps accepting a revoked token.
 */

const CREATE = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { secret endpoint { id } } }`;
const UPDATE = `mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { endpoint { id enabled } } }`;
const ROTATE = 'mutation($id: ID!) { rotateWebhookSecret(input: { endpointId: $id }) { secret endpoint { id } } }';
const PING = 'mutation($id: ID!) { sendWebhookPing(endpointId: $id) { message { id } } }';
const REDELIVER = 'mutation($id: ID!) { redeliverWebhookMessage(id: $id) { message { id status } } }';
const DELETE = 'mutation($id: ID!) { deleteWebhookEndpoint(input: { endpointId: $id }) { deletedEndpointId } }';
const NEW_TOKEN = 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { apiToken { id } } }';
const REVOKE = 'mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId } }';
const SECURITY_KEY = `mutation($input: SetUserSecurityKeyEnrolledInput!) {
  setUserSecurityKeyEnrolled(input: $input) { user { id securityKeyEnrolled } } }`;

for (const kind of DATABASES) {
  describe(`notices after the commit on ${kind}`, () => {
    let counted: Awaited<ReturnType<typeof countingDatabase>>;
    let gw: TestGateway;
    let org: OrgFixture;
    let receiver: Receiver;
    let unlisten: () => Promise<void>;
    const received: LiveNotice[] = [];

    beforeAll(async () => {
      counted = await countingDatabase(kind);
      gw = await startGateway(kind, { now: new Date(), database: counted.database, trustedKeys: TRUSTED_KEYS });
      unlisten = await counted.database.listen(LIVE_CHANNEL, (payload) => received.push(JSON.parse(payload) as LiveNotice));
      receiver = await startReceiver();
      org = await createOrg(gw, 'connect-storm');
    });
    afterAll(async () => {
      await unlisten?.();
      await receiver?.close();
      await gw?.close();
    });

    const eventIds = async (): Promise<Set<string>> =>
      new Set(
        (await gw.database.db.selectFrom('events').select('id').where('organization_id', '=', org.organizationId).execute()).map(
          (r) => r.id,
        ),
      );

    /** How many notices of the organization named `id` once every notice sent so far has arrived. */
    async function namings(id: string): Promise<number> {
      await counted.settle();
      const count = () => received.filter((n) => n.o === org.organizationId && n.ids?.includes(id)).length;
      // The announcer has sent it; the LISTEN connection delivers it a moment later.
      for (let i = 0; i < 200 && count() === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      return count();
    }

    /**
     * Runs one write with nothing else under way, and checks: the channels it
     * NOTIFYed inside a transaction, the events it recorded, and that each of
     * them was announced in exactly one notice after the commit.
     */
    async function write<T>(name: string, run: () => Promise<T>, expected: { events: number; insideTransaction?: unknown[] }): Promise<T> {
      await counted.settle();
      const before = await eventIds();
      counted.reset();
      const result = await run();
      const inside = counted.noticesInTransactions();
      const added = [...(await eventIds())].filter((id) => !before.has(id));
      expect(inside, `${name}: pg_notify inside its transaction`).toEqual(expected.insideTransaction ?? []);
      expect(added, `${name}: its events`).toHaveLength(expected.events);
      for (const id of added) expect(await namings(id), `${name}: notices naming event ${id}`).toBe(1);
      return result;
    }

    it('[R-LIVE-1] webhook endpoint writes and the worker giving up announce their events after the commit', async () => {
      let failing = false;
      receiver.respond = () => (failing ? 500 : 200);
      const created = await write(
        'createWebhookEndpoint',
        () => gw.ok(CREATE, { input: { organizationId: org.organizationId, url: receiver.url, eventTypes: ['WEBHOOK_PING'] } }, org.admin),
        { events: 1 },
      );
      const endpointId: string = created.createWebhookEndpoint.endpoint.id;
      receiver.secret = created.createWebhookEndpoint.secret;
      await write(
        'updateWebhookEndpoint',
        () => gw.ok(UPDATE, { input: { endpointId, eventTypes: ['WEBHOOK_PING', 'SESSION_STARTED'] } }, org.admin),
        {
          events: 1,
        },
      );
      const ping = await write('sendWebhookPing', () => gw.ok(PING, { id: endpointId }, org.admin), { events: 0 });
      const messageId: string = ping.sendWebhookPing.message.id;

      // The worker delivers the ping (its success records no event), then gives up on the next message at once.
      const worker = new WebhookWorker({
        db: gw.database.db,
        clock: gw.clock,
        options: { pollMs: 0, allowPrivate: true, retryMs: 0, backoffBaseMs: 1000, backoffMaxMs: 8000, timeoutMs: 5000 },
        instance: 'notices-worker',
      });
      expect(await write('worker: delivered', () => worker.deliverDue(), { events: 0 })).toBe(1);
      expect(receiver.received.map((r) => r.verified?.type)).toEqual(['WEBHOOK_PING']);
      const redelivered = await write('redeliverWebhookMessage', () => gw.ok(REDELIVER, { id: messageId }, org.admin), { events: 1 });
      expect(redelivered.redeliverWebhookMessage.message.status).toBe('PENDING');
      failing = true;
      expect(await write('worker: given up', () => worker.deliverDue(), { events: 1 })).toBe(1);
      const disabled = await sql<{ enabled: boolean }>`select enabled from webhook_endpoints where id = ${endpointId}`.execute(
        gw.database.db,
      );
      expect(disabled.rows[0]?.enabled).toBe(false);

      await write('updateWebhookEndpoint (enable)', () => gw.ok(UPDATE, { input: { endpointId, enabled: true } }, org.admin), {
        events: 1,
      });
      await write('rotateWebhookSecret', () => gw.ok(ROTATE, { id: endpointId }, org.admin), { events: 1 });
      await write('deleteWebhookEndpoint', () => gw.ok(DELETE, { id: endpointId }, org.admin), { events: 1 });
    });

    it('[R-LIVE-1] API token writes announce their events after the commit; a revocation NOTIFYs only its token channel inside', async () => {
      const created = await write(
        'createApiToken',
        () => gw.ok(NEW_TOKEN, { input: { organizationId: org.organizationId, role: 'INTEGRATOR', label: 'notices' } }, org.admin),
        { events: 1 },
      );
      await write('revokeApiToken', () => gw.ok(REVOKE, { input: { apiTokenId: created.createApiToken.apiToken.id } }, org.admin), {
        events: 1,
        insideTransaction: [TOKEN_CHANNEL],
      });
    });

    it('[R-LIVE-1] recording a security key announces its event after the commit', async () => {
      const [userId] = await createUsers(gw, org, 1, { prefix: 'Key holder' });
      for (const enrolled of [true, false]) {
        const set = await write(
          `setUserSecurityKeyEnrolled ${enrolled}`,
          () => gw.ok(SECURITY_KEY, { input: { userId, enrolled } }, org.admin),
          {
            events: 1,
          },
        );
        expect(set.setUserSecurityKeyEnrolled.user.securityKeyEnrolled).toBe(enrolled);
      }
    });
  });
}
