import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { openDatabase } from '../../src/db/database.ts';
import type { TokenCacheOptions } from '../../src/tokens/token-cache.ts';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { ensureStopped, startGatewayProcess, type GatewayProcess } from '../support/launch.ts';
import { licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * A revoked or expired token ends its live streams, on every instance
 * (issue-local names TOKEN-REVOKE-LIVE, TOKEN-EXPIRY-LIVE): HTTP refuses
 * such a token at once, so an open graphql-ws connection (authenticated once,
 * in connection_init) or SSE stream must not outlive it. Two gateway
 * instances share one database; the streams are open on B, the token is
 * revoked through A (the notice travels by NOTIFY, on PGlite within the
 * process).
 */

const SEAT_USAGE = `subscription($id: ID!) { seatUsage(organizationId: $id) { organizationId pools { product { code } inUse capacity } } }`;
const EVENTS = `subscription($id: ID!) { licenseEvents(organizationId: $id) { id type detail } }`;
const CREATE_TOKEN = `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token apiToken { id } } }`;
const REVOKE_TOKEN = `mutation($input: RevokeApiTokenInput!) { revokeApiToken(input: $input) { apiTokenId } }`;
const ORGANIZATION = `query($id: ID!) { organization(id: $id) { id } }`;

/** Generous: "it arrives", not how fast (latency belongs to the benchmarks). */
const ARRIVES_MS = 15_000;

interface Closed {
  code: number;
  reason: string;
}

/** A graphql-ws connection with one subscription; `closed` resolves with the socket's close event. */
function openWs(url: string, token: string, query: string, variables: Record<string, unknown>) {
  let resolveClosed!: (event: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (resolveClosed = resolve));
  const client: Client = createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: { authorization: `Bearer ${token}` },
    on: { closed: (event) => resolveClosed({ code: (event as Closed).code, reason: (event as Closed).reason }) },
  });
  const values: unknown[] = [];
  let resolveFirst!: () => void;
  const first = new Promise<void>((resolve) => (resolveFirst = resolve));
  client.subscribe(
    { query, variables },
    { next: (v) => (values.push(v), resolveFirst()), error: () => undefined, complete: () => undefined },
  );
  return { client, closed, first, values };
}

interface SseEvent {
  event: string;
  data: string;
}

/** An SSE subscription read with fetch streaming; `ended` resolves with every event once the server ends the stream. */
async function openSse(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const events: SseEvent[] = [];
  let resolveFirst!: () => void;
  const first = new Promise<void>((resolve) => (resolveFirst = resolve));
  const ended = (async () => {
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return events;
      buffer += decoder.decode(chunk.value, { stream: true });
      let frame: number;
      while ((frame = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, frame);
        buffer = buffer.slice(frame + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        if (!event) continue; // keep-alive comment
        events.push({ event, data: /^data: ?(.*)$/m.exec(block)?.[1] ?? '' });
        if (event === 'next') resolveFirst();
      }
    }
  })();
  // Awaited by the tests; a stream cut by the server's stop after a failed test is no second failure.
  ended.catch(() => undefined);
  return { events, first, ended, abort: () => controller.abort() };
}

