import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import { listen } from '../support/listen.ts';
import { ensureStopped, listeningBase, PROCESS_OPERATOR_TOKEN, spawnGateway, type GatewayProcess } from '../support/launch.ts';

/** A raw HTTP/1.1 connection: what was received, and a promise of everything once the server closes it. */
function rawConnection(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    const closed = new Promise<string>((done) => socket.once('close', () => done(data)));
    socket.once('error', () => undefined);
    socket.once('connect', () => resolve({ socket, received: () => data, closed }));
    socket.once('error', reject);
  });
}

const CATALOGS = JSON.stringify({ query: '{ catalogs { code } }' });

/**
 * Sends the headers of a POST whose body is still to come and resolves once
 * the server has taken the request in: `Expect: 100-continue` makes Node
 * answer "100 Continue" right before it hands the request to the gateway.
 */
async function startSlowPost(port: number) {
  const connection = await rawConnection(port);
  connection.socket.write(
    `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: ${Buffer.byteLength(CATALOGS)}\r\n\r\n`,
  );
  await until(() => connection.received().includes('100 Continue'), connection.closed);
  return connection;
}

/** Resolves when `condition` holds (checked on every chunk the socket receives), rejects when the socket closes first. */
function until(condition: () => boolean, closed: Promise<string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = setInterval(() => {
      if (condition()) {
        clearInterval(check);
        resolve();
      }
    }, 10);
    void closed.then((data) => {
      clearInterval(check);
      if (condition()) resolve();
      else reject(new Error(`connection closed first: ${data}`));
    });
  });
}

/**
 * A connection that is in the middle of a /readyz request. A full /healthz
 * request and the first half of the next one go in one write; once /healthz is
 * answered, the server has begun parsing the second, so the connection does not
 * count as idle when the shutdown closes idle connections.
 */
async function startPartialReadyz(port: number) {
  const connection = await rawConnection(port);
  connection.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\nGET /readyz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
  await until(() => connection.received().includes('"status":"ok"'), connection.closed);
  return connection;
}

const dirs: string[] = [];
const processes: GatewayProcess[] = [];
function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-lifecycle-'));
  dirs.push(dir);
  return dir;
}
function start(env: Record<string, string>): GatewayProcess {
  const gateway = spawnGateway(env);
  processes.push(gateway);
  return gateway;
}

