/*
 * A graphql-ws socket's token from a subscribe message (R-SEC-1).
 *
 * GraphiQL (graphql-yoga's render-graphiql) opens its WebSocket with
 * `connection_init {}` and sends the token of its Headers tab in every
 * subscribe message, as `payload.extensions.headers.Authorization`. The
 * gateway takes a token from there by the same rules as the connection
 * token:
 * - a socket authenticated in `connection_init` keeps that token; a subscribe
 *   carrying the same token runs as before;
 * - a socket without a token is bound by the first subscribe that carries a
 *   valid one: it takes that token's connection slot
 *   (MAX_WS_CONNECTIONS_PER_TOKEN) and is tracked like any socket of it, so
 *   revoking or expiring the token closes it with 4403;
 * - a socket has one token: a subscribe carrying another one (another
 *   organization's, another role's, the operator's) is refused with
 *   FORBIDDEN and the socket goes on with its own token;
 * - a bad token is refused for that operation (UNAUTHENTICATED, counted
 *   against the client address like any bad token; RATE_LIMITED beyond the
 *   limit); the socket stays open.
 * A person's OpenID Connect JWT (src/auth/oidc.ts) is a token like any other
 * here: one JWT per socket, and the socket closes with 4403 at its `exp`.
 */
import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Viewer } from '../auth/viewer.ts';
import { isConnectionError } from '../db/faults.ts';
import { unavailable } from '../errors.ts';
import type { LiveBounds } from '../live/bounds.ts';
import type { ExternalToken, LiveConnections, TrackedSocket } from '../tokens/stream-registry.ts';

/** What the socket keeps of its authentication (graphql-ws's `ctx.extra`). */
export interface SocketAuth {
  socket: TrackedSocket;
  request: IncomingMessage;
  viewer?: Viewer;
  releaseConnection?: () => void;
}

export interface SubscribeTokenDeps {
  /** The same check as for the connection token (rate limit of bad tokens per client address included). */
  authenticate(authorization: string, request: IncomingMessage): Promise<Viewer>;
  bounds: LiveBounds;
  liveConnections: LiveConnections;
}

/** The `Authorization` header of a subscribe message's `extensions.headers` (any letter case), or null. */
export function subscribeAuthorization(extensions: unknown): string | null {
  if (typeof extensions !== 'object' || extensions === null) return null;
  const headers = (extensions as { headers?: unknown }).headers;
  if (typeof headers !== 'object' || headers === null) return null;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === 'authorization' && typeof value === 'string' && value.trim() !== '') return value;
  }
  return null;
}

/** A person's OpenID Connect token has no API token row: its socket is cut at the token's `exp` (stream-registry.ts). */
export function externalOf(viewer: Viewer): ExternalToken | undefined {
  return viewer.kind === 'token' && viewer.person ? { expiresAt: viewer.person.expiresAt } : undefined;
}

function sameViewer(a: Viewer, b: Viewer): boolean {
  if (a.kind === 'token' && b.kind === 'token') return a.tokenId === b.tokenId;
  return a.kind === b.kind;
}

/**
 * Returns the check to run at the start of every graphql-ws `onSubscribe`:
 * it binds the socket to a token found in the message (setting
 * `extra.viewer`) and resolves with the error that refuses this operation, or
 * null when it may go on with `extra.viewer`.
 *
 * @example
 * const refused = await subscribeToken(ctx.extra, params.extensions);
 * if (refused) return [refused];
 */
export function createSubscribeToken(deps: SubscribeTokenDeps): (extra: SocketAuth, extensions: unknown) => Promise<GraphQLError | null> {
  /** One check at a time per socket: two subscribes racing to bind an anonymous socket bind it once. */
  const pending = new WeakMap<TrackedSocket, Promise<unknown>>();

  async function check(extra: SocketAuth, authorization: string): Promise<GraphQLError | null> {
    let presented: Viewer;
    try {
      presented = await deps.authenticate(authorization, extra.request);
    } catch (error) {
      if (error instanceof GraphQLError) return error;
      if (isConnectionError(error)) return unavailable();
      throw error;
    }
    const current = extra.viewer ?? { kind: 'anonymous' };
    if (presented.kind === 'anonymous' || sameViewer(current, presented)) return null;
    if (current.kind !== 'anonymous') {
      return new GraphQLError(
        'this WebSocket is authenticated with another token; a socket keeps its first token: open a new connection for this one',
        { extensions: { code: 'FORBIDDEN', rule: 'R-SEC-1' } },
      );
    }
    const release = deps.bounds.takeConnection(presented);
    if (!release) {
      return new GraphQLError(
        `too many WebSocket connections for this token (MAX_WS_CONNECTIONS_PER_TOKEN ${deps.bounds.limits.maxConnectionsPerToken})`,
        { extensions: { code: 'RATE_LIMITED', limit: 'MAX_WS_CONNECTIONS_PER_TOKEN' } },
      );
    }
    // From now on a revocation or expiry of the token closes this socket with 4403, as for a connection_init token.
    if (presented.kind === 'token' && !deps.liveConnections.trackSocket(presented.tokenId, extra.socket, externalOf(presented))) {
      release();
      return new GraphQLError('the WebSocket closed', { extensions: { code: 'BAD_REQUEST' } });
    }
    extra.releaseConnection?.(); // the anonymous connection's slot
    extra.releaseConnection = release;
    extra.viewer = presented;
    return null;
  }

  return (extra, extensions) => {
    const authorization = subscribeAuthorization(extensions);
    if (authorization === null) return Promise.resolve(null);
    const previous = pending.get(extra.socket) ?? Promise.resolve();
    const next = previous.then(() => check(extra, authorization));
    pending.set(
      extra.socket,
      next.catch(() => undefined),
    );
    return next;
  };
}
