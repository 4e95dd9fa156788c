/*
 * Bounds on live connections (R-LIVE-1 without letting one client exhaust the
 * process): WebSocket connections per process and per token, subscriptions per
 * socket, per token and per process. WebSocket and SSE subscriptions count
 * alike. A subscription beyond a bound is refused on its own (an error for
 * that operation; the socket keeps serving its others); a connection beyond a
 * bound is closed with 4429 (per token) or 1013 (the process is full).
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Viewer } from '../auth/viewer.ts';

/** Bounds on live connections, so that one client (or all together) cannot exhaust the process. */
export interface LiveLimits {
  /** WebSocket connections of this process (MAX_WS_CONNECTIONS). */
  maxConnections: number;
  /** WebSocket connections of one token (MAX_WS_CONNECTIONS_PER_TOKEN). */
  maxConnectionsPerToken: number;
  /** Subscriptions on one WebSocket (MAX_SUBSCRIPTIONS_PER_SOCKET). */
  maxSubscriptionsPerSocket: number;
  /** Subscriptions of one token, WebSocket and SSE (MAX_SUBSCRIPTIONS_PER_TOKEN). */
  maxSubscriptionsPerToken: number;
  /** Subscriptions of this process, WebSocket and SSE (MAX_SUBSCRIPTIONS). */
  maxSubscriptions: number;
}

export const DEFAULT_LIVE_LIMITS: LiveLimits = {
  maxConnections: 10_000,
  maxConnectionsPerToken: 2_000,
  maxSubscriptionsPerSocket: 100,
  maxSubscriptionsPerToken: 2_000,
  maxSubscriptions: 10_000,
};

/** Whose budget a connection or subscription uses: its token (the operator is one). */
export function budgetKey(viewer: Viewer): string {
  return viewer.kind === 'token' ? `token:${viewer.tokenId}` : viewer.kind;
}

/** The refusal of a subscription beyond a bound: RATE_LIMITED, naming the bound's variable. */
export function subscriptionLimitError(limit: keyof typeof SUBSCRIPTION_VARIABLES, value: number): GraphQLError {
  const what = { perSocket: 'on this WebSocket', perToken: 'for this token', total: 'on this gateway process' }[limit];
  return new GraphQLError(`too many subscriptions ${what} (at most ${value}, ${SUBSCRIPTION_VARIABLES[limit]}); end one first`, {
    extensions: { code: 'RATE_LIMITED', limit: SUBSCRIPTION_VARIABLES[limit], http: { status: 429 } },
  });
}

const SUBSCRIPTION_VARIABLES = {
  perSocket: 'MAX_SUBSCRIPTIONS_PER_SOCKET',
  perToken: 'MAX_SUBSCRIPTIONS_PER_TOKEN',
  total: 'MAX_SUBSCRIPTIONS',
} as const;

/** Counts per key, dropping a key at zero so the map stays as small as the set of live clients. */
class Tally {
  readonly #counts = new Map<string, number>();
  total = 0;
  get(key: string): number {
    return this.#counts.get(key) ?? 0;
  }
  add(key: string): void {
    this.#counts.set(key, this.get(key) + 1);
    this.total++;
  }
  remove(key: string): void {
    const n = this.get(key) - 1;
    if (n > 0) this.#counts.set(key, n);
    else this.#counts.delete(key);
    this.total--;
  }
}

/**
 * The live bounds of one app.
 *
 * @example
 * const bounds = new LiveBounds({ maxSubscriptionsPerSocket: 100 });
 * const refused = bounds.refuseSubscription(viewer, socketCount);
 * if (refused) return [refused];
 * const release = bounds.takeSubscription(viewer); // call release() once when it ends
 */
export class LiveBounds {
  readonly limits: LiveLimits;
  readonly #connections = new Tally();
  readonly #subscriptions = new Tally();

  constructor(limits: Partial<LiveLimits> = {}) {
    this.limits = { ...DEFAULT_LIVE_LIMITS, ...limits };
  }

  /** True when the process holds as many WebSocket connections as it may (a new one is closed with 1013). */
  connectionsFull(open: number): boolean {
    return open > this.limits.maxConnections;
  }

  /** Takes a connection slot of the viewer's token, or null when the token has all it may have. */
  takeConnection(viewer: Viewer): (() => void) | null {
    const key = budgetKey(viewer);
    if (this.#connections.get(key) >= this.limits.maxConnectionsPerToken) return null;
    this.#connections.add(key);
    return once(() => this.#connections.remove(key));
  }

  /** The error for a subscription beyond a bound, given how many the socket holds (null for SSE), or null when it may go ahead. */
  refuseSubscription(viewer: Viewer, onSocket: number | null): GraphQLError | null {
    if (onSocket !== null && onSocket >= this.limits.maxSubscriptionsPerSocket)
      return subscriptionLimitError('perSocket', this.limits.maxSubscriptionsPerSocket);
    if (this.#subscriptions.get(budgetKey(viewer)) >= this.limits.maxSubscriptionsPerToken)
      return subscriptionLimitError('perToken', this.limits.maxSubscriptionsPerToken);
    if (this.#subscriptions.total >= this.limits.maxSubscriptions) return subscriptionLimitError('total', this.limits.maxSubscriptions);
    return null;
  }

  /** Counts a subscription (after refuseSubscription said yes); the function returned gives it back (once). */
  takeSubscription(viewer: Viewer): () => void {
    const key = budgetKey(viewer);
    this.#subscriptions.add(key);
    return once(() => this.#subscriptions.remove(key));
  }

  get subscriptions(): number {
    return this.#subscriptions.total;
  }
}

function once(run: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    run();
  };
}

/**
 * SSE (HTTP) subscriptions take their slot here, before they run, and give
 * it back when their response closes (the stream ended or the client went).
 * WebSocket subscriptions are counted by the graphql-ws hooks in app.ts
 * (`isWebSocket` tells them apart), where a refusal is an `error` message.
 */
export function useSubscriptionBounds<TServer extends { res?: { once(event: 'close', listener: () => void): unknown } }>(
  bounds: LiveBounds,
  isWebSocket: (context: TServer) => boolean,
  viewerOf: (context: unknown) => Viewer,
): Plugin<Record<string, unknown>, TServer> {
  return {
    onSubscribe({ args, setResultAndStopExecution }) {
      const context = args.contextValue as unknown as TServer;
      if (isWebSocket(context)) return;
      const viewer = viewerOf(args.contextValue);
      const refused = bounds.refuseSubscription(viewer, null);
      if (refused) return void setResultAndStopExecution({ errors: [refused] });
      const release = bounds.takeSubscription(viewer);
      if (context.res) context.res.once('close', release);
      else release(); // no response to outlive (yoga.fetch in-process): nothing stays open
    },
  };
}
