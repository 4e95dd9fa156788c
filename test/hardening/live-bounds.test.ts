import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DATABASES } from '../support/databases.ts';
import { createOrg, OPERATOR_TOKEN, type OrgFixture } from '../support/gateway.ts';
import { listen, type ListeningApp } from '../support/listen.ts';

/*
 * Bounds on live connections (issue names: subscription-flood, live-bounds).
 * One socket sending 10,000 subscribe messages gets MAX_SUBSCRIPTIONS_PER_SOCKET
 * (100 by default) of them and a coded error for every other, while the
 * socket keeps serving its other operations and other tenants are served;
 * per-token and per-process bounds count WebSocket and SSE subscriptions
 * alike; connections beyond a bound are closed with 4429 (per token) or 1013
 * (per process).
 */

const SEAT_USAGE = 'subscription($id: ID!) { seatUsage(organizationId: $id) { organizationId pools { inUse } } }';

interface Message {
  type: string;
  id?: string;
  payload?: any;
}

/** A bare graphql-transport-ws socket: every message it got, and the close code once closed. */
interface RawSocket {
  messages: Message[];
  closed: Promise<{ code: number; reason: string }>;
  send(message: Message): void;
  /** Resolves once `count` messages match. */
  waitFor(match: (m: Message) => boolean, count?: number): Promise<Message[]>;
  close(): void;
}

