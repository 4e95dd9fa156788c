/**
 * First contact: subscriptions from GraphiQL. GraphiQL (graphql-yoga's
 * render-graphiql) opens its WebSocket with `connection_init {}` and sends
 * the Headers tab's token in each subscribe message, as
 * `payload.extensions.headers.Authorization`. The client here is graphql-ws's
 * own createClient (the one GraphiQL bundles) configured as GraphiQL
 * configures it, so it sends exactly those frames.
 */
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DATABASES } from '../support/databases.ts';
import { createOrg, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';

const SEAT_USAGE = `subscription SeatUsage($organizationId: ID!) { seatUsage(organizationId: $organizationId) { pools { product { code } } } }`;
const CREATE_TOKEN = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`;
const REVOKE_TOKEN = `mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId } }`;

interface Frame {
  data?: unknown;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A client as GraphiQL builds it: lazy, `connection_init` with an empty payload, no retries. */
function graphiqlClient(url: string, closed: (code: number) => void = () => undefined): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    lazy: true,
    lazyCloseTimeout: 0,
    retryAttempts: 0,
    connectionParams: () => ({}),
    on: { closed: (event) => closed((event as { code: number }).code) },
  });
}

/** Subscribes with GraphiQL's payload (the Headers tab in extensions.headers); the first frame, or the error frame. */
function firstFrame(client: Client, organizationId: string, authorization: string | null): { first: Promise<Frame>; stop: () => void } {
  let stop: () => void = () => undefined;
  const first = new Promise<Frame>((resolve, reject) => {
    stop = client.subscribe(
      {
        query: SEAT_USAGE,
        operationName: 'SeatUsage',
        variables: { organizationId },
        extensions: { headers: authorization ? { Authorization: authorization } : {} },
      },
      {
        next: (value) => resolve(value as Frame),
        error: (error) => (Array.isArray(error) ? resolve({ errors: error as Frame['errors'] }) : reject(error)),
        complete: () => undefined,
      },
    );
  });
  return { first, stop: () => stop() };
}

for (const kind of DATABASES) {
  describe(`subscriptions the way GraphiQL sends them, on ${kind}`, () => {
    let gw: TestGateway;
    let url: string;
    let org: OrgFixture;
    let other: OrgFixture;

    beforeAll(async () => {
      gw = await startGateway(kind);
      const address = await gw.app.start(0, '127.0.0.1');
      url = `ws://127.0.0.1:${address.port}/graphql`;
      org = await createOrg(gw, 'innoacd', `GraphiQL ${kind}`);
      other = await createOrg(gw, 'innoacd', `GraphiQL other ${kind}`);
    });
    afterAll(() => gw.close());

    it('[R-SEC-1] takes the token from the subscribe message (extensions.headers.Authorization) after connection_init {}', async () => {
      const client = graphiqlClient(url);
      const { first, stop } = firstFrame(client, org.organizationId, `Bearer ${org.tokens.SUPERVISOR}`);
      const frame = await first;
      expect(frame.errors).toBeUndefined();
      expect(frame.data).toEqual({ seatUsage: { pools: expect.any(Array) } });
      stop();
      await client.dispose();
    });

    it('[R-SEC-1] without any token the subscription is UNAUTHENTICATED, as before', async () => {
      const client = graphiqlClient(url);
      const { first } = firstFrame(client, org.organizationId, null);
      expect((await first).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
      await client.dispose();
    });

    it('[R-SEC-1] a bad token in the subscribe message is refused for that operation; the socket stays usable', async () => {
      const codes: number[] = [];
      const client = graphiqlClient(url, (code) => codes.push(code));
      const bad = firstFrame(client, org.organizationId, 'Bearer not-a-real-token-at-all');
      const good = firstFrame(client, org.organizationId, `Bearer ${org.tokens.SUPERVISOR}`);
      expect((await bad.first).errors?.[0]?.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect((await good.first).errors).toBeUndefined();
      expect(codes).toEqual([]);
      good.stop();
      await client.dispose();
    });

    it('[R-SEC-1] a socket keeps its first token: a later subscribe with another organization’s token is FORBIDDEN', async () => {
      const client = graphiqlClient(url);
      const mine = firstFrame(client, org.organizationId, `Bearer ${org.tokens.SUPERVISOR}`);
      expect((await mine.first).errors).toBeUndefined();
      // Another organization's token on the same socket, for its own organization: refused, not switched.
      const theirs = firstFrame(client, other.organizationId, `Bearer ${other.tokens.SUPERVISOR}`);
      const refused = await theirs.first;
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', rule: 'R-SEC-1' });
      expect(refused.errors?.[0]?.message).toContain('a socket keeps its first token');
      // The socket's own token still serves it.
      const again = firstFrame(client, org.organizationId, `Bearer ${org.tokens.SUPERVISOR}`);
      expect((await again.first).errors).toBeUndefined();
      mine.stop();
      again.stop();
      await client.dispose();
    });

    it('[R-SEC-1] a connection_init token is kept: a subscribe with another token cannot replace it', async () => {
      const client = createClient({
        url,
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${org.tokens.SUPERVISOR}` },
      });
      const { first } = firstFrame(client, other.organizationId, `Bearer ${other.tokens.SUPERVISOR}`);
      expect((await first).errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', rule: 'R-SEC-1' });
      await client.dispose();
    });

    it('[R-SEC-1] revoking the token of the subscribe message closes the socket with 4403', async () => {
      const created = await gw.ok<{ createApiToken: { token: string; apiToken: { id: string } } }>(CREATE_TOKEN, {
        input: { organizationId: org.organizationId, role: 'SUPERVISOR', label: 'graphiql' },
      });
      let closedWith: (code: number) => void = () => undefined;
      const closed = new Promise<number>((resolve) => (closedWith = resolve));
      const client = graphiqlClient(url, (code) => closedWith(code));
      const { first } = firstFrame(client, org.organizationId, `Bearer ${created.createApiToken.token}`);
      expect((await first).errors).toBeUndefined();
      await gw.ok(REVOKE_TOKEN, { input: { apiTokenId: created.createApiToken.apiToken.id } });
      expect(await closed).toBe(4403);
      await client.dispose();
    });
  });
}