afterEach(async () => {
  await Promise.all(processes.splice(0).map(ensureStopped));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('process lifecycle (node --import tsx src/main.ts)', () => {
  it('a bad variable stops the start with a message naming it and a non-zero exit', async () => {
    const cases: [string, string, RegExp][] = [
      ['PORT', 'abc', /configuration error: PORT: must be a whole number, got "abc"/],
      ['GRAPHQL_MAX_DEPTH', '0', /configuration error: GRAPHQL_MAX_DEPTH: must be between 1 and 1000/],
      ['GRAPHQL_INTROSPECTION', 'maybe', /configuration error: GRAPHQL_INTROSPECTION: must be true or false/],
      ['RATE_LIMIT_ACTIVATIONS', '-1', /configuration error: RATE_LIMIT_ACTIVATIONS: must be a whole number/],
    ];
    await Promise.all(
      cases.map(async ([name, value, message]) => {
        const gateway = start({ DATA_DIR: tempDataDir(), [name]: value });
        const { code } = await gateway.exited;
        expect(code, name).toBe(2);
        expect(gateway.stderr()).toMatch(message);
        expect(gateway.lines.find((l) => l.msg === 'gateway listening')).toBeUndefined();
      }),
    );
  });

  it('on SIGTERM: closes WebSockets with 1001, answers /readyz 503, accepts no new connections, finishes the in-flight request, exits 0', async () => {
    const gateway = start({ DATA_DIR: tempDataDir(), SHUTDOWN_TIMEOUT_SECONDS: '30' });
    const base = await listeningBase(gateway);
    const port = Number(new URL(base).port);

    // An authenticated graphql-ws connection.
    const ws = new WebSocket(`${base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve) => ws.once('open', resolve));
    const acked = new Promise((resolve) => ws.once('message', resolve));
    ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${PROCESS_OPERATOR_TOKEN}` } }));
    expect(JSON.parse(String(await acked))).toMatchObject({ type: 'connection_ack' });
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    // An in-flight request: headers taken in, the body not sent yet.
    const slow = await startSlowPost(port);
    // A connection in the middle of sending a /readyz request.
    const probe = await startPartialReadyz(port);

    gateway.child.kill('SIGTERM');
    await gateway.waitForLog((l) => l.msg === 'shutting down: draining');
    expect(await wsClosed).toBe(1001);

    // Draining: not ready.
    probe.socket.write('\r\n');
    const responses = await probe.closed;
    const readyz = responses.slice(responses.lastIndexOf('HTTP/1.1 '));
    expect(readyz).toMatch(/^HTTP\/1\.1 503 /);
    expect(JSON.parse(readyz.slice(readyz.indexOf('\r\n\r\n') + 4))).toMatchObject({ ready: false, draining: true });

    // The port no longer accepts connections.
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();

    // The in-flight request is answered in full.
    slow.socket.write(CATALOGS);
    const answer = await slow.closed;
    expect(answer).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 /);
    expect(answer).toContain('"code":"innoacd"');

    expect(await gateway.exited, gateway.output()).toEqual({ code: 0, signal: null });
    expect(gateway.lines.map((l) => l.msg)).toContain('stopped');
    // The process's own log never shows the operator token (it authenticated the WebSocket above).
    expect(gateway.output()).not.toContain(PROCESS_OPERATOR_TOKEN);
  });

  it('on SIGINT with a request that never completes: closes it after SHUTDOWN_TIMEOUT_SECONDS and still exits 0', async () => {
    const gateway = start({ DATA_DIR: tempDataDir(), SHUTDOWN_TIMEOUT_SECONDS: '1' });
    const base = await listeningBase(gateway);
    const port = Number(new URL(base).port);
    const stuck = await startSlowPost(port);

    gateway.child.kill('SIGINT');
    expect(await gateway.exited, gateway.output()).toEqual({ code: 0, signal: null });
    await stuck.closed;
    expect(gateway.lines.find((l) => l.msg === 'shutdown timeout: closing connections of unfinished requests')).toMatchObject({
      requests: 1,
    });
  });

  it('refuses a second process on the same PGlite DATA_DIR, and takes over the lock of a killed one', async () => {
    const dir = tempDataDir();
    const first = start({ DATA_DIR: dir });
    await listeningBase(first);
    const second = start({ DATA_DIR: dir });
    expect((await second.exited).code).toBe(2);
    expect(second.stderr()).toMatch(new RegExp(`configuration error: DATA_DIR: .* is in use by process ${first.child.pid}`));

    first.child.kill('SIGKILL');
    await first.exited;
    const third = start({ DATA_DIR: dir });
    const base = await listeningBase(third);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    third.child.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  });
});

describe('draining with live subscriptions', () => {
  it('stop() ends server-sent-event and graphql-ws subscriptions instead of waiting for SHUTDOWN_TIMEOUT_SECONDS', async () => {
    // A drain that waited for the subscriptions would run into this test's own time limit.
    const gw = await listen('pglite', { shutdownTimeoutMs: 3_600_000 });
    const org = await gw.gql('mutation { createOrganization(input: { name: "Live", catalog: "innoacd" }) { organization { id } } }');
    const id = org.data?.createOrganization.organization.id as string;
    const query = 'subscription($id: ID!) { seatUsage(organizationId: $id) { pools { capacity } } }';

    const sse = await fetch(`${gw.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${OPERATOR_TOKEN}` },
      body: JSON.stringify({ query, variables: { id } }),
    });
    expect(sse.headers.get('content-type')).toContain('text/event-stream');
    const reader = sse.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('event: next');
    const sseEnded = (async () => {
      try {
        while (!(await reader.read()).done);
      } catch {
        // the connection was closed: ended too
      }
    })();

    const client = gw.ws();
    let started: () => void = () => undefined;
    const wsStarted = new Promise<void>((resolve) => (started = resolve));
    const wsEnded = new Promise<unknown>((resolve) => {
      client.subscribe({ query, variables: { id } }, { next: () => started(), error: resolve, complete: () => resolve('completed') });
    });
    await wsStarted;

    await gw.app.stop();
    await sseEnded;
    expect(await wsEnded).toMatchObject({ code: 1001 });
    await gw.close();
  });
});
