import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkedLookup, literalRefusal } from './address-policy.ts';

/** What one attempt found: a status (any), or an error before or instead of one. */
export interface SendResult {
  /** The receiver's HTTP status; null when there was no response (refused, unreachable, timed out). */
  status: number | null;
  /** Only 2xx counts as delivered; a redirect is not followed and counts as a failure. */
  ok: boolean;
  durationMs: number;
  error: string | null;
}

/** At most this much of a response is read; the rest is not waited for. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

export interface SendOptions {
  timeoutMs: number;
  allowPrivate: boolean;
}

/**
 * POSTs `body` to `url` once: the destination address checked first (SSRF,
 * address-policy.ts), no redirect followed, the whole exchange bounded by
 * `timeoutMs` and the response by MAX_RESPONSE_BYTES. Never throws.
 *
 * Hand-written on node:http rather than fetch: the connection must go to the
 * address the policy checked (a `lookup` hook), which fetch does not offer
 * without pulling in undici's internals.
 */
export function send(url: string, body: string, headers: Record<string, string>, options: SendOptions): Promise<SendResult> {
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (status: number | null, error: string | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ status, ok: status !== null && status >= 200 && status < 300 && error === null, durationMs: elapsed(), error });
    };
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      return done(null, 'invalid URL');
    }
    const refused = literalRefusal(target, options.allowPrivate);
    if (refused) return done(null, refused.message);
    const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(target, {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'user-agent': 'licensing-gateway-webhooks',
      },
      lookup: checkedLookup(options.allowPrivate),
      // No pooled connection outlives the attempt.
      agent: false,
    });
    timer = setTimeout(() => {
      done(null, `timed out after ${options.timeoutMs} ms`);
      req.destroy();
    }, options.timeoutMs);
    req.on('error', (error) => done(null, error.message));
    req.on('response', (res: IncomingMessage) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // Enough is known (the status); a huge body is not read to its end.
        if (read > MAX_RESPONSE_BYTES) {
          done(res.statusCode ?? null, null);
          res.destroy();
        }
      });
      res.on('end', () => done(res.statusCode ?? null, null));
      res.on('error', () => done(res.statusCode ?? null, null));
    });
    req.end(body);
  });
}
