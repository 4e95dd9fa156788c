import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookOptions } from '../../src/webhooks/options.ts';
import { WebhookWorker } from '../../src/webhooks/worker.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, type OrgFixture, startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, eventsOf, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { startGranted } from '../support/sessions.ts';
import { startReceiver, type Receiver } from '../support/webhook-receiver.ts';

/*
 * [admin-api] Query.node and Query.nodes find every object with an id:
 * besides organizations, sites, groups, teams, users and API tokens also
 * sessions, events, webhook endpoints, webhook messages and their deliveries.
 * Within the caller's organization only (another organization's object is
 * null like an unknown id, R-SEC-2), and only what the caller's role reads
 * (R-SEC-5): webhooks, like API tokens, only for ADMIN and the operator.
 */

const INNOACD = 'innoacd';

const NODE = `query($id: ID!) { node(id: $id) { __typename id
  ... on Session { seatKind user { id } }
  ... on LicenseEvent { type userId }
  ... on WebhookEndpoint { url }
  ... on WebhookMessage { eventType }
  ... on WebhookDelivery { attempt succeeded message { id } } } }`;
const NODES = `query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }`;
const CREATE_ENDPOINT = `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`;
const PING = 'mutation($id: ID!) { sendWebhookPing(endpointId: $id) { message { id } } }';
const DELIVERIES = `query($id: ID!) { organization(id: $id) { webhookEndpoints { deliveries(first: 10) { edges { node { id } } } } } }`;

const OPTIONS: Partial<WebhookOptions> = { pollMs: 0, allowPrivate: true, retryMs: 60_000, timeoutMs: 5000 };

interface Fixture {
  org: OrgFixture;
  user: string;
  session: string;
  event: string;
  endpoint: string;
  message: string;
  delivery: string;
}

for (const kind of DATABASES) {
  describe(`[admin-api] node and nodes over every object on ${kind}`, () => {
    let gw: TestGateway;
    let receiver: Receiver;
    let mine: Fixture;
    let theirs: Fixture;

    /** An organization with one object of each kind: a session, events, a webhook endpoint, a ping message and its delivery. */
    async function fixture(): Promise<Fixture> {
      const org = await licensedOrg(gw, INNOACD, [{ product: 'ACD_AGENT', quantity: 3 }]);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const [user] = await createUsers(gw, org, 1, { configurationGroupId: group });
      const session = (await startGranted(gw, org, user!)).id;
      const event = (await eventsOf(gw, org.organizationId)).find((e) => e.type === 'SESSION_STARTED')!.id;
      const endpoint = (
        await gw.ok(
          CREATE_ENDPOINT,
          { input: { organizationId: org.organizationId, url: receiver.url, eventTypes: ['USER_DELETED'] } },
          org.admin,
        )
      ).createWebhookEndpoint.endpoint.id as string;
      const message = (await gw.ok(PING, { id: endpoint }, org.admin)).sendWebhookPing.message.id as string;
      const worker = new WebhookWorker({ db: gw.database.db, clock: gw.clock, options: OPTIONS, instance: 'nodes-test' });
      expect(await worker.deliverDue()).toBeGreaterThan(0);
      const log = await gw.ok(DELIVERIES, { id: org.organizationId }, org.admin);
      const delivery = log.organization.webhookEndpoints[0].deliveries.edges[0].node.id as string;
      return { org, user: user!, session, event, endpoint, message, delivery };
    }

    beforeAll(async () => {
      gw = await startGateway(kind, { now: new Date(), trustedKeys: TRUSTED_KEYS });
      receiver = await startReceiver();
      mine = await fixture();
      theirs = await fixture();
    });
    afterAll(async () => {
      await receiver?.close();
      await gw?.close();
    });

    const idsOf = (f: Fixture) => [f.session, f.event, f.endpoint, f.message, f.delivery];
    const TYPES = ['Session', 'LicenseEvent', 'WebhookEndpoint', 'WebhookMessage', 'WebhookDelivery'];

    it('[admin-api][R-SEC-2] ADMIN finds its session, event, webhook endpoint, message and delivery by id; the same ids of another organization are null', async () => {
      const { org } = mine;
      const found = await gw.ok(NODES, { ids: [...idsOf(mine), ...idsOf(theirs)] }, org.admin);
      expect(found.nodes.map((n: { __typename: string } | null) => n?.__typename ?? null)).toEqual([
        ...TYPES,
        null,
        null,
        null,
        null,
        null,
      ]);
      expect(found.nodes.slice(0, 5).map((n: { id: string }) => n.id)).toEqual(idsOf(mine));

      expect((await gw.ok(NODE, { id: mine.session }, org.admin)).node).toEqual({
        __typename: 'Session',
        id: mine.session,
        seatKind: 'REGULAR',
        user: { id: mine.user },
      });
      expect((await gw.ok(NODE, { id: mine.event }, org.admin)).node).toEqual({
        __typename: 'LicenseEvent',
        id: mine.event,
        type: 'SESSION_STARTED',
        userId: mine.user,
      });
      expect((await gw.ok(NODE, { id: mine.endpoint }, org.admin)).node).toEqual({
        __typename: 'WebhookEndpoint',
        id: mine.endpoint,
        url: receiver.url,
      });
      expect((await gw.ok(NODE, { id: mine.message }, org.admin)).node).toEqual({
        __typename: 'WebhookMessage',
        id: mine.message,
        eventType: 'WEBHOOK_PING',
      });
      expect((await gw.ok(NODE, { id: mine.delivery }, org.admin)).node).toEqual({
        __typename: 'WebhookDelivery',
        id: mine.delivery,
        attempt: 1,
        succeeded: true,
        message: { id: mine.message },
      });
      // Another organization's object answers exactly like an unknown id.
      for (const id of idsOf(theirs)) expect(await gw.ok(NODE, { id }, org.admin), id).toEqual({ node: null });
    });

    it('[admin-api][R-SEC-5] SUPERVISOR and INTEGRATOR find sessions and events but no webhook object; AGENT_CLIENT is FORBIDDEN', async () => {
      const { org } = mine;
      for (const role of ['SUPERVISOR', 'INTEGRATOR'] as const) {
        const found = await gw.ok(NODES, { ids: idsOf(mine) }, org.tokens[role]);
        expect(
          found.nodes.map((n: { __typename: string } | null) => n?.__typename ?? null),
          role,
        ).toEqual(['Session', 'LicenseEvent', null, null, null]);
        expect((await gw.ok(NODE, { id: theirs.session }, org.tokens[role])).node, role).toBeNull();
        expect((await gw.ok(NODE, { id: theirs.event }, org.tokens[role])).node, role).toBeNull();
      }
      expect(codeOf(await gw.gql(NODE, { id: mine.session }, org.tokens.AGENT_CLIENT))).toBe('FORBIDDEN');
    });

    it("[admin-api] the operator finds every organization's sessions, events and webhook objects", async () => {
      const found = await gw.ok(NODES, { ids: [...idsOf(mine), ...idsOf(theirs)] });
      expect(found.nodes.map((n: { __typename: string } | null) => n?.__typename ?? null)).toEqual([...TYPES, ...TYPES]);
      expect(found.nodes.map((n: { id: string }) => n.id)).toEqual([...idsOf(mine), ...idsOf(theirs)]);
    });
  });
}
