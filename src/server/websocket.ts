import type { Server } from 'node:http';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import type { Context as SocketContext, OperationResult } from 'graphql-ws';
import { useServer, type Extra as WsExtra } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Viewer } from '../auth/viewer.ts';
import { isConnectionError } from '../db/faults.ts';
import type { LiveBounds } from '../live/bounds.ts';
import { attachFrameSink } from '../live/shared-execution.ts';
import type { Metrics } from '../observability/metrics.ts';
import { clientAddress } from '../security/rate-limit.ts';
import type { LiveConnections } from '../tokens/stream-registry.ts';
import type { Authenticate } from './authenticate.ts';
import { directFrames, withSharedFrames } from './ws-frames.ts';
import { createSubscribeToken, externalOf } from './ws-token.ts';
import { GRAPHQL_PATH, type GatewayYoga } from './yoga.ts';

/** What graphql-ws keeps per socket besides the viewer: its subscriptions' slots, its token's connection slot. */
type SocketExtra = {
  viewer?: Viewer;
  subscriptions?: Map<string, () => void>;
  releaseConnection?: () => void;
};

type Extra = WsExtra & Partial<SocketExtra>;

/** The envelop-wrapped execute/subscribe, passed to graphql-ws through rootValue as in Yoga's graphql-ws example. */
interface EnvelopedRoot {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
}

export interface WebSocketDeps {
  server: Server;
  yoga: GatewayYoga;
  /** WebSocket messages obey the same size limit as HTTP bodies (ws' default would be 100 MiB). */
  maxPayload: number;
  metrics: Metrics;
  bounds: LiveBounds;
  liveConnections: LiveConnections;
  authenticate: Authenticate;
  trustProxy: boolean;
}

/**
 * graphql-ws on the HTTP server's GraphQL path, through the same envelop
 * pipeline as HTTP (Yoga's getEnveloped): per-socket authentication, the
 * connection and subscription bounds (live/bounds.ts), and the cut of a
 * revoked token's sockets.
 */
