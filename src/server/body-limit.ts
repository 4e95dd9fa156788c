import type { IncomingMessage } from 'node:http';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';

function tooLarge(): GraphQLError {
  return new GraphQLError('Request body too large', { extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', http: { status: 413 } } });
}

/** Only one non-negative integer is a Content-Length (a comma-joined pair is a request-smuggling attempt). */
const CONTENT_LENGTH = /^\d+$/;

/** The body, read chunk by chunk and refused as soon as it passes `limit` bytes. */
async function boundedBody(request: Request, limit: number): Promise<Uint8Array<ArrayBuffer>> {
  const reader = request.body?.getReader();
  if (!reader) return new Uint8Array(new ArrayBuffer(0));
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(new ArrayBuffer(size));
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/**
 * MAX_REQUEST_BODY_BYTES for HTTP request bodies, in place of Yoga's
 * `maxRequestBodySize` (the same answers: 413 `REQUEST_ENTITY_TOO_LARGE`, 400
 * for a Content-Length that is not one integer). Yoga pipes every body through
 * a TransformStream to count it, which cost about 5 % of the gateway's CPU in
 * a login storm (a stream pipeline, an AbortController and a DOMException per
 * request). Here:
 * - a Content-Length over the limit is refused before the body is read;
 * - a request that came through Node's HTTP server with a Content-Length
 *   within the limit is read as it is: Node's parser delivers exactly that
 *   many bytes (and refuses Content-Length together with chunked encoding);
 * - any other body (chunked, or a Request handed to `yoga.fetch`) is read
 *   chunk by chunk and refused once past the limit.
 * Register it after every plugin that sets a request parser (it wraps the
 * parser they leave).
 */
export function useRequestBodyLimit(limit: number): Plugin<Record<string, unknown>, { req?: IncomingMessage }> {
  return {
    onRequestParse({ request, requestParser, setRequestParser, serverContext, fetchAPI }) {
      const contentLength = request.headers.get('content-length');
      if (contentLength !== null) {
        if (!CONTENT_LENGTH.test(contentLength))
          throw new GraphQLError('Content-Length header is invalid.', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        if (Number(contentLength) > limit) throw tooLarge();
        if (serverContext?.req) return;
      }
      if (!requestParser || request.body === null) return;
      const parse = requestParser;
      setRequestParser(async (req) =>
        parse(new fetchAPI.Request(req.url, { method: req.method, headers: req.headers, body: await boundedBody(req, limit) })),
      );
    },
  };
}
