import type { ExecutionResult } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp, type App, type AppDeps } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import type { DatabaseKind } from '../../src/db/database.ts';
import { freshDatabase, type TestDatabase } from './databases.ts';
import { OPERATOR_TOKEN } from './gateway.ts';

/*
 * The one way tests run an in-process gateway on a real socket (127.0.0.1, a
 * free port): `listen` builds one with any AppDeps, `listenOn` makes a
 * gateway of test/support/gateway.ts listen. Gateways as processes of their
 * own: test/support/launch.ts.
 */

/** Starts `app` on 127.0.0.1 and a free port; resolves with its base URL (http://127.0.0.1:<port>) and port. */
export async function listenOn(gateway: { app: App }): Promise<{ base: string; port: number }> {
  const address = await gateway.app.start(0, '127.0.0.1');
  return { base: `http://127.0.0.1:${address.port}`, port: address.port };
}

export type Body = ExecutionResult<Record<string, any>> & Record<string, unknown>;

export interface ListeningApp {
  app: App;
  database: TestDatabase;
  clock: ManualClock;
  base: string;
  port: number;
  /** POSTs JSON to /graphql over the socket; `token: null` sends no Authorization header. */
  post(
    body: unknown,
    options?: { token?: string | null; headers?: Record<string, string> },
  ): Promise<{ status: number; headers: Headers; text: string; json: Body | null }>;
  /** One operation; GraphQL errors are returned, not thrown. */
  gql(query: string, variables?: Record<string, unknown>, token?: string | null): Promise<Body & { status: number }>;
  ws(authorization?: string | null): Client;
  close(): Promise<void>;
}

/** A gateway listening on 127.0.0.1:0 with the given dependencies (limits, rate limits, logger…). */
export async function listen(kind: DatabaseKind, deps: Partial<AppDeps> = {}, database?: TestDatabase): Promise<ListeningApp> {
  const db = database ?? (await freshDatabase(kind));
  const clock = new ManualClock(new Date('2026-11-22T10:00:00.000Z'));
  const app = createApp({ database: db, clock, operatorToken: OPERATOR_TOKEN, sweepIntervalMs: 0, ...deps });
  const { base, port } = await listenOn({ app });
  const clients: Client[] = [];
  const post: ListeningApp['post'] = async (body, options = {}) => {
    const token = options.token === undefined ? OPERATOR_TOKEN : options.token;
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...options.headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: Body | null = null;
    try {
      json = JSON.parse(text) as Body;
    } catch {
      json = null;
    }
    return { status: response.status, headers: response.headers, text, json };
  };
  return {
    app,
    database: db,
    clock,
    base,
    port,
    post,
    gql: async (query, variables, token) => {
      const result = await post({ query, variables }, { token });
      return { ...(result.json ?? {}), status: result.status };
    },
    ws: (authorization = `Bearer ${OPERATOR_TOKEN}`) => {
      const client = createClient({
        url: `${base.replace('http', 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams: authorization ? { authorization } : {},
      });
      clients.push(client);
      return client;
    },
    close: async () => {
      await Promise.all(clients.map((c) => c.dispose()));
      await app.stop();
      if (!database) await db.dispose();
    },
  };
}

/** Runs one operation over graphql-ws and resolves with its result, or rejects with the close event or error. */
export function wsRun(client: Client, query: string, variables: Record<string, unknown> = {}): Promise<Body> {
  return new Promise((resolve, reject) => {
    let result: Body | undefined;
    client.subscribe(
      { query, variables },
      {
        next: (value) => (result = value as Body),
        error: (error) => (Array.isArray(error) ? resolve({ errors: error } as Body) : reject(error)),
        complete: () => (result ? resolve(result) : reject(new Error('no result'))),
      },
    );
  });
}

/** The first error's extensions.code. */
export function codeOf(body: { errors?: readonly { extensions?: Record<string, unknown> }[] } | null | undefined): unknown {
  return body?.errors?.[0]?.extensions?.code;
}

/** Whatever a response must never carry (R-API-1): stack frames, source paths, SQL from the server, internal messages. */
export const LEAKS: RegExp[] = [
  /\n\s+at\s/,
  /\bat [\w.<>]+ \(/,
  /\.(ts|js|mjs|cjs):\d+/,
  /node_modules/,
  /\/work\/|file:\/\//,
  /"stack"/,
  /\b(select|insert into|update|delete from)\b[^"]*"(organizations|sites|users|events|api_tokens|license_keys|configuration_groups|teams)"/i,
  /syntax error at or near|violates (foreign key|unique|check|not-null) constraint|relation "\w+" does not exist|invalid input syntax for type/i,
  /Unexpected error\./,
  /INTERNAL_SERVER_ERROR/,
];

export function leaksIn(text: string): RegExp[] {
  return LEAKS.filter((pattern) => pattern.test(text));
}
