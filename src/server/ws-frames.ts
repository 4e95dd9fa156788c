import type { ExecutionResult } from 'graphql';
import { sharedPayloadJson } from '../live/shared-execution.ts';

/** The part of a `ws` WebSocket that shared frames need. */
export interface FrameSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string, cb: (error?: Error) => void): void;
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
): AsyncIterableIterator<ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
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
        await send(`${prefix}${json}}`);
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
