import type { ExecutionResult } from 'graphql';
import { approveShared, type FrameSink, sharedPayloadJson } from '../live/shared-execution.ts';

/** The part of a `ws` WebSocket that shared frames need. */
export interface FrameSocket {
  readonly readyState: number;
  readonly OPEN: number;
  /** Bytes queued by send and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: string, cb?: (error?: Error) => void): void;
}

/**
 * Bytes a socket may have queued for a frame to go out directly (see
 * directFrames); beyond, its frames wait for each write, and a subscriber who
 * cannot keep up gets only the newest snapshot, as through its iterator.
 */
export const MAX_DIRECT_BUFFERED = 64 * 1024;

/** A subscription's `next` frame around a shared payload's JSON, as graphql-ws writes it: built from `framePrefix(id)`. */
const framePrefix = (id: string) => `{"id":${JSON.stringify(id)},"type":"next","payload":`;
const nextFrame = (prefix: string, json: string) => `${prefix}${json}}`;

/**
 * The frame sink of one subscription (shared-execution.ts attachFrameSink):
 * writes an approved shared result as this subscription's `next` frame at
 * once, the same bytes as withSharedFrames. False (the usual way) when the
 * socket is not open or has more than MAX_DIRECT_BUFFERED queued. Once
 * `active` says the subscription ended, a result is taken and dropped.
 *
 * @example
 * attachFrameSink(contextValue, directFrames(id, socket, () => id in ctx.subscriptions));
 */
export function directFrames(id: string, socket: FrameSocket, active: () => boolean, onFrame: () => void = () => undefined): FrameSink {
  const prefix = framePrefix(id);
  return (result) => {
    // Completed by the client (graphql-ws forgets the id at once; the iterators are returned after): nothing more.
    if (!active()) return true;
    if (socket.readyState !== socket.OPEN || socket.bufferedAmount > MAX_DIRECT_BUFFERED) return false;
    const json = sharedPayloadJson(result);
    if (json === null) return false;
    socket.send(nextFrame(prefix, json));
    onFrame();
    return true;
  };
}

/**
 * A subscription's results (graphql-ws's onOperation), where each result of
 * the shared execution (live/shared-execution.ts) goes out as a frame built
 * from its payload JSON, serialized once for all its subscribers:
 * `{"id":<this subscription's id>,"type":"next","payload":<shared JSON>}`,
 * byte for byte what graphql-ws would send after its own JSON.stringify of
 * the whole message. Any other result (executed per subscriber, replaced by
 * a plugin such as the response-size check) is handed to graphql-ws as
 * before, and so are the end and errors of the stream: graphql-ws still
 * iterates this, completes it, and returns it when the client completes or
 * the socket closes. Frames are sent in order, one at a time, each after the
 * previous one was written, as graphql-ws does. graphql-ws's own `onNext`
 * option is not called for these frames: the gateway sets none (set one, and
 * it must be applied here too).
 *
 * @example
 * useServer({ onOperation: (ctx, id, _p, _a, result) => withSharedFrames(result, id, ctx.extra.socket) }, wss);
 */
export function withSharedFrames(
  source: AsyncIterable<ExecutionResult>,
  id: string,
  socket: FrameSocket,
  onFrame: () => void = () => undefined,
): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  const prefix = framePrefix(id);
  let open = true;
  const send = (frame: string) =>
    new Promise<void>((resolve, reject) => {
      // As graphql-ws' ws adapter: nothing to write on a socket that is closing.
      if (socket.readyState !== socket.OPEN) return resolve();
      socket.send(frame, (error) => (error ? reject(error) : resolve()));
    });
  return {
    async next(): Promise<IteratorResult<ExecutionResult>> {
      for (;;) {
        const item = await it.next();
        // Completed by the client meanwhile: nothing more for this id.
        if (!open) return { value: undefined, done: true };
        if (item.done) return item;
        const json = sharedPayloadJson(item.value);
        if (json === null) return item;
        // The pipeline let this shared result through unchanged: the other subscribers may be sent it directly.
        approveShared(item.value);
        await send(nextFrame(prefix, json));
        onFrame();
      }
    },
    async return(): Promise<IteratorResult<ExecutionResult>> {
      open = false;
      await it.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown): Promise<IteratorResult<ExecutionResult>> {
      open = false;
      await it.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
