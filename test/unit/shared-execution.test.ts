import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import { describe, expect, it } from 'vitest';
import { shareable, sharedPayloadJson, useSharedSubscriptionExecution } from '../../src/live/shared-execution.ts';

// A real Yoga with a two-field schema: how many times the payload's field resolver runs per event tells
// whether subscribers shared one execution (R-PERF-3), and whether two apps keep their results apart.
function gateway(counter: { runs: number }) {
  const pubsub = createPubSub<{ usage: [{ value: number }] }>();
  const yoga = createYoga({
    logging: false,
    schema: createSchema({
      typeDefs: 'type Query { ok: Boolean } type Usage { value: Int } type Subscription { seatUsage: Usage }',
      resolvers: {
        Usage: {
          value: (usage: { value: number }) => {
            counter.runs++;
            if (usage.value < 0) throw new Error('negative usage');
            return usage.value;
          },
        },
        Subscription: { seatUsage: { subscribe: () => pubsub.subscribe('usage'), resolve: (usage: unknown) => usage } },
      },
    }),
    plugins: [useSharedSubscriptionExecution(['seatUsage'])],
  });
  const subscriber = async () => {
    const { parse, subscribe, contextFactory, schema } = yoga.getEnveloped({});
    const stream = (await subscribe({
      schema,
      document: parse('subscription { seatUsage { value } }'),
      contextValue: await contextFactory(),
    })) as AsyncIterableIterator<{ data?: { seatUsage: { value: number } } }>;
    return stream;
  };
  return { pubsub, subscriber };
}

describe('[R-PERF-3] shared subscription execution', () => {
  it('[R-PERF-3] a shareable payload is executed once for every subscriber of the same operation; other payloads once per subscriber', async () => {
    const counter = { runs: 0 };
    const { pubsub, subscriber } = gateway(counter);
    const [a, b] = await Promise.all([subscriber(), subscriber()]);

    const nextA = a.next();
    const nextB = b.next();
    pubsub.publish('usage', shareable({ value: 1 }));
    expect((await nextA).value.data).toEqual({ seatUsage: { value: 1 } });
    expect((await nextB).value.data).toEqual({ seatUsage: { value: 1 } });
    expect(counter.runs).toBe(1);

    const againA = a.next();
    const againB = b.next();
    pubsub.publish('usage', { value: 2 });
    expect((await againA).value.data).toEqual({ seatUsage: { value: 2 } });
    expect((await againB).value.data).toEqual({ seatUsage: { value: 2 } });
    expect(counter.runs).toBe(3);
    await Promise.all([a.return?.(), b.return?.()]);
  });

  it('[R-PERF-3] two apps keep their shared results apart: one payload is executed once by each', async () => {
    const counter = { runs: 0 };
    const first = gateway(counter);
    const second = gateway(counter);
    const [a, b] = await Promise.all([first.subscriber(), second.subscriber()]);
    const payload = shareable({ value: 7 });
    const nextA = a.next();
    const nextB = b.next();
    first.pubsub.publish('usage', payload);
    second.pubsub.publish('usage', payload);
    expect((await nextA).value.data).toEqual({ seatUsage: { value: 7 } });
    expect((await nextB).value.data).toEqual({ seatUsage: { value: 7 } });
    expect(counter.runs).toBe(2);
    // The mark is invisible to resolvers and serialization.
    expect(Object.keys(payload)).toEqual(['value']);
    expect(JSON.stringify(payload)).toBe('{"value":7}');
    await Promise.all([a.return?.(), b.return?.()]);
  });

  it('[R-PERF-3] a shared result carries the JSON of its graphql-ws payload, serialized once; any other result none', async () => {
    const counter = { runs: 0 };
    const { pubsub, subscriber } = gateway(counter);
    const [a, b] = await Promise.all([subscriber(), subscriber()]);
    const next = () => Promise.all([a.next(), b.next()]).then(([x, y]) => [x.value, y.value] as const);

    let pending = next();
    pubsub.publish('usage', shareable({ value: 3 }));
    let [x, y] = await pending;
    expect(x).toBe(y);
    expect(sharedPayloadJson(x)).toBe(JSON.stringify({ data: { seatUsage: { value: 3 } } }));
    expect(sharedPayloadJson(y)).toBe(sharedPayloadJson(x));
    expect(JSON.stringify(x)).toBe('{"data":{"seatUsage":{"value":3}}}'); // the mark is not serialized

    // With an error, Yoga's error masking replaces the result on the way: that one is no shared result any more.
    pending = next();
    pubsub.publish('usage', shareable({ value: -1 }));
    [x, y] = await pending;
    expect((x as { errors?: unknown[] }).errors).toHaveLength(1);
    expect(sharedPayloadJson(x)).toBeNull();

    // Executed per subscriber: nothing shared, graphql-ws serializes it as before.
    pending = next();
    pubsub.publish('usage', { value: 4 });
    [x, y] = await pending;
    expect(x).not.toBe(y);
    expect(sharedPayloadJson(x)).toBeNull();
    expect(sharedPayloadJson({ data: { seatUsage: { value: 4 } } })).toBeNull();
    await Promise.all([a.return?.(), b.return?.()]);
  });
});
