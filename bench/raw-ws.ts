/*
 * The fan-out floor (a child process of the bench): what writing one frame
 * to each of N WebSocket subscribers costs with `ws` in one Node thread on
 * this machine, with nothing else on the way. It speaks just enough of the
 * graphql-transport-ws protocol for the bench's graphql-ws subscribers
 * (connection_init → connection_ack, subscribe → next, ping → pong,
 * complete), executes no GraphQL and reads no database: a POST to /graphql
 * (the bench's `mutation { bump }`, as on bench/bare.ts) answers at once,
 * then, on the next turn of the event loop, builds one `next`
 * payload and sends it to every subscription in one synchronous loop, a
 * frame per socket. The gateway and the bare graphql-ws server deliver the
 * same message through GraphQL; this is the part no server of this stack can
 * go below.
 *
 * env: PORT, SEAT (the product code in the payload). GET /readyz answers 200.
 */
import { createServer } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

const seat = process.env.SEAT ?? 'AGENT_SEAT';
/** Every open subscription: its socket and the `{"id":…,"type":"next","payload":` prefix of its frames. */
const subscriptions = new Map<string, { socket: WebSocket; prefix: string }>();
let inUse = 0;
let nextKey = 0;

const payload = () =>
  JSON.stringify({
    data: {
      seatUsage: {
        at: new Date().toISOString(),
        pools: [{ product: { code: seat }, inUse, emergencyInUse: 0, overageInUse: 0 }],
      },
    },
  });

const server = createServer((req, res) => {
  if (req.url === '/readyz') {
    res.writeHead(200).end('ok');
    return;
  }
  if (req.url === '/graphql' && req.method === 'POST') {
    req.resume(); // the body is the bump mutation; nothing else is asked of this server
    inUse += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"data":{"bump":${inUse}}}`);
    setImmediate(() => {
      const json = payload();
      for (const { socket, prefix } of subscriptions.values()) socket.send(`${prefix}${json}}`);
    });
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;

// The first subprotocol the client asks for (graphql-transport-ws), as ws does without handleProtocols.
const wss = new WebSocketServer({ server, path: '/graphql' });
wss.on('connection', (socket) => {
  const own = new Map<string, string>();
  socket.on('message', (data) => {
    let message: { type?: string; id?: string };
    try {
      message = JSON.parse(String(data)) as { type?: string; id?: string };
    } catch {
      socket.close(4400, 'Invalid message');
      return;
    }
    switch (message.type) {
      case 'connection_init':
        socket.send('{"type":"connection_ack"}');
        break;
      case 'ping':
        socket.send('{"type":"pong"}');
        break;
      case 'subscribe': {
        const id = String(message.id);
        const key = String(nextKey++);
        const prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
        own.set(id, key);
        subscriptions.set(key, { socket, prefix });
        socket.send(`${prefix}${payload()}}`); // the first snapshot, as on subscribe
        break;
      }
      case 'complete': {
        const key = own.get(String(message.id));
        if (key !== undefined) subscriptions.delete(key);
        own.delete(String(message.id));
        break;
      }
    }
  });
  socket.on('close', () => {
    for (const key of own.values()) subscriptions.delete(key);
  });
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const stop = () => {
  for (const socket of wss.clients) socket.terminate();
  server.close(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
