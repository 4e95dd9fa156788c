import type { IncomingMessage, ServerResponse } from 'node:http';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';
import type { Clock } from '../clock.ts';
import type { Context } from '../context.ts';
import { maskDatabaseFaults } from '../db/faults.ts';
import { useSubscriptionBounds, type LiveBounds } from '../live/bounds.ts';
import { useSharedSubscriptionExecution } from '../live/shared-execution.ts';
import { yogaLogger, type Logger } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { useObservability } from '../observability/plugin.ts';
import { useClockOfRecord } from '../security/clock-skew.ts';
import { operationLimitPlugins, yogaLimitOptions, type OperationLimits } from '../security/limits.ts';
import { clientAddress, useActivationRateLimit, type SlidingWindowLimiter } from '../security/rate-limit.ts';
import { useRequestShape, useWellFormedStrings } from '../security/request-errors.ts';
import { getSchema } from '../schema/index.ts';
import { useTokenStreamCut, type LiveConnections } from '../tokens/stream-registry.ts';
import type { Authenticate } from './authenticate.ts';
import { useRequestBodyLimit } from './body-limit.ts';
import { useContextRelease } from './context-release.ts';

/** The path of GraphQL over HTTP (GET/POST, SSE, GraphiQL) and over graphql-ws. */
export const GRAPHQL_PATH = '/graphql';

/** What the HTTP layer or the WebSocket layer hands to the context factory. */
export interface ServerContext {
  req?: IncomingMessage;
  res?: ServerResponse;
  /** Set for WebSocket operations: authenticated once in connection_init (server/websocket.ts). */
  wsViewer?: Viewer;
}

export type GatewayYoga = YogaServerInstance<ServerContext, Context>;

export interface GatewayYogaDeps {
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  limits: OperationLimits;
  /** Activations per organization (ACTIVATION_RATE_LIMIT). */
  activations: SlidingWindowLimiter;
  bounds: LiveBounds;
  liveConnections: LiveConnections;
  authenticate: Authenticate;
  trustProxy: boolean;
  /** Builds the Context of one operation for its viewer (createApp owns what goes in it). */
  context: (viewer: Viewer) => Context;
  /** Told of every response that is an event stream (a drain ends those instead of waiting for them). */
  onEventStream: (res: ServerResponse) => void;
}

/**
 * graphql-yoga with the gateway's envelop pipeline, shared by HTTP and
 * graphql-ws: observability, request shape, operation limits, the clock of
 * record, rate limits, shared subscription execution, token stream cuts and
 * subscription bounds.
 */
export function createGatewayYoga(deps: GatewayYogaDeps): GatewayYoga {
  const { logger, metrics, limits, bounds } = deps;
  const useStreamTracking: Plugin<Record<string, unknown>, ServerContext> = {
    onResponse({ response, serverContext }) {
      if (serverContext?.res && response.headers.get('content-type')?.includes('text/event-stream')) deps.onEventStream(serverContext.res);
    },
  };
  return createYoga<ServerContext, Context>({
    schema: getSchema(),
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // GraphiQL is served compressed, before Yoga, by server/graphiql.ts.
    graphiql: false,
    // Never the development mode that copies original errors (and stacks) into responses, whatever NODE_ENV says.
    // A lost database answers UNAVAILABLE (503, Retry-After) rather than the masked "Unexpected error." (db/faults.ts).
    maskedErrors: { isDev: false, maskError: maskDatabaseFaults },
    logging: yogaLogger(logger),
    ...yogaLimitOptions(limits),
    // MAX_REQUEST_BODY_BYTES is enforced by useRequestBodyLimit (body-limit.ts), without a stream per request.
    maxRequestBodySize: false,
    plugins: [
      useObservability({ logger, metrics }),
      useStreamTracking,
      useRequestShape(),
      // After every plugin that sets a request parser: it wraps the one they leave.
      useRequestBodyLimit(limits.maxBodyBytes),
      useWellFormedStrings(),
      ...operationLimitPlugins(limits),
      // Before the activation limit: a refused mutation uses up no attempt.
      useClockOfRecord(deps.clock),
      useActivationRateLimit(deps.activations, () => metrics.rateLimited.inc({ limit: 'activation' })),
      // One execution of each seat usage snapshot for all its subscribers (R-PERF-3).
      useSharedSubscriptionExecution(['seatUsage']),
      // SSE subscriptions of a revoked or expired token end (graphql-ws sockets are closed in onConnect's registration).
      useTokenStreamCut(deps.liveConnections, (context) => context.wsViewer !== undefined),
      // SSE subscriptions count against the same bounds as WebSocket ones (live/bounds.ts).
      useSubscriptionBounds<ServerContext>(
        bounds,
        (c) => c.wsViewer !== undefined,
        (c) => (c as Context).viewer,
      ),
      // Last: after every other plugin's onResponse.
      useContextRelease(),
    ],
    // HTTP requests authenticate here, by their Authorization header; WebSocket operations bring their socket's viewer.
    context: async (initial) =>
      deps.context(
        initial.wsViewer ??
          (await deps.authenticate(initial.request.headers.get('authorization'), clientAddress(initial.req, deps.trustProxy))),
      ),
  });
}