async function rawSocket(base: string, token: string): Promise<RawSocket & { ack: boolean }> {
  const socket = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
  const messages: Message[] = [];
  const waiters: { match: (m: Message) => boolean; count: number; resolve: (ms: Message[]) => void }[] = [];
  const check = () => {
    for (const w of [...waiters]) {
      const found = messages.filter(w.match);
      if (found.length >= w.count) waiters.splice(waiters.indexOf(w), 1), w.resolve(found);
    }
  };
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  socket.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as Message);
    check();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
  const ack = await Promise.race([
    new Promise<boolean>((resolve) => waiters.push({ match: (m) => m.type === 'connection_ack', count: 1, resolve: () => resolve(true) })),
    closed.then(() => false),
  ]);
  return {
    ack,
    messages,
    closed,
    send: (message) => socket.send(JSON.stringify(message)),
    waitFor: (match, count = 1) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${count} messages; got ${messages.length}: ${JSON.stringify(messages.slice(-3))}`)),
          60_000,
        );
        waiters.push({ match, count, resolve: (ms) => (clearTimeout(timer), resolve(ms)) });
        check();
      }),
    close: () => socket.close(),
  };
}

const subscribe = (id: string, organizationId: string): Message => ({
  type: 'subscribe',
  id,
  payload: { query: SEAT_USAGE, variables: { id: organizationId } },
});
const isError = (id?: string) => (m: Message) => m.type === 'error' && (id === undefined || m.id === id);
const isNext = (id?: string) => (m: Message) => m.type === 'next' && (id === undefined || m.id === id);

/** An SSE subscription: its status and first event's data (the stream stays open until `abort`). */
async function sse(base: string, token: string, organizationId: string): Promise<{ status: number; first: any; abort(): void }> {
  const controller = new AbortController();
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEAT_USAGE, variables: { id: organizationId } }),
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  let text = '';
  while (!/data: .*\n/.test(text)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  const data = /data: (.*)\n/.exec(text)?.[1];
  return { status: response.status, first: data ? JSON.parse(data) : null, abort: () => controller.abort() };
}

for (const kind of DATABASES) {
  describe(`live bounds on ${kind}`, { timeout: 120_000 }, () => {
    let gw: ListeningApp;
    let a: OrgFixture;
    let b: OrgFixture;
    beforeAll(async () => {
      gw = await listen(kind);
      const fixture = {
        ok: async (query: string, variables?: Record<string, unknown>, token?: string | null) => {
          const result = await gw.gql(query, variables, token === undefined ? OPERATOR_TOKEN : token);
          if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
          return result.data as never;
        },
      };
      a = await createOrg(fixture as never, 'innoacd', 'Flooder');
      b = await createOrg(fixture as never, 'innoacd', 'Neighbour');
    });
    afterAll(() => gw?.close());

    it('[R-AVAIL-3][subscription-flood] 10,000 subscribe messages on one socket: 100 run, every other gets a RATE_LIMITED error naming MAX_SUBSCRIPTIONS_PER_SOCKET; the socket and other tenants are still served', async () => {
      const socket = await rawSocket(gw.base, a.tokens.SUPERVISOR);
      expect(socket.ack).toBe(true);
      for (let i = 1; i <= 10_000; i++) socket.send(subscribe(String(i), a.organizationId));
      const errors = await socket.waitFor(isError(), 9_900);
      const nexts = await socket.waitFor(isNext(), 100);
      expect(new Set(nexts.map((m) => m.id)).size).toBe(100);
      expect(errors).toHaveLength(9_900);
      expect(errors[0]!.payload).toEqual([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED', limit: 'MAX_SUBSCRIPTIONS_PER_SOCKET' }) }),
      ]);
      expect(errors[0]!.payload[0].message).toMatch(
        /too many subscriptions on this WebSocket \(at most 100, MAX_SUBSCRIPTIONS_PER_SOCKET\)/,
      );
      // The accepted ones are the first 100, and none of them got an error.
      expect(new Set(nexts.map((m) => m.id))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => String(i + 1))));

      // The same socket still answers a query …
      socket.send({
        type: 'subscribe',
        id: 'query',
        payload: { query: 'query($id: ID!) { organization(id: $id) { id } }', variables: { id: a.organizationId } },
      });
      const [answer] = await socket.waitFor(isNext('query'));
      expect(answer!.payload).toEqual({ data: { organization: { id: a.organizationId } } });
      // … and once a subscription ends, its slot is free again.
      socket.send({ type: 'complete', id: '1' });
      socket.send(subscribe('again', a.organizationId));
      const [again] = await socket.waitFor((m) => (m.type === 'next' || m.type === 'error') && m.id === 'again');
      expect(again!.type).toBe('next');

      // Another tenant: served over HTTP and over its own socket.
      const other = await gw.gql('query($id: ID!) { organization(id: $id) { id } }', { id: b.organizationId }, b.tokens.SUPERVISOR);
      expect(other.data).toEqual({ organization: { id: b.organizationId } });
      const neighbour = await rawSocket(gw.base, b.tokens.SUPERVISOR);
      neighbour.send(subscribe('n', b.organizationId));
      const [seen] = await neighbour.waitFor(isNext('n'));
      expect(seen!.payload.data.seatUsage.organizationId).toBe(b.organizationId);
      neighbour.close();
      socket.close();
      await Promise.all([socket.closed, neighbour.closed]);
    });

    it('[R-AVAIL-3][live-bounds] per-token and per-process bounds count WebSocket and SSE subscriptions alike; connections beyond their bound are closed with 4429 / 1013', async () => {
      const small = await listen(
        kind,
        {
          liveLimits: {
            maxSubscriptionsPerSocket: 3,
            maxSubscriptionsPerToken: 5,
            maxSubscriptions: 8,
            maxConnectionsPerToken: 3,
            maxConnections: 6,
          },
        },
        gw.database,
      );
      try {
        // Token A: 3 on its first socket (the fourth is refused per socket), 2 more on a second (then per token).
        const s1 = await rawSocket(small.base, a.tokens.SUPERVISOR);
        for (const id of ['1', '2', '3', '4']) s1.send(subscribe(id, a.organizationId));
        expect((await s1.waitFor(isError('4')))[0]!.payload[0].extensions.limit).toBe('MAX_SUBSCRIPTIONS_PER_SOCKET');
        await s1.waitFor(isNext(), 3);
        const s2 = await rawSocket(small.base, a.tokens.SUPERVISOR);
        for (const id of ['5', '6', '7']) s2.send(subscribe(id, a.organizationId));
        expect((await s2.waitFor(isError('7')))[0]!.payload[0].extensions.limit).toBe('MAX_SUBSCRIPTIONS_PER_TOKEN');
        await s2.waitFor(isNext(), 2);
        // SSE counts against the same token.
        const refused = await sse(small.base, a.tokens.SUPERVISOR, a.organizationId);
        expect(refused.first.errors[0].extensions).toMatchObject({ code: 'RATE_LIMITED', limit: 'MAX_SUBSCRIPTIONS_PER_TOKEN' });
        refused.abort();

        // Token B: one over SSE, two over WebSocket, then the process is full (8).
        const stream = await sse(small.base, b.tokens.SUPERVISOR, b.organizationId);
        expect(stream.first.data.seatUsage.organizationId).toBe(b.organizationId);
        const s3 = await rawSocket(small.base, b.tokens.SUPERVISOR);
        for (const id of ['8', '9', '10']) s3.send(subscribe(id, b.organizationId));
        expect((await s3.waitFor(isError('10')))[0]!.payload[0].extensions.limit).toBe('MAX_SUBSCRIPTIONS');
        await s3.waitFor(isNext(), 2);

        // Closing a socket gives its subscriptions back.
        s1.close();
        await s1.closed;
        for (let attempt = 0; ; attempt++) {
          const id = `retry-${attempt}`;
          s3.send(subscribe(id, b.organizationId));
          const [reply] = await s3.waitFor((m) => (m.type === 'next' || m.type === 'error') && m.id === id);
          if (reply!.type === 'next') break;
          expect(attempt).toBeLessThan(50);
          await new Promise((r) => setTimeout(r, 50));
        }
        // Ending an SSE stream gives its slot back too (B: 1 SSE + 3 WebSocket = 4 of 5; A: 2).
        stream.abort();

        // Connections: a token has 3 at most (A holds s2; two more, then 4429).
        const c1 = await rawSocket(small.base, a.tokens.SUPERVISOR);
        const c2 = await rawSocket(small.base, a.tokens.SUPERVISOR);
        expect([c1.ack, c2.ack]).toEqual([true, true]);
        const c3 = await rawSocket(small.base, a.tokens.SUPERVISOR);
        expect(c3.ack).toBe(false);
        expect(await c3.closed).toEqual({ code: 4429, reason: expect.stringContaining('MAX_WS_CONNECTIONS_PER_TOKEN') });
        // The process: 6 at most (s2, s3, c1, c2 open: two more, then 1013).
        const d1 = await rawSocket(small.base, b.tokens.ADMIN);
        const d2 = await rawSocket(small.base, b.tokens.INTEGRATOR);
        expect([d1.ack, d2.ack]).toEqual([true, true]);
        const d3 = await rawSocket(small.base, OPERATOR_TOKEN);
        expect(d3.ack).toBe(false);
        expect((await d3.closed).code).toBe(1013);
        for (const s of [s2, s3, c1, c2, d1, d2]) s.close();
      } finally {
        await small.app.stop();
      }
    });
  });
}