export function attachWebSocket(deps: WebSocketDeps): WebSocketServer {
  const { yoga, bounds, metrics, liveConnections } = deps;
  const iteratorFrame = metrics.sharedFrames.labels('iterator');
  const directFrame = metrics.sharedFrames.labels('direct');
  const countIterator = () => iteratorFrame.inc();
  const countDirect = () => directFrame.inc();
  const wss = new WebSocketServer({ server: deps.server, path: GRAPHQL_PATH, maxPayload: deps.maxPayload });
  const subscribeToken = createSubscribeToken({
    authenticate: (authorization, request) => deps.authenticate(authorization, clientAddress(request, deps.trustProxy)),
    bounds,
    liveConnections,
  });
  wss.on('connection', (socket) => {
    metrics.websocketConnections.inc();
    socket.once('close', () => metrics.websocketConnections.dec());
    // Beyond MAX_WS_CONNECTIONS: refused at once, before any message (graphql-ws's own listener sees a closed socket).
    if (bounds.connectionsFull(wss.clients.size)) socket.close(1013, 'Too many WebSocket connections on this gateway; try again later');
  });

  /**
   * The one place a socket authenticates. R-SEC-1: the token comes once, in
   * connection_init, as { authorization: "Bearer <token>" }. Resolves with the
   * viewer, or with null once the socket has been refused (closed).
   */
  async function authenticateSocket(ctx: SocketContext<Record<string, unknown>, Extra>): Promise<Viewer | null> {
    const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization;
    try {
      return await deps.authenticate(
        typeof authorization === 'string' ? authorization : null,
        clientAddress(ctx.extra.request, deps.trustProxy),
      );
    } catch (error) {
      if (error instanceof GraphQLError && error.extensions.code === 'RATE_LIMITED') {
        ctx.extra.socket.close(4429, 'Too many failed authentication attempts');
      } else if (error instanceof GraphQLError && error.extensions.code === 'UNAVAILABLE') {
        // An identity provider that cannot be reached (src/auth/oidc.ts): not a bad token either.
        ctx.extra.socket.close(1013, 'Identity provider unavailable; try again later');
      } else if (isConnectionError(error)) {
        // Not a bad token: the token could not be read. 1013 Try Again Later, which clients retry.
        ctx.extra.socket.close(1013, 'Database unavailable; try again later');
      }
      return null; // onConnect's false closes with 4403 Forbidden
    }
  }

  useServer<Record<string, unknown>, SocketExtra>(
    {
      execute: (args) => (args.rootValue as EnvelopedRoot).execute(args),
      subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args),
      onConnect: async (ctx) => {
        const viewer = await authenticateSocket(ctx);
        if (!viewer) return false;
        const release = bounds.takeConnection(viewer);
        if (!release) {
          ctx.extra.socket.close(
            4429,
            `Too many WebSocket connections for this token (MAX_WS_CONNECTIONS_PER_TOKEN ${bounds.limits.maxConnectionsPerToken})`,
          );
          return false;
        }
        // A revoked or expired token's socket closes with 4403, whatever it is subscribed to.
        if (viewer.kind === 'token' && !liveConnections.trackSocket(viewer.tokenId, ctx.extra.socket, externalOf(viewer))) {
          release();
          return false;
        }
        ctx.extra.viewer = viewer;
        ctx.extra.releaseConnection = release;
        return true;
      },
      onClose: (ctx) => {
        ctx.extra.releaseConnection?.();
        for (const release of ctx.extra.subscriptions?.values() ?? []) release();
        ctx.extra.subscriptions?.clear();
      },
      // The shared execution's results go out as one serialized payload for all their subscribers (ws-frames.ts).
      onOperation: (ctx, id, _payload, _args, result) =>
        Symbol.asyncIterator in result ? withSharedFrames(result, id, ctx.extra.socket, countIterator) : undefined,
      // Every operation that reached execution ends here (completed, failed, or ended by the client).
      onComplete: (ctx, id) => {
        ctx.extra.subscriptions?.get(id)?.();
        ctx.extra.subscriptions?.delete(id);
      },
      onSubscribe: async (ctx, id, params) => {
        // GraphiQL sends its Headers tab's token in each subscribe message (server/ws-token.ts).
        const tokenRefused = await subscribeToken(ctx.extra, params.extensions);
        if (tokenRefused) return [tokenRefused];
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          req: ctx.extra.request,
          wsViewer: ctx.extra.viewer ?? { kind: 'anonymous' },
        });
        // A malformed document or a limit is an error message for this operation, never a closed connection.
        let document: DocumentNode;
        try {
          document = parse(params.query);
        } catch (error) {
          // Over HTTP Yoga codes syntax errors GRAPHQL_PARSE_FAILED; the same here.
          if (error instanceof GraphQLError) {
            return [
              error.extensions.code
                ? error
                : new GraphQLError(error.message, {
                    source: error.source,
                    positions: error.positions,
                    extensions: { ...error.extensions, code: 'GRAPHQL_PARSE_FAILED' },
                  }),
            ];
          }
          throw error;
        }
        // Bounded before validation: a flood of subscribe messages costs a parse each, nothing more.
        const viewer = ctx.extra.viewer ?? { kind: 'anonymous' };
        const isSubscription = getOperationAST(document, params.operationName ?? undefined)?.operation === 'subscription';
        ctx.extra.subscriptions ??= new Map();
        const socketSubscriptions = ctx.extra.subscriptions;
        if (isSubscription) {
          // graphql-ws forgets an operation as soon as the client completes it; its slot is free from then on.
          for (const [other, release] of socketSubscriptions) {
            if (!(other in ctx.subscriptions)) {
              release();
              socketSubscriptions.delete(other);
            }
          }
          const refused = bounds.refuseSubscription(viewer, socketSubscriptions.size);
          if (refused) return [refused];
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return errors;
        // Counted until onComplete (or the socket's close) gives the slot back.
        if (isSubscription) socketSubscriptions.set(id, bounds.takeSubscription(viewer));
        const contextValue = await contextFactory();
        // Shared seatUsage results may go out as this subscription's frames directly (shared-execution.ts).
        if (isSubscription)
          attachFrameSink(
            contextValue,
            directFrames(id, ctx.extra.socket, () => id in ctx.subscriptions, countDirect),
          );
        const args: ExecutionArgs = {
          schema,
          operationName: params.operationName ?? null,
          document,
          variableValues: params.variables ?? null,
          contextValue,
          rootValue: { execute, subscribe } satisfies EnvelopedRoot,
        };
        return args;
      },
    },
    wss,
  );
  return wss;
}
