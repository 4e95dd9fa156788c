/*
 * Gateway child processes (`node dist/gateway.mjs`, as `npm start` runs it,
 * after the same `scripts/build.mjs --if-stale` as its prestart), each on a
 * free port of 127.0.0.1, ready when /readyz answers 200.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ownChild, stopChild } from './cleanup.ts';
import { startScript } from '../test/support/launch.ts';
import { freePort } from './postgres.ts';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const OPERATOR_TOKEN = 'bench-operator-token-0123456789';

export interface GatewayOptions {
  label: string;
  /** DATABASE_URL, or null for PGlite in `dataDir`. */
  databaseUrl: string | null;
  dataDir?: string;
  publicKey: string;
  poolSize?: number;
  /** node --cpu-prof into this directory. */
  cpuProfDir?: string;
  /** node --inspect on 127.0.0.1:<port> (bench/allocations.ts samples through it). */
  inspectPort?: number;
  env?: Record<string, string>;
  /** How to start: node dist/gateway.mjs (default), or `npm start` (its prestart build check included in readyMs). */
  via?: 'node' | 'npm';
  readyTimeoutMs?: number;
}

export interface Gateway {
  label: string;
  url: string;
  base: string;
  port: number;
  pid: number;
  child: ChildProcess;
  /** ms from spawn to the first /readyz 200. */
  readyMs: number;
  output(): string;
  /** /metrics: each series by its name, with its labels as printed when it has any. */
  metrics(): Promise<Record<string, number>>;
  /** VmRSS / VmHWM from /proc/<pid>/status, in bytes. */
  procMemory(): { rss: number; hwm: number } | null;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `node [flags] dist/gateway.mjs`: what package.json's start script runs (test/support/launch.ts reads it). */
export const START_ARGS: readonly string[] = (() => {
  const { flags, entry } = startScript();
  return [...flags, entry];
})();

let built: Promise<void> | null = null;
/** Builds dist/ when a source is newer than the last build (npm start's prestart), once per bench run. */
export function ensureBuilt(): Promise<void> {
  built ??= new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['scripts/build.mjs', '--if-stale'], { cwd: ROOT }, (error, _stdout, stderr) =>
      error ? reject(new Error(`build failed: ${stderr || error.message}`)) : resolve(),
    ),
  );
  return built;
}

export function gatewayEnv(options: GatewayOptions, port: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    OPERATOR_TOKEN,
    LICENSE_PUBLIC_KEYS: options.publicKey,
    LOG_LEVEL: 'warn',
    SESSION_TTL_SECONDS: '86400',
    DATABASE_POOL_SIZE: String(options.poolSize ?? 10),
    // Batched loading activates many keys per organization in a minute.
    RATE_LIMIT_ACTIVATIONS: '0',
    // The curves attach up to 5,000 subscribers with one token.
    MAX_WS_CONNECTIONS_PER_TOKEN: '20000',
    MAX_SUBSCRIPTIONS_PER_TOKEN: '20000',
    MAX_SUBSCRIPTIONS: '20000',
    MAX_WS_CONNECTIONS: '20000',
    ...options.env,
  };
  if (options.databaseUrl) env.DATABASE_URL = options.databaseUrl;
  else {
    delete env.DATABASE_URL;
    env.DATA_DIR = options.dataDir ?? '';
  }
  return env;
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const port = await freePort();
  const env = gatewayEnv(options, port);
  if (options.via !== 'npm') await ensureBuilt();
  const nodeArgs = [
    ...(options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : []),
    ...(options.inspectPort ? [`--inspect=127.0.0.1:${options.inspectPort}`] : []),
    ...START_ARGS,
  ];
  const t0 = process.hrtime.bigint();
  const child =
    options.via === 'npm'
      ? spawn('npm', ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      : spawn(process.execPath, nodeArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  // npm runs the gateway in a process group of its own: stop the group by its id.
  if (options.via === 'npm')
    child.kill = ((signal?: NodeJS.Signals | number) => {
      try {
        process.kill(-child.pid!, signal ?? 'SIGTERM');
        return true;
      } catch {
        return false;
      }
    }) as ChildProcess['kill'];
  const untrack = ownChild(`gateway ${options.label}`, child);
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      lines.push(line);
      if (lines.length > 200) lines.shift();
    }
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let readyMs = 0;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      untrack();
      throw new Error(
        `gateway ${options.label} exited (${child.exitCode ?? child.signalCode}) before ready:\n${lines.slice(-30).join('\n')}`,
      );
    }
    try {
      const res = await fetch(`${base}/readyz`);
      await res.arrayBuffer();
      if (res.status === 200) {
        readyMs = Number(process.hrtime.bigint() - t0) / 1e6;
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stopChild(child, 'SIGKILL', 1000);
      untrack();
      throw new Error(`gateway ${options.label} not ready in time:\n${lines.slice(-30).join('\n')}`);
    }
    await sleep(5);
  }

  return {
    label: options.label,
    url: `${base}/graphql`,
    base,
    port,
    pid: child.pid!,
    child,
    readyMs,
    output: () => lines.join('\n'),
    async metrics() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
        // Labelled series under their name and labels as printed, e.g. `nodejs_gc_duration_seconds_count{kind="minor"}`.
        if (m) out[`${m[1]!}${m[2] ?? ''}`] = Number(m[3]);
      }
      return out;
    },
    procMemory() {
      try {
        const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
        const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) * 1024;
        return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
      } catch {
        return null;
      }
    },
    async stop() {
      await stopChild(child, 'SIGTERM', 20_000);
      untrack();
    },
  };
}
