import type { ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import { Slot } from '../slot.ts';

/** A response whose body is one JSON document: every operation of its request has finished when it is built. */
const isSingleResult = (response: Response) => /\bjson\b/.test(response.headers.get('content-type') ?? '');

/** Empties `target`; a property that cannot be deleted stays (Reflect.deleteProperty never throws). */
function empty(target: object): void {
  for (const key of Reflect.ownKeys(target)) Reflect.deleteProperty(target, key);
}

/**
 * Once an HTTP request has been answered in full (its ServerResponse has
 * closed), the context objects of its operations, and the server context
 * they are made from, let go of everything in them: the Node request and
 * response, the fetch Request, the params, the viewer, the operation's
 * loaders and the rows they hold.
 *
 * Libraries keep a request's context or execution as WeakMap keys
 * (@pothos/plugin-scope-auth's request cache, @graphql-tools/executor's
 * memoized field collection). Node 20's young-generation collector keeps
 * WeakMap keys alive (see slot.ts), so each request's context, and all it
 * reached, was copied through a scavenge into the old generation and only a
 * full collection freed it. Emptied, a context keeps nothing else alive.
 *
 * Only JSON answers: their operations have all finished before the response
 * is built. Event streams and multipart answers keep their contexts (those
 * operations outlive the response object), and so does a request whose
 * client left before its answer was ready. Register it last, after every
 * other plugin's onResponse.
 */
export function useContextRelease(): Plugin<Record<string, unknown>, { res?: ServerResponse }> {
  const contexts = new Slot<Request, object[]>('operation contexts');
  return {
    onParams({ request, context }) {
      const list = contexts.get(request);
      if (list) list.push(context);
      else contexts.set(request, [context]);
    },
    onResponse({ request, response, serverContext }) {
      const res = serverContext?.res;
      if (!res || res.closed || !isSingleResult(response)) return;
      // A single operation runs with the server context itself; a batch's operations inherit from it.
      const list = contexts.get(request) ?? [];
      if (!list.includes(serverContext)) list.push(serverContext);
      res.once('close', () => {
        for (const context of list) empty(context);
      });
    },
  };
}
