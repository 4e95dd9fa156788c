import {
  createSourceEventStream,
  execute,
  getOperationAST,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';

/**
 * One execution per event for all subscribers of the same operation.
 *
 * graphql-js (and graphql-ws on top of it) executes a subscription's
 * selection set once per subscriber and event: with 1,000 dashboards of one
 * organization that is 1,000 identical executions of one snapshot
 * (R-PERF-3). A payload marked `shareable` is resolved without the
 * subscriber's context (its resolvers only read the payload), so its result
 * depends only on the payload, the document, the operation name and the
 * variables: the first subscriber executes it, every other one with the same
 * operation gets that same result object. Payloads not marked are executed
 * per subscriber as before.
 *
 * @example
 * const yoga = createYoga({ plugins: [useSharedSubscriptionExecution(['seatUsage'])] });
 * for (const c of channels) c.push(shareable({ catalog, snapshot }));
 */
export function useSharedSubscriptionExecution(fields: readonly string[]): Plugin {
  const names = new Set(fields);
  const subscribeShared = sharedSubscribe();
  return {
    onSubscribe({ args, setSubscribeFn }) {
      const operation = getOperationAST(args.document, args.operationName);
      // A subscription has exactly one root field (validated); fragments and directives keep the default path.
      const [root, ...more] = operation?.selectionSet.selections ?? [];
      if (operation?.operation !== 'subscription' || more.length > 0 || root?.kind !== Kind.FIELD || !names.has(root.name.value)) return;
      if (root.directives?.length) return;
      setSubscribeFn(subscribeShared as never);
    },
  };
}

/** The mark of a payload whose resolution needs no context (see shareable). */
const SHAREABLE: unique symbol = Symbol('shareable payload');

/** Marks a payload whose resolution needs no context: every subscriber may share its result. */
export function shareable<T extends object>(payload: T): T {
  // Not enumerable: resolvers and serialization never see it.
  Object.defineProperty(payload, SHAREABLE, { value: true });
  return payload;
}

const isShareable = (payload: unknown): payload is object =>
  typeof payload === 'object' && payload !== null && Object.hasOwn(payload, SHAREABLE);

/** The mark of a result that several subscribers share, with its serialized `next` payload once computed. */
const SHARED_RESULT: unique symbol = Symbol('shared result');

interface SharedMark {
  json: string | null;
  /** It came through the whole per-result pipeline unchanged once (see approveShared). */
  approved: boolean;
}

function markShared(result: ExecutionResult): ExecutionResult {
  // Not enumerable, a symbol: invisible to serialization; the result itself is never changed after this.
  Object.defineProperty(result, SHARED_RESULT, { value: { json: null, approved: false } satisfies SharedMark });
  return result;
}

const markOf = (result: unknown): SharedMark | null =>
  typeof result === 'object' && result !== null && Object.hasOwn(result, SHARED_RESULT)
    ? (result as { [SHARED_RESULT]: SharedMark })[SHARED_RESULT]
    : null;

/**
 * Records that this shared result came out of envelop's per-result pipeline
 * (masked errors, the response-size check) as it went in, for one
 * subscriber: the pipeline's answer depends on the result alone, so it would
 * be the same for every other subscriber, who may then be sent it directly.
 */
export function approveShared(result: unknown): void {
  const mark = markOf(result);
  if (mark) mark.approved = true;
}

/**
 * Sends a shared result to one subscriber past its iterator (a WebSocket
 * frame), if it can at once; false: the result takes the usual way.
 */
export type FrameSink = (result: ExecutionResult) => boolean;

/** What the source stream of a subscription offers when its values may be delivered past it (live.schema.ts). */
export const DIRECT_DELIVERY: unique symbol = Symbol('direct delivery');
export interface DirectDelivery {
  [DIRECT_DELIVERY](deliver: (payload: unknown) => boolean): void;
}

/** Where an operation's context carries its frame sink (not enumerable: resolvers and logs never see it). */
const FRAME_SINK: unique symbol = Symbol('frame sink');

/**
 * The frame sink of one operation, by its context object (the WebSocket
 * server sets it before execution). With it, a shareable payload whose
 * shared result was approved, and that has no errors, is handed to the sink
 * when it is pushed, instead of going through this subscriber's iterator and
 * envelop's pipeline: one function call per subscriber instead of a chain of
 * promises (R-PERF-3).
 */
export function attachFrameSink(context: object, sink: FrameSink): void {
  Object.defineProperty(context, FRAME_SINK, { value: sink });
}

const frameSinkOf = (context: unknown): FrameSink | undefined =>
  typeof context === 'object' && context !== null && Object.hasOwn(context, FRAME_SINK)
    ? (context as { [FRAME_SINK]: FrameSink })[FRAME_SINK]
    : undefined;

const isPromise = <T>(value: Promise<T> | T): value is Promise<T> => typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * The JSON of a graphql-ws `next` message's payload for a result of the
 * shared execution, serialized once for every subscriber that gets this very
 * object (null for any other result: executed per subscriber, or replaced by
 * a plugin on the way, e.g. the response-size check). It is exactly what
 * graphql-ws would write: the result's fields, then `errors` as their JSON.
 *
 * @example
 * const json = sharedPayloadJson(result);
 * if (json !== null) socket.send(`{"id":${JSON.stringify(id)},"type":"next","payload":${json}}`);
 */
export function sharedPayloadJson(result: unknown): string | null {
  const mark = markOf(result);
  if (mark === null) return null;
  if (mark.json === null) {
    const { errors, ...rest } = result as ExecutionResult;
    mark.json = JSON.stringify({ ...rest, ...(errors ? { errors: errors.map((e) => e.toJSON()) } : {}) });
  }
  return mark.json;
}

/**
 * graphql-js' subscribe (createSourceEventStream, then execute per event),
 * with shared results. The results and document ids belong to one plugin
 * instance (one per app), never to the module.
 */
function sharedSubscribe(): (args: ExecutionArgs) => Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  /** Results of each shared payload, per operation (see operationKey). Gone with the payload. */
  const results = new WeakMap<object, Map<string, Promise<ExecutionResult> | ExecutionResult>>();
  const documentIds = new WeakMap<DocumentNode, number>();
  let nextDocumentId = 1;

  /**
   * Document (by identity: Yoga's parser cache hands out one DocumentNode per
   * query text; another copy only misses the sharing), operation and variables.
   */
  const operationKey = (args: ExecutionArgs): string => {
    let id = documentIds.get(args.document);
    if (id === undefined) {
      id = nextDocumentId++;
      documentIds.set(args.document, id);
    }
    return `${id}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? null)}`;
  };

  return async (args) => {
    const source = await createSourceEventStream(args);
    if (!(Symbol.asyncIterator in source)) return source; // errors before the stream started
    const key = operationKey(args);
    const sink = frameSinkOf(args.contextValue);
    const direct = (source as Partial<DirectDelivery>)[DIRECT_DELIVERY];
    if (sink && direct)
      direct.call(source, (payload) => {
        if (!isShareable(payload)) return false;
        // Only a result some subscriber's pipeline approved, already executed (a pending one takes the usual way).
        const result = results.get(payload)?.get(key);
        if (result === undefined || isPromise(result) || result.errors || !markOf(result)?.approved) return false;
        return sink(result);
      });
    const run = (payload: unknown): Promise<ExecutionResult> | ExecutionResult => {
      if (!isShareable(payload)) return execute({ ...args, rootValue: payload });
      let byOperation = results.get(payload);
      if (!byOperation) {
        byOperation = new Map();
        results.set(payload, byOperation);
      }
      let result = byOperation.get(key);
      if (result === undefined) {
        const executed = execute({ ...args, rootValue: payload });
        result = isPromise(executed) ? executed.then(markShared) : markShared(executed);
        byOperation.set(key, result);
      }
      return result;
    };
    return mapStream(source[Symbol.asyncIterator](), run);
  };
}

/**
 * Maps a stream; return() goes straight to the source (not queued behind a
 * pending next() as it would be in an async generator), so an unsubscribe
 * releases the source at once.
 */
function mapStream<T, U>(source: AsyncIterator<T>, map: (value: T) => Promise<U> | U): AsyncIterableIterator<U> {
  return {
    async next() {
      const item = await source.next();
      return item.done ? { value: undefined, done: true } : { value: await map(item.value), done: false };
    },
    async return() {
      await source.return?.();
      return { value: undefined, done: true };
    },
    async throw(error: unknown) {
      if (source.throw) await source.throw(error);
      else await source.return?.();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
