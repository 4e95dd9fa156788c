import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { ExecutionArgs } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { Viewer } from './auth/viewer.ts';
import { loadPresetCatalogs } from './catalogs/index.ts';
import type { Catalog } from './catalogs/types.ts';
import type { Clock } from './clock.ts';
import type { Context } from './context.ts';
import { ping, type DatabaseHandle } from './db/database.ts';
import { migrationsApplied } from './db/migrate.ts';
import type { TrustedKey } from './keys/codec.ts';
import { getSchema } from './schema/index.ts';
import { createLoaders } from './schema/loaders.ts';
import { resolveViewer } from './tokens/tokens.service.ts';
import { sweepLicenseStates } from './licenses/license.service.ts';

export interface AppDeps {
  database: DatabaseHandle;
  clock: Clock;
  operatorToken: string;
  trustedKeys?: readonly TrustedKey[];
  catalogs?: ReadonlyMap<string, Catalog>;
  /** How often background work runs (licence state changes); 0 disables it (tests drive it by hand). */
  sweepIntervalMs?: number;
}

/** What the HTTP layer or the WebSocket layer hands to the context factory. */
interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** Set for WebSocket operations: authenticated once in connection_init. */
  wsViewer?: Viewer;
}

export interface App {
  yoga: YogaServerInstance<ServerContext, Context>;
  server: Server;
  /** Listens (port 0 picks a free port) and resolves with the bound address. */
  start(port: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting, closes WebSockets with 1001 (going away) and the HTTP server. The database stays open (owned by the caller). */
  stop(): Promise<void>;
}

const GRAPHQL_PATH = '/graphql';

const EXAMPLE_QUERY = `# Send your token in the Headers tab: {"Authorization": "Bearer <token>"}
# (the operator token is printed at start when OPERATOR_TOKEN is unset).
query Catalogs {
  catalogs {
    code
    name
    maxUsers
    products { code kind allocation unit unitsPerLicense }
  }
}
`;

/**
 * Builds the gateway without listening: graphql-yoga for HTTP (GET/POST, SSE,
 * GraphiQL served from the package, no CDN) and graphql-ws on the same path,
 * sharing one envelop pipeline, plus /healthz and /readyz.
 */
export function createApp(deps: AppDeps): App {
  const catalogs = deps.catalogs ?? loadPresetCatalogs();
  const { db } = deps.database;

  const yoga = createYoga<ServerContext, Context>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    renderGraphiQL,
    graphiql: { title: 'Licensing gateway', defaultQuery: EXAMPLE_QUERY, subscriptionsProtocol: 'WS' },
    context: async (initial) => ({
      db,
      clock: deps.clock,
      catalogs,
      trustedKeys: deps.trustedKeys ?? [],
      viewer: initial.wsViewer ?? (await resolveViewer(db, deps.operatorToken, initial.request.headers.get('authorization'))),
      loaders: createLoaders(db, { clock: deps.clock, catalogs }),
    }),
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return void sendJson(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      void readiness().then((ready) => sendJson(res, ready.ready ? 200 : 503, ready));
      return;
    }
    void yoga.handle(req, res, { req, res });
  });

  async function readiness() {
    const database = await ping(db);
    const migrations = database && (await migrationsApplied(db));
    return { ready: database && migrations && !stopping, database, migrations, draining: stopping };
  }

  const wss = new WebSocketServer({ server, path: GRAPHQL_PATH });
  useServer<Record<string, unknown>, { viewer?: Viewer }>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      // R-SEC-1: the token comes once, in connection_init, as { authorization: "Bearer <token>" }.
      onConnect: async (ctx) => {
        const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
        try {
          ctx.extra.viewer = await resolveViewer(db, deps.operatorToken, typeof authorization === 'string' ? authorization : null);
          return true;
        } catch {
          return false; // closes with 4403 Forbidden
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          wsViewer: ctx.extra.viewer ?? { kind: 'anonymous' },
        });
        const document = parse(params.query);
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName ?? null,
          document,
          variableValues: params.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        return args;
      },
    },
    wss,
  );

  let stopping = false;
  let sweeper: NodeJS.Timeout | null = null;
  const sweepIntervalMs = deps.sweepIntervalMs ?? 15_000;
  const sweep = async () => {
    try {
      await sweepLicenseStates(db, deps.clock);
    } catch {
      // The next tick retries; a database outage shows in /readyz.
    }
  };
  return {
    yoga,
    server,
    start: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          if (sweepIntervalMs > 0) {
            sweeper = setInterval(() => void sweep(), sweepIntervalMs);
            sweeper.unref();
            void sweep();
          }
          resolve(server.address() as AddressInfo);
        });
      }),
    stop: async () => {
      stopping = true;
      if (sweeper) clearInterval(sweeper);
      for (const client of wss.clients) client.close(1001, 'server shutting down');
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
    },
  };
}

/** The envelop-wrapped execute/subscribe, passed to graphql-ws through rootValue as in Yoga's graphql-ws example. */
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
