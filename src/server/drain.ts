import type { Server, ServerResponse } from 'node:http';
import type { WebSocketServer } from 'ws';
import type { Logger } from '../observability/logger.ts';

/** What a drain closes, in order. */
export interface DrainParts {
  server: Server;
  wss: WebSocketServer;
  /** Stopped first (no new run), awaited before `release`. */
  sweeps: { stop(): void; settled(): Promise<void> };
  /** Last: what the app holds besides sockets (live hub, listeners, caches). */
  release(): Promise<void>;
}

/**
 * The graceful stop of one app: /readyz answers 503 from the first call on,
 * the listening socket closes (no new connections), WebSockets close with 1001
 * (going away), in-flight HTTP requests finish (at most `timeoutMs`, then
 * their connections are closed), event streams end, the background sweep
 * finishes, then `release`. Idempotent.
 *
 * The HTTP server hands it every request (`track`) and Yoga every response
 * that is an event stream (`markStream`): those are ended rather than waited
 * for, since they never finish by themselves.
 */
export class Drain {
  #draining = false;
  #stopped: Promise<void> | null = null;
  #server: Server | null = null;
  /** HTTP requests not yet answered in full. */
  readonly #inFlight = new Set<ServerResponse>();
  /** Responses that are event streams (SSE subscriptions). */
  readonly #streams = new WeakSet<ServerResponse>();
  #drained: (() => void) | null = null;

  readonly #logger: Logger;
  readonly #timeoutMs: number;

  constructor(logger: Logger, timeoutMs: number) {
    this.#logger = logger;
    this.#timeoutMs = timeoutMs;
  }

  /** True from the first stop() call on. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Counts `res` until it closes; while draining, its connection closes instead of idling in keep-alive. */
  track(res: ServerResponse): void {
    this.#inFlight.add(res);
    res.once('close', () => {
      this.#inFlight.delete(res);
      if (this.#draining) {
        this.#checkDrained();
        this.#server?.closeIdleConnections();
      }
    });
    if (this.#draining) res.setHeader('connection', 'close');
  }

  markStream(res: ServerResponse): void {
    this.#streams.add(res);
  }

  stop(parts: DrainParts): Promise<void> {
    this.#stopped ??= this.#run(parts);
    return this.#stopped;
  }

  #checkDrained(): void {
    if (this.#drained && [...this.#inFlight].every((res) => this.#streams.has(res))) this.#drained();
  }

  async #run({ server, wss, sweeps, release }: DrainParts): Promise<void> {
    this.#draining = true;
    this.#server = server;
    sweeps.stop();
    for (const client of wss.clients) client.close(1001, 'server shutting down');
    const wsClosed = new Promise<void>((resolve) => wss.close(() => resolve()));
    const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const res of this.#inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.#drained = null;
        resolve();
      };
      const timer = setTimeout(finish, this.#timeoutMs);
      const poll = setInterval(() => this.#checkDrained(), 100);
      this.#drained = finish;
      this.#checkDrained();
    });
    const cut = [...this.#inFlight].filter((res) => !this.#streams.has(res)).length;
    if (cut > 0)
      this.#logger.warn({ requests: cut, timeoutMs: this.#timeoutMs }, 'shutdown timeout: closing connections of unfinished requests');
    // Event streams and whatever is left: close their connections; clients reconnect to another instance.
    server.closeAllConnections();
    for (const res of this.#inFlight) res.socket?.destroy();
    for (const client of wss.clients) client.terminate();
    await Promise.all([wsClosed, serverClosed, sweeps.settled()]);
    await release();
  }
}
