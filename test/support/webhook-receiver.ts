import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One request the receiver got, with what signature verification (the standardwebhooks package) said. */
export interface Received {
  /** The request's path and query (tells endpoints apart when several share one receiver). */
  path: string;
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The parsed body when the signature verified with the receiver's secret; null otherwise. */
  verified: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  verifyError: string | null;
  /** The status the receiver answered (null while held or when the connection was cut). */
  answered: number | null;
}

/**
 * A real HTTP receiver on 127.0.0.1 that verifies Standard Webhooks
 * signatures. `respond` decides each answer: a status, or a promise of one
 * (to hold the response, e.g. while the gateway is killed).
 */
export interface Receiver {
  url: string;
  received: Received[];
  secret: string | null;
  respond: (request: Received, index: number) => number | Promise<number>;
  /** Resolves once `count` requests have arrived. */
  waitFor(count: number): Promise<void>;
  close(): Promise<void>;
}

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
}

export async function startReceiver(host = '127.0.0.1'): Promise<Receiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const receiver: Receiver = {
    url: '',
    received: [],
    secret: null,
    respond: () => 200,
    waitFor: (count) =>
      receiver.received.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer(async (req, res) => {
    const body = await bodyOf(req);
    const header = (name: string) => String(req.headers[name] ?? '');
    const entry: Received = {
      path: req.url ?? '/',
      id: header('webhook-id'),
      timestamp: header('webhook-timestamp'),
      signature: header('webhook-signature'),
      body,
      verified: null,
      verifyError: null,
      answered: null,
    };
    try {
      if (!receiver.secret) throw new Error('the receiver has no secret');
      entry.verified = new Webhook(receiver.secret).verify(body, {
        'webhook-id': entry.id,
        'webhook-timestamp': entry.timestamp,
        'webhook-signature': entry.signature,
      }) as Received['verified'];
    } catch (error) {
      entry.verifyError = error instanceof Error ? error.message : String(error);
    }
    const index = receiver.received.push(entry) - 1;
    for (const w of [...waiters]) {
      if (receiver.received.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
    const status = await receiver.respond(entry, index);
    if (res.destroyed) return;
    entry.answered = status;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status < 300 ? 'ok' : 'failed');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/hooks`;
  return receiver;
}
