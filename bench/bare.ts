/*
 * The "bare yoga + pg" baseline server (a child process of the bench): one
 * GraphQL mutation running the pgbench seat transaction (take a seat of pool
 * `pool`, give it back, commit) on a pg pool, behind graphql-yoga with no
 * plugins, no auth and no application logic. It shows what HTTP + GraphQL +
 * one pooled transaction cost on this machine, next to the gateway. `touch`
 * writes the pool row in one autocommit statement instead: HTTP + GraphQL +
 * one round trip, the floor under a single checkout's latency.
 *
 * Also the fan-out baseline: graphql-ws on the same port with a `seatUsage`
 * subscription of the gateway's shape, published in-process by the `bump`
 * mutation at once (no database, no coalescing): what delivering one event
 * to N graphql-ws subscribers costs here.
 *
 * env: BARE_DATABASE_URL, PORT, POOL_SIZE. GET /readyz answers 200.
 */
import { setMaxListeners } from 'node:events';
import { createServer } from 'node:http';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';
import { WebSocketServer } from 'ws';

const pool = new pg.Pool({ connectionString: process.env.BARE_DATABASE_URL, max: Number(process.env.POOL_SIZE ?? 10) });
const orgOf = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const TAKE = `update seat_pools set in_use = in_use + 1, peak_today = case when peak_day = current_date then greatest(peak_today, in_use + 1) else in_use + 1 end, peak_day = current_date
  where organization_id = $1 and product_code = 'AGENT_SEAT' and (in_use < capacity + emergency_capacity or overage_allowed) returning in_use, capacity, emergency_capacity`;
const RELEASE = `update seat_pools set in_use = greatest(in_use - 1, 0), peak_today = case when peak_day = current_date then peak_today else greatest(in_use - 1, 0) end, peak_day = current_date
  where organization_id = $1 and product_code = 'AGENT_SEAT' returning in_use`;

/** The pool row written once, in one autocommit statement: one round trip, the least a seat start can cost. */
const TOUCH = `update seat_pools set in_use = in_use + 1 - 1, peak_today = case when peak_day = current_date then greatest(peak_today, in_use) else in_use end, peak_day = current_date
  where organization_id = $1 and product_code = 'AGENT_SEAT' returning in_use`;

// One listener per subscriber: a thousand is the point here, not a leak.
const eventTarget = new EventTarget();
setMaxListeners(0, eventTarget);
const pubsub = createPubSub<{ usage: [{ at: string; pools: unknown[] }] }>({ eventTarget: eventTarget as never });
let inUse = 0;
const snapshot = () => ({
  at: new Date().toISOString(),
  pools: [{ product: { code: 'AGENT_SEAT' }, inUse, emergencyInUse: 0, overageInUse: 0 }],
});

const yoga = createYoga({
  graphqlEndpoint: '/graphql',
  logging: false,
  schema: createSchema({
    typeDefs: `
      type Query { ok: Boolean! }
      type Mutation { checkout(pool: Int!): Int, touch(pool: Int!): Int, bump: Int! }
      type Product { code: String! }
      type Pool { product: Product!, inUse: Int!, emergencyInUse: Int!, overageInUse: Int! }
      type SeatUsage { at: String!, pools: [Pool!]! }
      type Subscription { seatUsage(organizationId: ID!): SeatUsage! }`,
    resolvers: {
      Query: { ok: () => true },
      Subscription: {
        seatUsage: {
          subscribe: async function* () {
            const events = pubsub.subscribe('usage');
            yield snapshot();
            for await (const value of events) yield value;
          },
          resolve: (value: unknown) => value,
        },
      },
      Mutation: {
        bump: () => {
          inUse += 1;
          pubsub.publish('usage', snapshot());
          return inUse;
        },
        touch: async (_: unknown, args: { pool: number }) => {
          const touched = await pool.query<{ in_use: number }>(TOUCH, [orgOf(args.pool)]);
          return touched.rows[0]?.in_use ?? null;
        },
        checkout: async (_: unknown, args: { pool: number }) => {
          const client = await pool.connect();
          try {
            await client.query('begin');
            const taken = await client.query<{ in_use: number }>(TAKE, [orgOf(args.pool)]);
            await client.query(RELEASE, [orgOf(args.pool)]);
            await client.query('commit');
            return taken.rows[0]?.in_use ?? null;
          } catch (error) {
            await client.query('rollback').catch(() => undefined);
            throw error;
          } finally {
            client.release();
          }
        },
      },
    },
  }),
});

const server = createServer((req, res) => {
  if (req.url === '/readyz') {
    res.writeHead(200).end('ok');
    return;
  }
  void yoga(req, res);
});
server.keepAliveTimeout = 60_000;
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer(
  {
    execute: (args) => {
      const { execute } = yoga.getEnveloped({});
      return execute(args);
    },
    subscribe: (args) => {
      const { subscribe } = yoga.getEnveloped({});
      return subscribe(args);
    },
    onSubscribe: async (_ctx, _id, params) => {
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({});
      const args = {
        schema,
        operationName: params.operationName,
        document: parse(params.query),
        variableValues: params.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe },
      };
      const errors = validate(args.schema, args.document);
      if (errors.length) return errors;
      return args;
    },
  },
  wss,
);
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const stop = () => server.close(() => void pool.end().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
