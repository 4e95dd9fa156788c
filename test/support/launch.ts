import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/*
 * The one way tests start a gateway as a process of its own, exactly as
 * deployed: `node --import tsx src/main.ts` (or a compiled entry point with
 * plain node), in a clean environment, on 127.0.0.1 and a free port. Its JSON
 * log lines are collected; the address comes from "gateway listening".
 * In-process gateways listening on a socket: test/support/listen.ts.
 */

/** The repository root, where the gateway runs. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * What package.json's start script runs, `node [flags] dist/<entry>`: node's
 * flags and the entry relative to ROOT. The bench and the build-start test
 * start the bundle with exactly these, so neither can drift from `npm start`.
 */
export function startScript(): { flags: readonly string[]; entry: string } {
  const start: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts?.start ?? '';
  const [command, ...words] = start.trim().split(/\s+/);
  const entry = words.at(-1);
  if (command !== 'node' || !entry?.startsWith('dist/'))
    throw new Error(`package.json's start script is not "node [flags] dist/<entry>": ${start}`);
  return { flags: words.slice(0, -1), entry };
}

/**
 * libfaketime, when installed (Debian's faketime package; tests of the clock
 * of record skip otherwise). Preloaded into the gateway itself rather than
 * run through the `faketime` wrapper, which forks the program as its child:
 * killing the wrapper left that child running (test/hardening/faketime-launch.test.ts).
 */
export const FAKETIME =
  [
    '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
    '/usr/lib/faketime/libfaketime.so.1',
    '/usr/local/lib/faketime/libfaketime.so.1',
  ].find((path) => existsSync(path)) ?? null;

export const PROCESS_OPERATOR_TOKEN = 'process-operator-token-0123456789';

export interface LogLine {
  level?: string;
  msg?: string;
  [key: string]: unknown;
}

export interface GatewayProcess {
  child: ChildProcess;
  /** Every JSON line the process printed on stdout so far. */
  lines: LogLine[];
  /** Everything it printed: stdout and stderr, raw. */
  output(): string;
  stderr(): string;
  /** Resolves with the first log line (already printed or still to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and resolves once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface LaunchOptions {
  /** Runs with libfaketime's clock offset (e.g. "+800d", as `faketime -f` takes it): a gateway whose clock is off. */
  faketime?: string;
  /** A compiled entry point (e.g. dist/gateway.mjs), run with plain node; default src/main.ts through tsx. */
  entry?: string;
  /** node's own flags before the entry point (package.json's start script has some). */
  nodeFlags?: readonly string[];
}

/** The command line of a gateway process (argv[0] first). */
export function gatewayCommand(options: LaunchOptions = {}): string[] {
  return [process.execPath, ...(options.nodeFlags ?? []), ...(options.entry ? [options.entry] : ['--import', 'tsx', 'src/main.ts'])];
}

/** What a fake clock adds to the environment: libfaketime preloaded with the offset. */
function faketimeEnv(options: LaunchOptions): Record<string, string> {
  if (!options.faketime) return {};
  if (!FAKETIME) throw new Error('faketime is not installed');
  return { LD_PRELOAD: FAKETIME, FAKETIME: options.faketime };
}

/** The environment of a gateway process: a clean one (nothing of the test runner's) plus `env`. */
export function gatewayEnv(env: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    TMPDIR: process.env.TMPDIR ?? '/tmp',
    HOST: '127.0.0.1',
    PORT: '0',
    OPERATOR_TOKEN: PROCESS_OPERATOR_TOKEN,
    LOG_LEVEL: 'info',
    ...env,
  };
}

/** Starts a gateway process with a clean environment plus `env` (see gatewayEnv). */
export function spawnGateway(env: Record<string, string>, options: LaunchOptions = {}): GatewayProcess {
  const [command, ...args] = gatewayCommand(options);
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: { ...gatewayEnv(env), ...faketimeEnv(options) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let out = '';
  let err = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    lines,
    output: () => out + err,
    stderr: () => err,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    waitForLog: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`gateway exited (${code ?? signal}) before the expected log line:\n${out}${err}`)),
        );
      });
    },
  };
}

/** Waits for "gateway listening" and returns the base URL (the process listens on port 0). */
export async function listeningBase(gateway: GatewayProcess): Promise<string> {
  const line = await gateway.waitForLog((l) => l.msg === 'gateway listening');
  const url = new URL(String(line.graphql));
  return `http://127.0.0.1:${url.port}`;
}

/** Spawns a gateway process and resolves, once it listens, with its GraphQL URL. */
export async function startGatewayProcess(
  env: Record<string, string>,
  options: LaunchOptions = {},
): Promise<{ gateway: GatewayProcess; url: string }> {
  const gateway = spawnGateway(env, options);
  return { gateway, url: `${await listeningBase(gateway)}/graphql` };
}

/** Stops the process if a test left it running (SIGKILL: nothing to wait for). */
export async function ensureStopped(gateway: GatewayProcess | undefined): Promise<void> {
  if (!gateway || gateway.child.exitCode !== null || gateway.child.signalCode !== null) return;
  gateway.child.kill('SIGKILL');
  await gateway.exited;
}

/** A gateway process of a multi-process test, with its name for messages and its GraphQL URL. */
export interface NamedInstance extends GatewayProcess {
  name: string;
  url: string;
}

/** A GraphQL answer of a gateway process, with its HTTP status. */
export type InstanceAnswer = { status: number; data?: any; errors?: { message: string; extensions?: Record<string, any> }[] };

/** One GraphQL request to `instance` with a bearer token. */
export async function instanceGql(
  instance: NamedInstance,
  query: string,
  variables: Record<string, unknown>,
  token: string,
): Promise<InstanceAnswer> {
  const response = await fetch(instance.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { ...((await response.json()) as Omit<InstanceAnswer, 'status'>), status: response.status };
}

/** Like instanceGql, but the data: GraphQL errors fail the test, naming the instance. */
export async function instanceOk(instance: NamedInstance, query: string, variables: Record<string, unknown>, token: string): Promise<any> {
  const result = await instanceGql(instance, query, variables, token);
  if (result.errors?.length) throw new Error(`GraphQL errors on ${instance.name}: ${JSON.stringify(result.errors)}`);
  return result.data;
}