function within<T>(promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not arrive within ${ARRIVES_MS} ms`)), ARRIVES_MS);
    promise.then(
      (value) => (clearTimeout(timer), resolve(value)),
      (error: unknown) => (clearTimeout(timer), reject(error instanceof Error ? error : new Error(String(error)))),
    );
  });
}

/** The final error event of a stream cut by its token: one `next` with an UNAUTHENTICATED error naming `why`, then `complete`. */
function expectCutStream(events: SseEvent[], why: RegExp): void {
  const last = events.filter((e) => e.event === 'next').at(-1);
  expect(last, JSON.stringify(events)).toBeDefined();
  const body = JSON.parse(last!.data) as { errors?: { message: string; extensions?: { code?: string } }[] };
  expect(body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  expect(body.errors?.[0]?.message).toMatch(why);
  expect(events.at(-1)?.event).toBe('complete');
}

for (const kind of DATABASES) {
  describe(`live streams of revoked and expired tokens on ${kind}`, () => {
    let a: TestGateway;
    let b: TestGateway;
    let bHttp: string;
    let bWs: string;
    let org: OrgFixture;

    /** Another instance on the same database: its own token cache, registry and clock. */
    async function instance(tokenCache: TokenCacheOptions): Promise<TestGateway> {
      if (kind === 'pglite') return startGateway(kind, { database: { ...a.database, dispose: async () => undefined }, tokenCache });
      const handle = await openDatabase({ databaseUrl: a.database.url, dataDir: null, poolSize: 4 });
      return startGateway(kind, { database: { ...handle, url: a.database.url, dispose: () => handle.close() }, tokenCache });
    }

    async function listen(gw: TestGateway): Promise<{ http: string; ws: string }> {
      const { port } = await listenOn(gw);
      return { http: `http://127.0.0.1:${port}/graphql`, ws: `ws://127.0.0.1:${port}/graphql` };
    }

    async function newToken(role: string, extra: Record<string, unknown> = {}): Promise<{ token: string; id: string }> {
      const data = await a.ok(CREATE_TOKEN, { input: { organizationId: org.organizationId, role, label: `live ${role}`, ...extra } });
      return { token: data.createApiToken.token, id: data.createApiToken.apiToken.id };
    }

    beforeAll(async () => {
      // An hour's TTL on both: within the test only the revocation notice (or the expiry) can end a stream.
      a = await startGateway(kind, { trustedKeys: TRUSTED_KEYS, tokenCache: { ttlMs: 3_600_000 } });
      b = await instance({ ttlMs: 3_600_000 });
      ({ http: bHttp, ws: bWs } = await listen(b));
      org = await licensedOrg(a, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
    });

    afterAll(async () => {
      await b?.close();
      await a?.close();
    });

    it('[R-SEC-8][TOKEN-REVOKE-LIVE] revoking a token through instance A closes its graphql-ws connection on instance B with 4403 naming the revocation', async () => {
      const { token, id } = await newToken('SUPERVISOR');
      const seats = openWs(bWs, token, SEAT_USAGE, { id: org.organizationId });
      await within(seats.first, 'the first seat usage');
      // A second subscription on the same connection: it ends with the socket.
      const events = seats.client.subscribe(
        { query: EVENTS, variables: { id: org.organizationId } },
        { next: () => undefined, error: () => undefined, complete: () => undefined },
      );

      expect((await a.gql(REVOKE_TOKEN, { input: { apiTokenId: id } })).errors).toBeUndefined();
      const closed = await within(seats.closed, "the close of the revoked token's socket");
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(/revoked/);
      events();
      await seats.client.dispose();
    });

    it('[R-SEC-8][TOKEN-REVOKE-LIVE] revoking a token through instance A ends its SSE streams on instance B with a final UNAUTHENTICATED error event', async () => {
      const { token, id } = await newToken('INTEGRATOR');
      const seats = await openSse(bHttp, token, SEAT_USAGE, { id: org.organizationId });
      const events = await openSse(bHttp, token, EVENTS, { id: org.organizationId });
      await within(seats.first, 'the first seat usage');
      // A licence event reaches the events stream: it is live before the revocation.
      const other = await newToken('SUPERVISOR');
      await within(
        (async () => {
          while (!events.events.some((e) => e.event === 'next' && e.data.includes('API_TOKEN_CREATED') && e.data.includes(other.id)))
            await new Promise((r) => setTimeout(r, 20));
        })(),
        'the API_TOKEN_CREATED event',
      );

      expect((await a.gql(REVOKE_TOKEN, { input: { apiTokenId: id } })).errors).toBeUndefined();
      expectCutStream(await within(seats.ended, 'the end of the seat usage stream'), /revoked/);
      expectCutStream(await within(events.ended, 'the end of the licence events stream'), /revoked/);
      // And the token is refused over HTTP on both instances.
      expect((await b.gql(ORGANIZATION, { id: org.organizationId }, token)).status).toBe(401);
      expect((await a.gql(ORGANIZATION, { id: org.organizationId }, token)).status).toBe(401);
    });

    it("[R-SEC-8][TOKEN-REVOKE-LIVE] the operator's and other tokens' streams stay open when one token is revoked", async () => {
      const victim = await newToken('SUPERVISOR');
      const keeper = await newToken('SUPERVISOR');
      const cut = openWs(bWs, victim.token, SEAT_USAGE, { id: org.organizationId });
      const kept = openWs(bWs, keeper.token, SEAT_USAGE, { id: org.organizationId });
      const operator = openWs(bWs, OPERATOR_TOKEN, SEAT_USAGE, { id: org.organizationId });
      await within(Promise.all([cut.first, kept.first, operator.first]), 'the first seat usages');
      await a.ok(REVOKE_TOKEN, { input: { apiTokenId: victim.id } });
      expect((await within(cut.closed, "the close of the revoked token's socket")).code).toBe(4403);
      // The others still receive: a new subscription on their connections answers.
      for (const live of [kept, operator]) {
        let got!: () => void;
        const again = new Promise<void>((resolve) => (got = resolve));
        const stop = live.client.subscribe(
          { query: SEAT_USAGE, variables: { id: org.organizationId } },
          { next: () => got(), error: () => undefined, complete: () => undefined },
        );
        await within(again, 'a seat usage on a connection that stays open');
        stop();
      }
      await Promise.all([kept.client.dispose(), operator.client.dispose(), cut.client.dispose()]);
    });

    it("[R-SEC-8][TOKEN-EXPIRY-LIVE] an expired token's open graphql-ws connection and SSE stream are cut when its expiry passes (test clock)", async () => {
      const expiresAt = new Date(b.clock.now().getTime() + 3_600_000);
      const { token } = await newToken('SUPERVISOR', { expiresAt: expiresAt.toISOString() });
      const ws = openWs(bWs, token, SEAT_USAGE, { id: org.organizationId });
      const sse = await openSse(bHttp, token, SEAT_USAGE, { id: org.organizationId });
      await within(Promise.all([ws.first, sse.first]), 'the first seat usages');

      b.clock.set(expiresAt);
      const closed = await within(ws.closed, "the close of the expired token's socket");
      expect(closed.code).toBe(4403);
      expect(closed.reason).toMatch(/expired/);
      expectCutStream(await within(sse.ended, "the end of the expired token's SSE stream"), /expired/);
      expect((await b.gql(ORGANIZATION, { id: org.organizationId }, token)).status).toBe(401);
      await ws.client.dispose();
    });

    it('[R-SEC-8][TOKEN-REVOKE-LIVE] a revocation written past the gateway (SQL, no notice) ends the streams at the periodic recheck, bounded by the token cache TTL', async () => {
      // A third instance whose cache TTL (and so its recheck period) is short.
      const c = await instance({ ttlMs: 500 });
      try {
        const { http, ws: wsUrl } = await listen(c);
        const { token, id } = await newToken('SUPERVISOR');
        const ws = openWs(wsUrl, token, SEAT_USAGE, { id: org.organizationId });
        const sse = await openSse(http, token, SEAT_USAGE, { id: org.organizationId });
        await within(Promise.all([ws.first, sse.first]), 'the first seat usages');
        await a.database.db.updateTable('api_tokens').set({ revoked_at: a.clock.now() }).where('id', '=', id).execute();
        expect((await within(ws.closed, 'the close of the socket')).code).toBe(4403);
        expectCutStream(await within(sse.ended, 'the end of the SSE stream'), /revoked/);
        await ws.client.dispose();
      } finally {
        await c.close();
      }
    });

    it.skipIf(kind !== 'postgres')(
      '[R-SEC-8][TOKEN-REVOKE-LIVE] after a lost LISTEN connection comes back, the tokens of open streams are read again (a revocation whose notice was missed ends them)',
      async () => {
        const { token, id } = await newToken('SUPERVISOR');
        const ws = openWs(bWs, token, SEAT_USAGE, { id: org.organizationId });
        await within(ws.first, 'the first seat usage');
        // Revoked with no notice (as if it had been sent while the connection was down); B's TTL is an hour.
        await a.database.db.updateTable('api_tokens').set({ revoked_at: a.clock.now() }).where('id', '=', id).execute();
        const { sql } = await import('kysely');
        const killed = await sql<{
          n: number;
        }>`select count(pg_terminate_backend(pid))::int as n from pg_stat_activity where query ilike 'LISTEN%' and datname = current_database()`.execute(
          a.database.db,
        );
        expect(killed.rows[0]?.n).toBeGreaterThan(0);
        expect((await within(ws.closed, 'the close after the LISTEN connection came back')).code).toBe(4403);
        await ws.client.dispose();
      },
    );

    it('[R-SEC-8][TOKEN-EXPIRY-LIVE] an expired token cannot open a graphql-ws connection (4403) or an SSE stream (UNAUTHENTICATED)', async () => {
      const expiresAt = new Date(b.clock.now().getTime() + 60_000);
      const { token } = await newToken('SUPERVISOR', { expiresAt: expiresAt.toISOString() });
      b.clock.set(new Date(expiresAt.getTime() + 1));
      const ws = openWs(bWs, token, SEAT_USAGE, { id: org.organizationId });
      expect((await within(ws.closed, 'the refusal')).code).toBe(4403);
      const sse = await fetch(bHttp, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: SEAT_USAGE, variables: { id: org.organizationId } }),
      });
      const text = await sse.text();
      expect(text).toContain('UNAUTHENTICATED');
      expect(text).toMatch(/expired/);
      await ws.client.dispose();
    });
  });
}

