/*
 * A separate process holding N graphql-ws subscribers of `seatUsage`
 * (forked by the bench with an IPC channel; the bench splits large counts
 * over several such processes, see Subscribers in run.ts). Every message is
 * stamped with process.hrtime.bigint() on arrival, when its WebSocket frame
 * is complete and before the graphql-ws client parses it: CLOCK_MONOTONIC,
 * the same clock in every process on this machine, so the parent can
 * subtract its own readings and compare those of several children.
 *
 * The receipt path is O(1) per message: each total seen is counted once per
 * subscriber with its first and last arrival, so "has every subscriber seen
 * `total`?" is one comparison, not a walk over all subscribers per message
 * (which made the measuring side quadratic in the number of subscribers).
 *
 * Parent → child:  { type: 'start', url, token, organizationId, product, count }
 *                  { type: 'await', id, total, timeoutMs }   when has every subscriber seen `total` seats in use?
 *                  { type: 'reset' }                         zero the message counters
 *                  { type: 'stats', id }                     messages per subscriber since the reset, last totals
 *                  { type: 'stop' }
 * Child → parent:  { type: 'ready', connected, failed, ms } | { type: 'reached', id, first, last, missing }
 *                  { type: 'stats', id, ... } | { type: 'error', message }
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

const SEAT_USAGE = `subscription($id: ID!) { seatUsage(organizationId: $id) { at pools { product { code } inUse emergencyInUse overageInUse } } }`;

interface Sub {
  client: Client;
  dispose: () => void;
  messages: number;
  lastTotal: number;
  /** Totals seen (each counted once in `reached`). */
  seen: Set<number>;
  errors: number;
  /** Arrival time of the newest frame on this subscriber's socket. */
  arrived: bigint;
}

/** Per total: how many subscribers have seen it, first and last arrival among them. */
interface Reach {
  count: number;
  first: bigint;
  last: bigint;
}

interface Waiter {
  id: number;
  total: number;
  timer: NodeJS.Timeout;
}

const subs: Sub[] = [];
const waiters: Waiter[] = [];
const reached = new Map<number, Reach>();
let product = 'AGENT_SEAT';

const send = (message: unknown) => process.send?.(message);

function totalOf(data: unknown): number | null {
  const pools = (
    data as { seatUsage?: { pools?: { product: { code: string }; inUse: number; emergencyInUse: number; overageInUse: number }[] } }
  )?.seatUsage?.pools;
  const pool = pools?.find((p) => p.product.code === product);
  return pool ? pool.inUse + pool.emergencyInUse + pool.overageInUse : null;
}

function settle(waiter: Waiter): boolean {
  const r = reached.get(waiter.total);
  if (!r || r.count < subs.length) return false;
  clearTimeout(waiter.timer);
  waiters.splice(waiters.indexOf(waiter), 1);
  send({ type: 'reached', id: waiter.id, first: String(r.first), last: String(r.last), missing: 0 });
  return true;
}

function saw(sub: Sub, total: number, at: bigint): void {
  if (sub.seen.has(total)) return;
  sub.seen.add(total);
  let r = reached.get(total);
  if (!r) {
    r = { count: 0, first: at, last: at };
    reached.set(total, r);
  }
  r.count += 1;
  if (at < r.first) r.first = at;
  if (at > r.last) r.last = at;
  if (waiters.length > 0 && r.count >= subs.length) for (const w of [...waiters]) if (w.total === total) settle(w);
}

async function start(message: { url: string; token: string; organizationId: string; product: string; count: number }): Promise<void> {
  product = message.product;
  const t0 = process.hrtime.bigint();
  let failed = 0;
  const batch = 50;
  for (let i = 0; i < message.count; i += batch) {
    const opened: Promise<void>[] = [];
    for (let j = i; j < Math.min(message.count, i + batch); j++) {
      opened.push(
        new Promise<void>((resolve) => {
          // The socket stamps each frame as it arrives, before the client's own message listener parses it.
          const Stamped = class extends WebSocket {
            constructor(...args: ConstructorParameters<typeof WebSocket>) {
              super(...args);
              this.on('message', () => {
                sub.arrived = process.hrtime.bigint();
              });
            }
          };
          const client = createClient({
            url: message.url,
            webSocketImpl: Stamped,
            retryAttempts: 0,
            lazy: true,
            connectionParams: { authorization: `Bearer ${message.token}` },
          });
          const sub: Sub = { client, dispose: () => undefined, messages: 0, lastTotal: -1, seen: new Set(), errors: 0, arrived: 0n };
          let first = true;
          sub.dispose = client.subscribe(
            { query: SEAT_USAGE, variables: { id: message.organizationId } },
            {
              next: (value) => {
                const at = sub.arrived;
                const total = totalOf(value.data);
                if (total === null) {
                  sub.errors += 1;
                } else {
                  sub.messages += 1;
                  sub.lastTotal = total;
                  saw(sub, total, at);
                }
                if (first) {
                  first = false;
                  resolve();
                }
              },
              error: () => {
                sub.errors += 1;
                if (first) {
                  first = false;
                  failed += 1;
                  resolve();
                }
              },
              complete: () => undefined,
            },
          );
          subs.push(sub);
        }),
      );
    }
    await Promise.all(opened);
  }
  send({ type: 'ready', connected: subs.length - failed, failed, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
}

process.on('message', (raw) => {
  const message = raw as { type: string; [k: string]: unknown };
  switch (message.type) {
    case 'start':
      void start(message as never).catch((error: unknown) => send({ type: 'error', message: String(error) }));
      break;
    case 'await': {
      const waiter: Waiter = {
        id: message.id as number,
        total: message.total as number,
        timer: setTimeout(
          () => {
            waiters.splice(waiters.indexOf(waiter), 1);
            const missing = subs.filter((s) => !s.seen.has(waiter.total)).length;
            send({ type: 'reached', id: waiter.id, first: null, last: null, missing });
          },
          (message.timeoutMs as number) ?? 30_000,
        ),
      };
      waiters.push(waiter);
      settle(waiter);
      break;
    }
    case 'reset':
      for (const s of subs) s.messages = 0;
      break;
    case 'stats': {
      const counts = subs.map((s) => s.messages);
      const totals = new Map<number, number>();
      for (const s of subs) totals.set(s.lastTotal, (totals.get(s.lastTotal) ?? 0) + 1);
      send({
        type: 'stats',
        id: message.id,
        subscribers: subs.length,
        minMessages: Math.min(...counts),
        maxMessages: Math.max(...counts),
        meanMessages: counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length),
        lastTotals: Object.fromEntries(totals),
        errors: subs.reduce((a, s) => a + s.errors, 0),
        rss: process.memoryUsage().rss,
      });
      break;
    }
    case 'stop':
      for (const s of subs) s.dispose();
      void Promise.all(subs.map((s) => s.client.dispose())).finally(() => process.exit(0));
      setTimeout(() => process.exit(0), 5000).unref();
      break;
  }
});

process.on('disconnect', () => process.exit(0));
// An exit rather than death by signal: node --cpu-prof (bench --cpu-prof-dir) writes its profile on exit.
process.on('SIGTERM', () => process.exit(0));
