import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { afterEach, describe, expect, it } from 'vitest';
import { useContextRelease } from '../../src/server/context-release.ts';
import { Slot } from '../../src/slot.ts';

// A real Yoga behind a real Node HTTP server. Its resolvers hand over the context objects they run
// with, so the test can look at them after the answer.
function serve() {
  const seen: Record<PropertyKey, unknown>[] = [];
  const pubsub = createPubSub<{ tick: [number] }>();
  let gate: (() => void) | null = null;
  const late: unknown[] = [];
  const yoga = createYoga({
    logging: false,
    batching: true,
    schema: createSchema({
      typeDefs: 'type Query { probe: String, slow: String } type Subscription { tick: Int }',
      resolvers: {
        Query: {
          probe: (_: unknown, __: unknown, context: Record<PropertyKey, unknown>) => {
            context.marker = 'kept until the answer';
            seen.push(context);
            return 'ok';
          },
          slow: async (_: unknown, __: unknown, context: Record<PropertyKey, unknown>) => {
            context.marker = 'still needed';
            seen.push(context);
            await new Promise<void>((resolve) => (gate = resolve));
            // The client has gone by now: the context must still be whole.
            late.push(context.marker, context.request !== undefined);
            return 'late';
          },
        },
        Subscription: {
          tick: {
            subscribe: (_: unknown, __: unknown, context: Record<PropertyKey, unknown>) => {
              seen.push(context);
              return pubsub.subscribe('tick');
            },
            resolve: (n: number) => n,
          },
        },
      },
    }),
    plugins: [useContextRelease()],
  });
  const server: Server = createServer(yoga);
  const ready = once(server.listen(0, '127.0.0.1'), 'listening');
  const url = async () => {
    await ready;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  };
  return { seen, late, pubsub, url, open: () => gate?.(), hasGate: () => gate !== null, server };
}

const post = async (url: string, body: unknown, signal?: AbortSignal) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), ...(signal && { signal }) });

/** Polls `check` (the server closes a response just after the client has read it). */
async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return true;
}

let servers: Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
  servers = [];
});
const started = () => {
  const s = serve();
  servers.push(s.server);
  return s;
};

describe('HTTP contexts are emptied once answered (server/context-release.ts)', () => {
  it('a JSON answer leaves its context, and the Node request and response in it, unreachable from it', async () => {
    const s = started();
    const res = await post(await s.url(), { query: '{ probe }' });
    expect(await res.json()).toEqual({ data: { probe: 'ok' } });
    const [context] = s.seen;
    expect(await eventually(() => Reflect.ownKeys(context!).length === 0)).toBe(true);
    expect(context!.req).toBeUndefined();
    expect(context!.request).toBeUndefined();
  });

  it('a batch empties every operation context and the server context they share', async () => {
    const s = started();
    const res = await post(await s.url(), [{ query: '{ probe }' }, { query: '{ probe }' }]);
    expect(await res.json()).toEqual([{ data: { probe: 'ok' } }, { data: { probe: 'ok' } }]);
    expect(s.seen).toHaveLength(2);
    const shared = Object.getPrototypeOf(s.seen[0]) as object;
    expect(await eventually(() => [...s.seen, shared].every((c) => Reflect.ownKeys(c).length === 0))).toBe(true);
  });

  it('an event stream keeps its context while it runs', async () => {
    const s = started();
    const url = await s.url();
    const stop = new AbortController();
    const res = await fetch(`${url}?query=${encodeURIComponent('subscription { tick }')}`, {
      headers: { accept: 'text/event-stream' },
      signal: stop.signal,
    });
    const reader = res.body!.getReader();
    expect(await eventually(() => s.seen.length === 1)).toBe(true);
    s.pubsub.publish('tick', 1);
    let text = '';
    while (!text.includes('"tick":1')) text += new TextDecoder().decode((await reader.read()).value);
    expect(s.seen[0]!.request).toBeDefined();
    expect(s.seen[0]!.req).toBeDefined();
    stop.abort();
  });

  it('an operation whose client left before the answer keeps its context to the end', async () => {
    const s = started();
    const url = await s.url();
    const leave = new AbortController();
    const answer = post(url, { query: '{ slow }' }, leave.signal).catch((error: Error) => error.name);
    expect(await eventually(() => s.hasGate())).toBe(true);
    leave.abort();
    expect(await answer).toBe('AbortError');
    // The server sees its response close before the resolver goes on.
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.open();
    expect(await eventually(() => s.late.length === 2)).toBe(true);
    expect(s.late).toEqual(['still needed', true]);
  });
});

describe('Slot (src/slot.ts)', () => {
  it('keeps a value on the object itself, out of sight of enumeration, copies and JSON', () => {
    const slot = new Slot<object, number>('test');
    const target = { a: 1 };
    expect(slot.get(target)).toBeUndefined();
    slot.set(target, 7);
    slot.set(target, 8);
    expect(slot.get(target)).toBe(8);
    expect(Object.keys(target)).toEqual(['a']);
    expect(JSON.stringify(target)).toBe('{"a":1}');
    expect(slot.get({ ...target })).toBeUndefined();
    expect(slot.get(Object.assign({}, target))).toBeUndefined();
  });

  it('keeps two slots apart, and values of objects that take no new property', () => {
    const one = new Slot<object, string>('one');
    const two = new Slot<object, string>('two');
    const frozen = Object.freeze({});
    const sealed = Object.seal({ b: 2 });
    one.set(frozen, 'frozen');
    one.set(sealed, 'sealed');
    two.set(sealed, 'other');
    expect(one.get(frozen)).toBe('frozen');
    expect(one.get(sealed)).toBe('sealed');
    expect(two.get(sealed)).toBe('other');
    expect(two.get(frozen)).toBeUndefined();
  });
});