/** A gateway process of its own, with the tests' operator token. */
const startProcess = (env: Record<string, string>) => startGatewayProcess({ OPERATOR_TOKEN, ...env });

describe.skipIf(!DATABASES.includes('postgres'))('live streams of a revoked token across gateway processes on one PostgreSQL', () => {
  let database: TestDatabase;
  const children: GatewayProcess[] = [];

  beforeAll(async () => {
    database = await freshDatabase('postgres');
  });
  afterAll(async () => {
    await Promise.all(children.map((gateway) => ensureStopped(gateway)));
    await database.dispose();
  });

  it('[R-SEC-8][TOKEN-REVOKE-LIVE] a token revoked through process A: its graphql-ws connection on process B closes with 4403 and its SSE stream there ends', async () => {
    const [a, b] = await Promise.all([startProcess({ DATABASE_URL: database.url! }), startProcess({ DATABASE_URL: database.url! })]);
    children.push(a.gateway, b.gateway);
    const call = async (url: string, query: string, variables: Record<string, unknown>, token = OPERATOR_TOKEN) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: Record<string, any>; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data!;
    };
    const orgId = (
      await call(
        a.url,
        'mutation { createOrganization(input: {name: "Revocation", catalog: "innoacd", customerRef: "CUST-1"}) { organization { id } } }',
        {},
      )
    ).createOrganization.organization.id as string;
    const created = (await call(a.url, CREATE_TOKEN, { input: { organizationId: orgId, role: 'SUPERVISOR', label: 'dashboard' } }))
      .createApiToken as { token: string; apiToken: { id: string } };

    const ws = openWs(b.url.replace('http', 'ws'), created.token, SEAT_USAGE, { id: orgId });
    const sse = await openSse(b.url, created.token, SEAT_USAGE, { id: orgId });
    await within(Promise.all([ws.first, sse.first]), 'the first seat usages');

    await call(a.url, REVOKE_TOKEN, { input: { apiTokenId: created.apiToken.id } });
    const closed = await within(ws.closed, "the close of the revoked token's socket");
    expect(closed).toEqual({ code: 4403, reason: 'API token revoked' });
    expectCutStream(await within(sse.ended, 'the end of the SSE stream'), /revoked/);
    await ws.client.dispose();
  }, 120_000);
});
