/*
 * `npm run bench` — the performance figures of SPEC §7 (R-PERF-1..4), each
 * with its baseline measured in the same run and the ratio.
 *
 *   npm run bench                         full run (several minutes)
 *   npm run bench -- --smoke              scaled down, well under a minute
 *   npm run bench -- --only storm,fanout  some scenarios (see SCENARIOS; `pooler`: two gateways behind PgBouncer)
 *   npm run bench -- --json FILE          also write the figures as JSON
 *   --pool-size N                         DATABASE_POOL_SIZE of the gateways (10)
 *   --synchronous-commit on|off           PostgreSQL's setting for the run (off; the `durable` scenario measures on)
 *   --profile-dir DIR                     where the storm's .cpuprofile is kept (bench-results/)
 *   --markdown FILE                       also write the figures as a Markdown table (for BENCHMARKS.md)
 *   --unix-socket                         gateways, pgbench and the bench reach PostgreSQL over its Unix socket (default TCP 127.0.0.1)
 *   --storm-agents N                      agents of the 1-organization storm (pool 80 % + 10 % emergency)
 *   --curves storm,fanout,memory          which curves of growth the curves scenario draws (all three)
 *   --subscriber-processes N              graphql-ws subscriber processes of a fan-out (default 1 per 1,250 subscribers, at most 4)
 *   --curve-subscribers N,N               the fan-out curve's sizes (100,1000,5000), e.g. 5000 alone for a profile
 *   --cpu-prof-dir DIR                    node --cpu-prof of the main PostgreSQL gateway, the PGlite gateway and every subscriber process into DIR
 *
 * It starts its own PostgreSQL (and PGlite directories) and gateway child
 * processes, and removes every process and temp directory on exit, also on
 * failure and on SIGINT/SIGTERM. Exit code 1 when a correctness check fails
 * (a storm that grants more or fewer seats than capacity + emergency, request
 * errors, a subscriber without the final state); missed targets are reported,
 * not failed.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { scenarioBombs } from './bombs.ts';
import { scenarioImport } from './import.ts';
import { cleanupAll, onCleanup, ownChild, stopChild, tempDir } from './cleanup.ts';
import { GqlClient, runLoad, startSession, type StartOutcome } from './clients.ts';
import { ROOT, startGateway, type Gateway } from './gateway.ts';
import {
  createOrgFixture,
  loadAndActivate,
  pgSql,
  SEAT,
  seatsInUse,
  userIdsOf,
  VENDOR,
  type Activation,
  type Api,
  type OrgFixture,
  type Sql,
} from './load.ts';
import {
  freePort,
  pgbench,
  prepareBaseline,
  sameWorkScript,
  setUpSameWork,
  startPostgres,
  tearDownSameWork,
  type PgbenchResult,
  type PgServer,
} from './postgres.ts';
import { formatAllocations, sampleAllocations, summarizeAllocations } from './allocations.ts';
import { formatProfile, summarizeProfile } from './profile.ts';
import { fmt, Report, summary, usBetween } from './report.ts';
import { scenarioRecovery } from './recovery.ts';
// The PgBouncer starter is shared with the tests that run one (test/e2e/pgbouncer-transaction.test.ts).
import { HAVE_PGBOUNCER, PGBOUNCER, startPgBouncer } from '../test/support/pgbouncer.ts';

/* ------------------------------------------------------------------ options */

const SCENARIOS = [
  'storm',
  'pooler',
  'checkout',
  'fanout',
  'mapping',
  'curves',
  'durable',
  'profile',
  'bombs',
  'import',
  'pglite',
  'coldstart',
  'recovery',
] as const;
type Scenario = (typeof SCENARIOS)[number];
const ALIASES: Record<string, Scenario> = {
  memory: 'fanout',
  'fan-out': 'fanout',
  latency: 'checkout',
  'cold-start': 'coldstart',
  cold: 'coldstart',
  growth: 'curves',
  pgbouncer: 'pooler',
};

function parseArgs(argv: string[]) {
  const out = {
    unixSocket: false,
    markdown: null as string | null,
    json: null as string | null,
    smoke: false,
    only: null as Set<Scenario> | null,
    poolSize: 10,
    syncCommit: 'off',
    profileDir: resolve(ROOT, 'bench-results'),
    stormAgents: null as number | null,
    curves: new Set(['storm', 'fanout', 'memory']),
    cpuProfDir: null as string | null,
    subscriberProcesses: null as number | null,
    curveSubscribers: null as number[] | null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') out.json = resolve(value());
    else if (a === '--markdown') out.markdown = resolve(value());
    else if (a === '--unix-socket') out.unixSocket = true;
    else if (a === '--smoke') out.smoke = true;
    else if (a === '--only') {
      out.only = new Set(
        value()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .map((s) => {
            const name = (ALIASES[s] ?? s) as Scenario;
            if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario "${s}"; one of ${SCENARIOS.join(', ')} (memory = fanout)`);
            return name;
          }),
      );
    } else if (a === '--pool-size') out.poolSize = Number(value());
    else if (a === '--synchronous-commit') out.syncCommit = value();
    else if (a === '--profile-dir') out.profileDir = resolve(value());
    else if (a === '--storm-agents') out.stormAgents = Number(value());
    else if (a === '--cpu-prof-dir') out.cpuProfDir = resolve(value());
    else if (a === '--curve-subscribers') out.curveSubscribers = value().split(',').map(Number);
    else if (a === '--subscriber-processes') {
      out.subscriberProcesses = Number(value());
      if (!Number.isInteger(out.subscriberProcesses) || out.subscriberProcesses < 1)
        throw new Error('--subscriber-processes needs an integer ≥ 1');
    } else if (a === '--curves')
      out.curves = new Set(
        value()
          .split(',')
          .map((c) => c.trim()),
      );
    else if (a === '--help' || a === '-h') {
      console.log(readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]);
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const wants = (s: Scenario) => (opts.only ? opts.only.has(s) : !(opts.smoke && (s === 'durable' || s === 'profile')));

/** Sizes: the issue's figures, or a scaled-down smoke run. */
const S = opts.smoke
  ? {
      storm: { agents: 300, capacity: 240, emergency: 30, clients: 16, warmup: 50 },
      multi: { orgs: 5, agents: 30, capacity: 24, emergency: 3, clients: 16 },
      pgbenchSeconds: 1,
      pairs: false,
      bareRequests: 300,
      pairedRounds: 1,
      checkout: { warmup: 10, one: 100, four: 100 },
      fanout: { subscribers: 50, users: 200, singles: 5, clients: 16 },
      mapping: [{ users: 1000, reps: 5, target: 30 }],
      cold: 1,
      coldWarm: false,
      // One fresh PGlite directory: a copy of the build's template, so cheap enough for a smoke run.
      coldPglite: true,
      sampleMs: 300,
      pglite: { storm: true, multi: false, agents: 100, capacity: 80, emergency: 10 },
      curves: { stormAgents: 200, stormOrgs: [1, 5, 20], subscribers: [20, 100], fanoutChanges: 5, sessions: [200, 1000] },
    }
  : {
      storm: { agents: 5000, capacity: 4000, emergency: 500, clients: 64, warmup: 1000 },
      multi: { orgs: 100, agents: 50, capacity: 40, emergency: 5, clients: 64 },
      pgbenchSeconds: 10,
      pairs: true,
      bareRequests: 10_000,
      pairedRounds: 5,
      // Both the gateway and the bare server are warmed up with 2,000 calls first: measured after 50, the
      // figures still carried the JIT's tiering (ad hoc, 1 connection: p90 2.7-3.2 ms after 50, 1.8 after 3,000).
      checkout: { warmup: 2000, one: 1000, four: 2000 },
      fanout: { subscribers: 1000, users: 5000, singles: 100, clients: 64 },
      // 1,000 and 10,000 for the curve of growth (see curves); the targets are at 5,000 and 100,000.
      mapping: [
        { users: 1000, reps: 30, target: null },
        { users: 5000, reps: 30, target: 30 },
        { users: 10_000, reps: 20, target: null },
        { users: 100_000, reps: 10, target: 300 },
      ],
      cold: 3,
      coldWarm: true,
      coldPglite: true,
      sampleMs: 1000,
      pglite: { storm: true, multi: true, agents: 5000, capacity: 4000, emergency: 500 },
      curves: {
        stormAgents: 3000,
        stormOrgs: [1, 10, 100, 1000],
        subscribers: [100, 1000, 5000],
        fanoutChanges: 30,
        sessions: [1000, 10_000, 50_000],
      },
    };

if (opts.curveSubscribers) S.curves = { ...S.curves, subscribers: opts.curveSubscribers };

// --storm-agents N: the 1-organization storm with N agents (pool 80 % + 10 % emergency), e.g. a longer storm in a smoke run.
if (opts.stormAgents !== null) {
  const agents = opts.stormAgents;
  if (!Number.isInteger(agents) || agents < 10) throw new Error('--storm-agents needs an integer ≥ 10');
  S.storm = { ...S.storm, agents, capacity: Math.floor(agents * 0.8), emergency: Math.floor(agents * 0.1) };
}

const report = new Report();
const ms = (us: number) => us / 1000;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
const n = (x: number) => x.toLocaleString('en-US');

/** CPU time (clock ticks) and parent of every process, from /proc. */
function processTimes(): Map<number, { ppid: number; ticks: number }> {
  const out = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Cores used by processes that are not this bench or its descendants
 * (gateways, PostgreSQL, pgbench, subscribers), over `ms`: other work on the
 * machine makes the figures low and noisy. Null where /proc is missing.
 */
async function foreignCpu(ms = 1000): Promise<number | null> {
  try {
    const a = processTimes();
    await sleep(ms);
    const b = processTimes();
    const ours = ourPids(b);
    let ticks = 0;
    for (const [pid, p] of b) if (!ours.has(pid)) ticks += p.ticks - (a.get(pid)?.ticks ?? p.ticks);
    return ticks / 100 / (ms / 1000);
  } catch {
    return null;
  }
}

/** Load and CPU used by other processes, per scenario: at its start and (sampled every 2 s) while it ran. */
const loads: {
  scenario: string;
  load1: number;
  otherCoresAtStart: number | null;
  otherCoresMean: number | null;
  otherCoresMax: number | null;
  samples: number[];
}[] = [];
let monitor: NodeJS.Timeout | null = null;
let lastSample: Map<number, { ppid: number; ticks: number }> | null = null;
let lastSampleAt = 0;

function ourPids(b: Map<number, { ppid: number; ticks: number }>): Set<number> {
  const ours = new Set<number>([process.pid, process.ppid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, p] of b)
      if (!ours.has(pid) && ours.has(p.ppid)) {
        ours.add(pid);
        grew = true;
      }
  }
  return ours;
}

function sampleForeign(): void {
  try {
    const b = processTimes();
    const now = Date.now();
    if (lastSample && loads.length) {
      const ours = ourPids(b);
      let ticks = 0;
      for (const [pid, p] of b) if (!ours.has(pid)) ticks += p.ticks - (lastSample.get(pid)?.ticks ?? p.ticks);
      const cores = ticks / 100 / ((now - lastSampleAt) / 1000);
      const cur = loads.at(-1)!;
      cur.samples.push(cores);
      cur.otherCoresMax = +Math.max(cur.otherCoresMax ?? 0, cores).toFixed(2);
      cur.otherCoresMean = +(cur.samples.reduce((x, y) => x + y, 0) / cur.samples.length).toFixed(2);
    }
    lastSample = b;
    lastSampleAt = now;
  } catch {
    // no /proc
  }
}

const benchStarted = Date.now();

async function heading(text: string): Promise<void> {
  const load1 = loadavg()[0]!;
  const other = await foreignCpu(S.sampleMs);
  loads.push({
    scenario: text.slice(0, 70),
    load1: +load1.toFixed(2),
    otherCoresAtStart: other === null ? null : +other.toFixed(2),
    otherCoresMean: null,
    otherCoresMax: null,
    samples: [],
  });
  if (!monitor) {
    sampleForeign();
    monitor = setInterval(sampleForeign, 2000);
    monitor.unref();
  }
  console.log(
    `\n== ${text}   [t+${((Date.now() - benchStarted) / 1000).toFixed(0)} s; load ${load1.toFixed(2)}; other processes use ${other === null ? '?' : other.toFixed(2)} of ${cpus().length} cores]`,
  );
  if (other !== null && other > 0.2)
    console.log(`   WARNING: other processes use ${other.toFixed(2)} cores; figures will be low and noisy`);
}

/* ------------------------------------------------------------------ shared helpers */

interface StormOrg {
  fixture: OrgFixture;
  users: string[];
}

interface StormOutcome {
  requests: number;
  granted: number;
  denied: number;
  errors: number;
  inUse: number;
  /** The seats in use by each gateway's seatUsage (one entry per gateway of the storm). */
  inUseByGateway: number[];
  seconds: number;
  latenciesUs: Float64Array;
  denials: Record<string, number>;
  kinds: Record<string, number>;
  window: { fromUs: number; toUs: number };
}

/** Organizations with `agents` users each, keyed for capacity + emergency seats; users via SQL, key via the API. */
async function createStormOrgs(client: Api, prefix: string, orgs: number): Promise<OrgFixture[]> {
  const out: OrgFixture[] = [];
  for (let i = 0; i < orgs; i++) out.push(await createOrgFixture(client, `${prefix} ${i + 1}`));
  return out;
}

/** Single activations that failed, by organization size (reported once, at the end). */
const activationFailures = new Map<number, string>();

/**
 * Users by SQL, then the key through the API (see loadAndActivate: batches
 * when a single activation fails). `gw` names the gateway whose log explains a failure.
 */
async function populate(
  api: Api,
  sql: Sql,
  org: OrgFixture,
  users: number,
  capacity: number,
  emergency: number,
  gw?: Gateway,
): Promise<Activation> {
  const a = await loadAndActivate(api, sql, org, users, capacity, emergency);
  if (a.singleError) {
    const cause = gw ? lastError(gw.output()) : null;
    activationFailures.set(users, cause ?? a.singleError);
    console.log(
      `  activateLicenseKey for ${n(users)} users at once FAILED after ${a.singleMs!.toFixed(0)} ms (${(cause ?? a.singleError).slice(0, 200)}); loaded in ${a.batches} batches instead`,
    );
  }
  return a;
}

/** The message of the last error the gateway logged (LOG_LEVEL=warn keeps them). */
function lastError(output: string): string | null {
  const lines = output.split('\n').filter((l) => l.includes('"level":"error"') && l.includes('"err"'));
  const last = lines.at(-1);
  if (!last) return null;
  try {
    const parsed = JSON.parse(last) as { err?: { message?: string; stack?: string } };
    const at = /at (?:async )?([\w.]+) \(\/[^)]*?\/(src\/[^):]+)/.exec(parsed.err?.stack ?? '');
    return `${parsed.err?.message ?? '?'}${at ? ` (in ${at[1]}, ${at[2]})` : ''}`;
  } catch {
    return last.slice(0, 300);
  }
}

/** User and system (kernel) CPU time of process `pid` so far, ms (NaN when it is gone). */
function cpuTimesOf(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: (Number(rest[11]) * 1000) / 100, system: (Number(rest[12]) * 1000) / 100 };
  } catch {
    return { user: Number.NaN, system: Number.NaN };
  }
}

/** User + system CPU time of process `pid` so far, ms (NaN when it is gone). */
function cpuMsOf(pid: number): number {
  const t = cpuTimesOf(pid);
  return t.user + t.system;
}

/**
 * CPU used (user + system, ms) by a server under test (`serverSystem`: of
 * which in the kernel), by PostgreSQL and by this bench process (its HTTP
 * clients): so far, or per request (cpuPer).
 */
interface CpuSplit {
  server: number;
  serverSystem: number;
  postgres: number;
  bench: number;
}

/**
 * The postmaster's CPU, its live children's (the backends, the WAL writer …)
 * and that of the children it has reaped (cutime, cstime), ms; NaN without /proc.
 */
function postgresCpuMs(postmaster: number | null): number {
  if (postmaster === null) return Number.NaN;
  try {
    const stat = readFileSync(`/proc/${postmaster}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let ticks = Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14]);
    for (const p of processTimes().values()) if (p.ppid === postmaster) ticks += p.ticks;
    return (ticks * 1000) / 100;
  } catch {
    return Number.NaN;
  }
}

function cpuSplit(server: PgServer, serverPid: number): CpuSplit {
  const s = cpuTimesOf(serverPid);
  const own = process.cpuUsage();
  return {
    server: s.user + s.system,
    serverSystem: s.system,
    postgres: postgresCpuMs(server.pid()),
    bench: (own.user + own.system) / 1000,
  };
}

/** CPU per request between two splits, ms. */
function cpuPer(a: CpuSplit, b: CpuSplit, requests: number): CpuSplit {
  return {
    server: (b.server - a.server) / requests,
    serverSystem: (b.serverSystem - a.serverSystem) / requests,
    postgres: (b.postgres - a.postgres) / requests,
    bench: (b.bench - a.bench) / requests,
  };
}

const cpuTotal = (c: CpuSplit) => c.server + c.postgres + c.bench;

/** Interleaves the organizations' users (one of each in turn), so a multi-organization storm spreads over every pool. */
function interleave(orgs: StormOrg[]): { token: string; userId: string }[] {
  const items: { token: string; userId: string }[] = [];
  const longest = Math.max(...orgs.map((o) => o.users.length));
  for (let i = 0; i < longest; i++)
    for (const o of orgs) if (i < o.users.length) items.push({ token: o.fixture.tokens.AGENT_CLIENT, userId: o.users[i]! });
  return items;
}

/**
 * The storm through `client`, or split over several gateways' clients: item i
 * to gateway i mod n, each gateway with workers of its own (clients / n), so
 * each keeps its keep-alive sockets busy as one gateway does.
 */
async function runStorm(client: GqlClient | readonly GqlClient[], orgs: StormOrg[], clients: number): Promise<StormOutcome> {
  const gateways: readonly GqlClient[] = Array.isArray(client) ? client : [client as GqlClient];
  const items = interleave(orgs);
  const parts = await Promise.all(
    gateways.map((g, k) =>
      runLoad(
        items.filter((_, i) => i % gateways.length === k),
        Math.max(1, Math.round(clients / gateways.length)),
        (it) => startSession(g, it.token, it.userId),
      ),
    ),
  );
  // The storm runs from the first part's start to the last part's end (hrtime, bigint).
  let startedAt = parts[0]!.startedAt;
  let endedAt = parts[0]!.endedAt;
  for (const p of parts) {
    if (p.startedAt < startedAt) startedAt = p.startedAt;
    if (p.endedAt > endedAt) endedAt = p.endedAt;
  }
  const res = {
    results: parts.flatMap((p) => p.results),
    latenciesUs: Float64Array.from(parts.flatMap((p) => [...p.latenciesUs])),
    errors: parts.flatMap((p) => p.errors),
    startedAt,
    endedAt,
    seconds: Number(endedAt - startedAt) / 1e9,
  };
  const ok = res.results.filter((r): r is StartOutcome => r !== undefined);
  const denials: Record<string, number> = {};
  const kinds: Record<string, number> = {};
  for (const r of ok) {
    if (r.denial) denials[r.denial] = (denials[r.denial] ?? 0) + 1;
    if (r.seatKind) kinds[r.seatKind] = (kinds[r.seatKind] ?? 0) + 1;
  }
  // What every gateway's seatUsage says (the first one's is the figure; the others must agree).
  const inUseByGateway: number[] = [];
  for (const g of gateways) {
    let seen = 0;
    for (const o of orgs) seen += await seatsInUse(g, o.fixture);
    inUseByGateway.push(seen);
  }
  const inUse = inUseByGateway[0]!;
  if (res.errors.length) console.error(`  ${res.errors.length} request errors, e.g. ${res.errors[0]!.error}`);
  return {
    requests: items.length,
    granted: ok.filter((r) => r.granted).length,
    denied: ok.filter((r) => !r.granted).length,
    errors: res.errors.length,
    inUse,
    inUseByGateway,
    seconds: res.seconds,
    latenciesUs: res.latenciesUs,
    denials,
    kinds,
    window: { fromUs: Number(res.startedAt / 1000n), toUs: Number(res.endedAt / 1000n) },
  };
}

/** The exactness check of R-PERF-1 / R-CONC-4: fails the bench when seats are over- or under-allocated. */
function checkStorm(label: string, o: StormOutcome, expectGranted: number): void {
  const expectDenied = o.requests - expectGranted;
  const problems: string[] = [];
  if (o.granted !== expectGranted)
    problems.push(`granted ${o.granted}, expected exactly ${expectGranted}${o.granted > expectGranted ? ' (OVER-ALLOCATED)' : ''}`);
  if (o.denied !== expectDenied) problems.push(`denied ${o.denied}, expected ${expectDenied}`);
  if (o.errors) problems.push(`${o.errors} requests failed`);
  if (o.inUse !== o.granted) problems.push(`pool counters show ${o.inUse} seats in use for ${o.granted} granted sessions`);
  if (o.inUseByGateway.some((v) => v !== o.inUse)) problems.push(`the gateways' seatUsage disagree: ${o.inUseByGateway.join(' vs ')}`);
  const wrongDenials = Object.keys(o.denials).filter((c) => c !== 'NO_SEAT_AVAILABLE');
  if (wrongDenials.length) problems.push(`unexpected denials ${JSON.stringify(o.denials)}`);
  console.log(
    `  ${label}: ${n(o.requests)} requests in ${o.seconds.toFixed(2)} s: granted ${n(o.granted)} (${JSON.stringify(o.kinds)}), denied ${n(o.denied)} ${JSON.stringify(o.denials)}, errors ${o.errors}, pools in use ${n(o.inUse)}`,
  );
  if (problems.length) report.fail(`${label}: ${problems.join('; ')}`);
}

function stormFigures(
  scenario: string,
  label: string,
  o: StormOutcome,
  baseline: { label: string; tps: number } | null,
  target: boolean,
): void {
  const rate = o.requests / o.seconds;
  report.add({
    scenario,
    case: label,
    metric: 'startSession/s',
    value: rate,
    unit: '/s',
    ...(baseline ? { baseline: { label: baseline.label, value: baseline.tps } } : {}),
    ...(baseline && target ? { target: { text: '≥ 0.6× pgbench', pass: rate >= 0.6 * baseline.tps } } : {}),
    note: `${n(o.granted)} granted + ${n(o.denied)} denied`,
  });
  const s = summary(o.latenciesUs);
  report.add({ scenario, case: label, metric: 'latency p50', value: ms(s.p50), unit: 'ms' });
  report.add({ scenario, case: label, metric: 'latency p99', value: ms(s.p99), unit: 'ms' });
  report.add({ scenario, case: label, metric: 'latency max', value: ms(s.max), unit: 'ms' });
  report.add({
    scenario,
    case: label,
    metric: 'granted / denied',
    value: o.granted,
    unit: `granted / ${n(o.denied)} denied`,
    target: { text: 'exact', pass: o.errors === 0 && o.inUse === o.granted },
  });
}

function pgbenchLabel(r: PgbenchResult): string {
  return `pgbench ${r.shape === 'txn' ? 'take+release, 1 commit' : 'take, release: 2 commits'}, ${r.pools} pool${r.pools > 1 ? 's' : ''}, ${r.clients} client${r.clients > 1 ? 's' : ''}`;
}

/** pg_stat_statements (or pg_stat_database) for the gateway's database around `work`. */
async function countStatements<T>(
  server: PgServer,
  database: string,
  work: () => Promise<T>,
): Promise<{ result: T; statements: number; commits: number; top: { query: string; calls: number; meanMs: number; totalMs: number }[] }> {
  const statsDb = async () =>
    (await server.query<{ xact_commit: string }>('select xact_commit from pg_stat_database where datname = $1', [database]))[0]
      ?.xact_commit;
  let hasPss = true;
  try {
    await server.query('select pg_stat_statements_reset()', [], database);
  } catch {
    hasPss = false;
  }
  await server.query('select pg_stat_clear_snapshot()');
  const before = Number(await statsDb());
  const result = await work();
  await sleep(600); // pg_stat_database is flushed at most every 500 ms (PostgreSQL 15)
  await server.query('select pg_stat_clear_snapshot()');
  const commits = Number(await statsDb()) - before;
  if (!hasPss) return { result, statements: Number.NaN, commits, top: [] };
  const rows = await server.query<{ query: string; calls: string; mean: number; total: number }>(
    `select query, calls, mean_exec_time as mean, total_exec_time as total from pg_stat_statements
     where dbid = (select oid from pg_database where datname = $1) and query not ilike '%pg_stat%'
     order by total_exec_time desc`,
    [database],
    database,
  );
  const statements = rows.reduce((a, r) => a + Number(r.calls), 0);
  return {
    result,
    statements,
    commits,
    top: rows
      .slice(0, 12)
      .map((r) => ({ query: r.query.replace(/\s+/g, ' ').slice(0, 160), calls: Number(r.calls), meanMs: r.mean, totalMs: r.total })),
  };
}

/* ------------------------------------------------------------------ subscribers (R-PERF-3) */

/** One forked bench/subscribers.ts process and its IPC requests. */
class SubscriberProcess {
  readonly child: ChildProcess;
  readonly #untrack: () => void;
  #nextId = 1;
  readonly #pending = new Map<number, (m: Record<string, unknown>) => void>();
  #ready: ((m: Record<string, unknown>) => void) | null = null;

  constructor(index: number) {
    // A directory per process: tsx's loader thread writes a profile of its own.
    const prof = opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir, `subscribers-${Date.now()}-${index}`)}`] : [];
    this.child = fork(join(ROOT, 'bench', 'subscribers.ts'), [], {
      cwd: ROOT,
      execArgv: [...prof, '--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#untrack = ownChild('subscribers', this.child);
    this.child.on('message', (raw) => {
      const m = raw as Record<string, unknown>;
      if (m.type === 'ready') this.#ready?.(m);
      else if (m.type === 'error') console.error(`subscribers: ${String(m.message)}`);
      else if (typeof m.id === 'number') {
        this.#pending.get(m.id)?.(m);
        this.#pending.delete(m.id);
      }
    });
  }

  start(url: string, token: string, organizationId: string, count: number): Promise<{ connected: number; failed: number; ms: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('subscribers did not connect in 180 s')), 180_000);
      this.#ready = (m) => {
        clearTimeout(timer);
        resolve(m as never);
      };
      this.child.send({ type: 'start', url: url.replace(/^http/, 'ws'), token, organizationId, product: SEAT, count });
    });
  }

  ask<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#pending.set(id, (m) => resolve(m as T));
      this.child.send({ ...message, id });
    });
  }

  send(message: Record<string, unknown>): void {
    this.child.send(message);
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.send({ type: 'stop' });
    await stopChild(this.child, 'SIGTERM', 8000);
    this.#untrack();
  }
}

/** Subscribers per subscriber process: above this the bench forks more processes (see Subscribers). */
const SUBSCRIBERS_PER_PROCESS = 1250;

/**
 * `count` graphql-ws subscribers in ceil(count / SUBSCRIBERS_PER_PROCESS)
 * processes (at most 4, --subscriber-processes N to choose), split evenly.
 * One process receiving 5,000 frames per change measured its own event loop
 * rather than the server: frames queue behind the parsing of earlier ones.
 * Every process stamps arrivals with process.hrtime.bigint()
 * (CLOCK_MONOTONIC, one clock for all processes), so the first and last
 * receipt of a change are the minimum and maximum over the processes. The
 * bare graphql-ws baseline uses the same split.
 */
class Subscribers {
  #procs: SubscriberProcess[] = [];

  async start(
    url: string,
    token: string,
    organizationId: string,
    count: number,
  ): Promise<{ connected: number; failed: number; ms: number }> {
    const k = Math.max(1, Math.min(count, opts.subscriberProcesses ?? Math.min(4, Math.ceil(count / SUBSCRIBERS_PER_PROCESS))));
    this.#procs = Array.from({ length: k }, (_, i) => new SubscriberProcess(i));
    const parts = this.#procs.map((p, i) => p.start(url, token, organizationId, Math.floor(count / k) + (i < count % k ? 1 : 0)));
    const all = await Promise.all(parts);
    return {
      connected: all.reduce((a, r) => a + r.connected, 0),
      failed: all.reduce((a, r) => a + r.failed, 0),
      ms: Math.max(...all.map((r) => r.ms)),
    };
  }

  get processes(): number {
    return this.#procs.length;
  }

  /** When every subscriber had seen `total` seats in use: first and last receipt (hrtime ns), or null after the timeout. */
  async reached(total: number, timeoutMs = 30_000): Promise<{ first: bigint; last: bigint } | { missing: number }> {
    const all = await Promise.all(
      this.#procs.map((p) => p.ask<{ first: string | null; last: string | null; missing: number }>({ type: 'await', total, timeoutMs })),
    );
    if (all.every((m) => m.first && m.last)) {
      // BigInt hrtime readings (Math.min/max take numbers only).
      const firsts = all.map((m) => BigInt(m.first!)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      const lasts = all.map((m) => BigInt(m.last!)).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
      return { first: firsts[0]!, last: lasts.at(-1)! };
    }
    return { missing: all.reduce((a, m) => a + (m.first && m.last ? 0 : m.missing), 0) };
  }

  reset(): void {
    for (const p of this.#procs) p.send({ type: 'reset' });
  }

  async stats(): Promise<{
    subscribers: number;
    minMessages: number;
    maxMessages: number;
    meanMessages: number;
    lastTotals: Record<string, number>;
    errors: number;
    rss: number;
  }> {
    const all = await Promise.all(
      this.#procs.map((p) =>
        p.ask<{
          subscribers: number;
          minMessages: number;
          maxMessages: number;
          meanMessages: number;
          lastTotals: Record<string, number>;
          errors: number;
          rss: number;
        }>({ type: 'stats' }),
      ),
    );
    const subscribers = all.reduce((a, m) => a + m.subscribers, 0);
    const lastTotals: Record<string, number> = {};
    for (const m of all) for (const [total, k] of Object.entries(m.lastTotals)) lastTotals[total] = (lastTotals[total] ?? 0) + k;
    return {
      subscribers,
      minMessages: Math.min(...all.map((m) => m.minMessages)),
      maxMessages: Math.max(...all.map((m) => m.maxMessages)),
      meanMessages: all.reduce((a, m) => a + m.meanMessages * m.subscribers, 0) / Math.max(1, subscribers),
      lastTotals,
      errors: all.reduce((a, m) => a + m.errors, 0),
      rss: all.reduce((a, m) => a + m.rss, 0),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop()));
  }
}

/* ------------------------------------------------------------------ machine facts */

function machineFacts(): Record<string, unknown> {
  const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).stdout?.trim() ?? '';
  return {
    nproc: sh('nproc', []),
    cpu: cpus()[0]?.model ?? '?',
    memory: sh('free', ['-h']),
    totalMemGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemGiB: +(freemem() / 2 ** 30).toFixed(1),
    node: process.version,
    kernel: sh('uname', ['-sr']),
    disk: sh('df', ['-h', tmpdir()]).split('\n').slice(-1)[0],
    smoke: opts.smoke,
    gatewayPoolSize: opts.poolSize,
    synchronousCommit: opts.syncCommit,
    postgresConnection: opts.unixSocket ? 'unix socket' : 'tcp 127.0.0.1',
    gitHead: sh('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    gitDirty: sh('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']).split('\n').filter(Boolean).length,
  };
}

/* ------------------------------------------------------------------ PostgreSQL scenarios */

interface PgEnv {
  server: PgServer;
  gw: Gateway;
  client: GqlClient;
  sql: Sql;
  dbName: string;
  /** /metrics of the gateway right after start (idle). */
  idle: Record<string, number>;
}

/** pgbench take+release in one transaction on 1 pool and on the multi-organization storm's pools (the storms' baselines). */
async function stormBaselines(server: PgEnv['server']) {
  const { storm, multi } = S;
  const db1 = await prepareBaseline(server, 1);
  const db100 = await prepareBaseline(server, multi.orgs);
  const pg1 = await pgbench(server, { database: db1, pools: 1, shape: 'txn', clients: storm.clients, seconds: S.pgbenchSeconds });
  const pg100 = await pgbench(server, {
    database: db100,
    pools: multi.orgs,
    shape: 'txn',
    clients: multi.clients,
    seconds: S.pgbenchSeconds,
  });
  console.log(`  ${pgbenchLabel(pg1)}: ${pg1.tps.toFixed(0)}/s; ${pgbenchLabel(pg100)}: ${pg100.tps.toFixed(0)}/s`);
  return { db1, db100, pg1, pg100 };
}

async function scenarioStorm(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  const { storm, multi } = S;
  await heading(
    `R-PERF-1 login storm on PostgreSQL: ${n(storm.agents)} agents of 1 organization (pool ${n(storm.capacity)} + ${n(storm.emergency)} emergency) and ${multi.orgs} organizations × ${multi.agents}, ${storm.clients} clients`,
  );

  // Baselines first (same server, same statements): pgbench and bare yoga+pg.
  const { db1, db100, pg1, pg100 } = await stormBaselines(server);
  const pairs: PgbenchResult[] = [];
  if (S.pairs) {
    pairs.push(await pgbench(server, { database: db1, pools: 1, shape: 'pair', clients: storm.clients, seconds: S.pgbenchSeconds }));
    pairs.push(
      await pgbench(server, { database: db100, pools: multi.orgs, shape: 'pair', clients: multi.clients, seconds: S.pgbenchSeconds }),
    );
  }
  // One bare yoga+pg server (on the 100-pool database) for the baseline and the paired rounds: started and warmed up once.
  const bareServer = await startBare('bare yoga+pg', { BARE_DATABASE_URL: server.url(db100), POOL_SIZE: String(opts.poolSize) });
  try {
    const bare = await bareBaseline(server, bareServer, storm.clients, multi.orgs);

    // A warm-up storm on an organization of its own, as the bare baseline has its warm-up run: the first
    // thousand requests of a process also pay for V8's compiling its code (on threads of its own, counted in its CPU).
    const [warm] = await createStormOrgs(client, 'Warm-up', 1);
    await populate(client, sql, warm!, storm.warmup, storm.warmup, 0, env.gw);
    const warmed = await runStorm(client, [{ fixture: warm!, users: await userIdsOf(sql, warm!.organizationId) }], storm.clients);
    checkStorm('warm-up storm', warmed, storm.warmup);

    // 1 organization.
    const [one] = await createStormOrgs(client, 'Storm', 1);
    const act = await populate(client, sql, one!, storm.agents, storm.capacity, storm.emergency, env.gw);
    console.log(
      `  activation of the storm key with ${n(storm.agents)} users: ${act.ms.toFixed(0)} ms${act.mode === 'batches' ? ` (last of ${act.batches} batches)` : ''}`,
    );
    const orgs1: StormOrg[] = [{ fixture: one!, users: await userIdsOf(sql, one!.organizationId) }];
    const split1 = cpuSplit(server, env.gw.pid);
    const counted = await countStatements(server, env.dbName, () => runStorm(client, orgs1, storm.clients));
    const perStart1 = cpuPer(split1, cpuSplit(server, env.gw.pid), counted.result.requests);
    const o1 = counted.result;
    checkStorm('1 organization', o1, storm.capacity + storm.emergency);
    const label1 = `PostgreSQL, 1 org × ${n(storm.agents)}, pool ${n(storm.capacity)}+${n(storm.emergency)}, ${storm.clients} clients`;
    stormFigures('R-PERF-1 login storm', label1, o1, { label: pgbenchLabel(pg1), tps: pg1.tps }, true);
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label1,
      metric: 'vs bare yoga+pg',
      value: o1.requests / o1.seconds,
      unit: '/s',
      baseline: { label: `bare yoga+pg, same transaction, 1 pool, ${storm.clients} clients`, value: bare.onePool },
    });
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label1,
      metric: 'gateway CPU per startSession',
      value: perStart1.server,
      unit: 'ms',
      baseline: { label: 'bare yoga+pg, CPU per request, same storm', value: bare.split.server },
      note: `of which ${fmt(perStart1.serverSystem)} ms in the kernel (bare: ${fmt(bare.split.serverSystem)} ms)`,
    });
    cpuSplitFigures(label1, perStart1, bare.split);
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label1,
      metric: 'SQL statements per startSession',
      value: counted.statements / o1.requests,
      unit: 'stmts',
      note: `${(counted.commits / o1.requests).toFixed(2)} transactions per request (pg_stat_database.xact_commit; each autocommit statement counts)`,
    });
    for (const p of pairs.filter((p) => p.pools === 1))
      report.add({
        scenario: 'R-PERF-1 login storm',
        case: label1,
        metric: 'vs pgbench pair',
        value: o1.requests / o1.seconds,
        unit: '/s',
        baseline: { label: pgbenchLabel(p), value: p.tps },
      });
    report.extra.stormStatements = counted.top;
    console.log('  top statements of the storm (pg_stat_statements, by total time):');
    for (const t of counted.top)
      console.log(
        `    ${String(t.calls).padStart(6)} calls ${t.meanMs.toFixed(3).padStart(8)} ms mean ${t.totalMs.toFixed(0).padStart(7)} ms total  ${t.query}`,
      );

    // The same-work floor: pgbench running the gateway's own start statement (same checks and writes).
    const floor = await sameWorkFloor(env, storm.clients, S.pairs ? 100 : 10);
    await sameWorkFloor(env, storm.clients, S.pairs ? 100 : 10, 'prepared');
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label1,
      metric: 'vs same-work pgbench',
      value: o1.requests / o1.seconds,
      unit: '/s',
      baseline: { label: `pgbench running the gateway's start statement, 1 pool, ${storm.clients} clients`, value: floor.tps },
    });
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: `same-work floor: pgbench, the gateway's start statement, 1 pool, ${storm.clients} clients`,
      metric: 'starts/s',
      value: floor.tps,
      unit: '/s',
      baseline: { label: pgbenchLabel(pg1), value: pg1.tps },
      target: { text: 'every execution started a session', pass: floor.started === floor.executions },
      note: `${n(floor.started)} of ${n(floor.executions)} executions started a session; p50 ${fmt(ms(summary(floor.result.latenciesUs).p50))} ms`,
    });

    // 100 organizations.
    const fixtures = await createStormOrgs(client, 'Multi', multi.orgs);
    for (const f of fixtures) await populate(client, sql, f, multi.agents, multi.capacity, multi.emergency, env.gw);
    const orgs100: StormOrg[] = [];
    for (const f of fixtures) orgs100.push({ fixture: f, users: await userIdsOf(sql, f.organizationId) });
    const split100 = cpuSplit(server, env.gw.pid);
    const counted100 = await countStatements(server, env.dbName, () => runStorm(client, orgs100, multi.clients));
    const o100 = counted100.result;
    const perStart100 = cpuPer(split100, cpuSplit(server, env.gw.pid), o100.requests);
    console.log(`  top statements of the ${multi.orgs}-organization storm (pg_stat_statements, by total time):`);
    for (const t of counted100.top.slice(0, 6))
      console.log(
        `    ${String(t.calls).padStart(6)} calls ${t.meanMs.toFixed(3).padStart(8)} ms mean ${t.totalMs.toFixed(0).padStart(7)} ms total  ${t.query}`,
      );
    checkStorm(`${multi.orgs} organizations`, o100, multi.orgs * (multi.capacity + multi.emergency));
    const label100 = `PostgreSQL, ${multi.orgs} orgs × ${multi.agents}, pools ${multi.capacity}+${multi.emergency}, ${multi.clients} clients`;
    stormFigures('R-PERF-1 login storm', label100, o100, { label: pgbenchLabel(pg100), tps: pg100.tps }, true);
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label100,
      metric: 'vs bare yoga+pg',
      value: o100.requests / o100.seconds,
      unit: '/s',
      baseline: { label: `bare yoga+pg, same transaction, ${multi.orgs} pools, ${multi.clients} clients`, value: bare.manyPools },
    });
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: label100,
      metric: 'gateway CPU per startSession',
      value: perStart100.server,
      unit: 'ms',
      baseline: { label: 'bare yoga+pg, CPU per request, same storm', value: bare.split.server },
      note: `user + system time of the gateway process (/proc), robust to other load: the cost of the request path itself; of which ${fmt(perStart100.serverSystem)} ms in the kernel (bare: ${fmt(bare.split.serverSystem)} ms)`,
    });
    cpuSplitFigures(label100, perStart100, bare.split);
    for (const p of pairs.filter((p) => p.pools > 1))
      report.add({
        scenario: 'R-PERF-1 login storm',
        case: label100,
        metric: 'vs pgbench pair',
        value: o100.requests / o100.seconds,
        unit: '/s',
        baseline: { label: pgbenchLabel(p), value: p.tps },
      });
    await pairedStormRounds(env, bareServer, label100);
    report.add({
      scenario: 'R-PERF-1 login storm',
      case: 'pgbench baseline',
      metric: 'latency p50 / p99',
      value: ms(summary(pg1.latenciesUs).p50),
      unit: `ms / ${fmt(ms(summary(pg1.latenciesUs).p99))} ms`,
      note: pgbenchLabel(pg1),
    });
  } finally {
    await bareServer.stop();
  }
}

/**
 * Waits until PostgreSQL (every process of it: autovacuum after a storm's
 * inserts, the checkpointer) and the given processes together use under 5 %
 * of one core over half a second, at most `maxMs`. A timed run that starts while the previous one's
 * aftermath still runs shares the 2 cores with it.
 */
async function quiet(server: PgServer, pids: readonly number[], maxMs = 30_000): Promise<void> {
  const busy = () => postgresCpuMs(server.pid()) + pids.reduce((a, pid) => a + cpuMsOf(pid), 0);
  const started = performance.now();
  let last = busy();
  for (;;) {
    await sleep(500);
    const now = busy();
    if (!(now - last >= 25) || performance.now() - started >= maxMs) return;
    last = now;
  }
}

/**
 * Item 1's ratio (the 100-organization storm against bare yoga+pg), in
 * paired rounds. This machine's speed drifts by up to a third from one
 * minute to the next (the bare server's CPU per request was 0.39–0.56 ms in
 * runs minutes apart), more than the gap being judged, so one bare run
 * minutes before one gateway run says little. Each round runs the bare
 * server's 100-pool load and a storm of 100 fresh organizations back to back,
 * the same number of requests each, alternating which goes first; the figure
 * is the round with the median ratio, and the note gives every round.
 */
async function pairedStormRounds(env: PgEnv, bare: { port: number; pid: number }, label100: string): Promise<void> {
  const { server, client, sql } = env;
  const { multi } = S;
  const requests = multi.orgs * multi.agents;
  const bareClient = new GqlClient(`http://127.0.0.1:${bare.port}/graphql`, multi.clients);
  /** `idle`: the CPU the other server (idle, not under load) used meanwhile, ms per request of this run. */
  type Run = { rate: number; cpu: CpuSplit; idle: number };
  const bareLoad = (count: number) => bareCheckouts(bareClient, count, multi.orgs, multi.clients);
  // Each timed run comes right after an untimed warm-up of the same server's hot path: without it, a bare server
  // left idle while the gateway ran (and the next organizations were loaded) came back at up to twice its CPU per
  // request, which favoured the gateway.
  const bareRun = async (): Promise<Run> => {
    await bareLoad(S.storm.warmup);
    await quiet(server, [bare.pid, env.gw.pid]);
    const before = cpuSplit(server, bare.pid);
    const gwBefore = cpuMsOf(env.gw.pid);
    const res = await bareLoad(requests);
    const idle = (cpuMsOf(env.gw.pid) - gwBefore) / requests;
    return { rate: requests / res.seconds, cpu: cpuPer(before, cpuSplit(server, bare.pid), requests), idle };
  };
  const rounds: { bare: Run; gateway: Run; ratio: number }[] = [];
  try {
    // The server is bareBaseline's, already warmed up by its runs; each timed run below has a warm-up of its own.
    for (let r = 0; r < S.pairedRounds; r++) {
      // Outside the timed runs: the organizations, their users and keys, and an organization for the warm-up.
      const fixtures = await createStormOrgs(client, `Paired ${r + 1}`, multi.orgs);
      const orgs: StormOrg[] = [];
      for (const f of fixtures) {
        await populate(client, sql, f, multi.agents, multi.capacity, multi.emergency, env.gw);
        orgs.push({ fixture: f, users: await userIdsOf(sql, f.organizationId) });
      }
      const [warm] = await createStormOrgs(client, `Paired warm-up ${r + 1}`, 1);
      await populate(client, sql, warm!, S.storm.warmup, S.storm.warmup, 0, env.gw);
      const warmOrg: StormOrg[] = [{ fixture: warm!, users: await userIdsOf(sql, warm!.organizationId) }];
      const gatewayRun = async (): Promise<Run> => {
        checkStorm(`paired warm-up ${r + 1}`, await runStorm(client, warmOrg, multi.clients), S.storm.warmup);
        await quiet(server, [bare.pid, env.gw.pid]);
        const before = cpuSplit(server, env.gw.pid);
        const bareBefore = cpuMsOf(bare.pid);
        const o = await runStorm(client, orgs, multi.clients);
        const idle = (cpuMsOf(bare.pid) - bareBefore) / o.requests;
        checkStorm(`paired round ${r + 1}`, o, multi.orgs * (multi.capacity + multi.emergency));
        return { rate: o.requests / o.seconds, cpu: cpuPer(before, cpuSplit(server, env.gw.pid), o.requests), idle };
      };
      let b: Run;
      let g: Run;
      if (r % 2 === 0) {
        b = await bareRun();
        g = await gatewayRun();
      } else {
        g = await gatewayRun();
        b = await bareRun();
      }
      rounds.push({ bare: b, gateway: g, ratio: g.rate / b.rate });
      console.log(
        `  paired round ${r + 1}: bare yoga+pg ${b.rate.toFixed(0)}/s, gateway ${g.rate.toFixed(0)}/s (${(g.rate / b.rate).toFixed(2)}×); CPU per request bare ${fmt(b.cpu.server)} ms, gateway ${fmt(g.cpu.server)} ms (${(g.cpu.server / b.cpu.server).toFixed(2)}×); PostgreSQL ${fmt(b.cpu.postgres)} / ${fmt(g.cpu.postgres)} ms; the idle other server ${fmt(b.idle)} / ${fmt(g.idle)} ms`,
      );
    }
  } finally {
    bareClient.close();
  }
  /** The round whose `key` is the median (the lower middle one of an even number), and every round's key in order. */
  const medianRound = (key: (x: (typeof rounds)[number]) => number) => ({
    round: [...rounds].sort((x, y) => key(x) - key(y))[(rounds.length - 1) >> 1]!,
    all: rounds.map((x) => `${key(x).toFixed(2)}×`).join(', '),
  });
  const { round: mid, all } = medianRound((x) => x.ratio);
  report.add({
    scenario: 'R-PERF-1 login storm',
    case: `${label100}, ${rounds.length} paired rounds`,
    metric: 'vs bare yoga+pg, median round',
    value: mid.gateway.rate,
    unit: '/s',
    baseline: {
      label: `bare yoga+pg, same transaction, ${multi.orgs} pools, ${multi.clients} clients, run next to it`,
      value: mid.bare.rate,
    },
    target: { text: '≥ 0.7× bare yoga+pg', pass: mid.ratio >= 0.7 },
    note: `rounds in order: ${all}`,
  });
  const { round: midCpu, all: allCpu } = medianRound((x) => x.gateway.cpu.server / x.bare.cpu.server);
  report.add({
    scenario: 'R-PERF-1 login storm',
    case: `${label100}, ${rounds.length} paired rounds`,
    metric: 'gateway CPU per startSession, median round',
    value: midCpu.gateway.cpu.server,
    unit: 'ms',
    baseline: { label: 'bare yoga+pg, CPU per request, run next to it', value: midCpu.bare.cpu.server },
    note: `rounds in order: ${allCpu}`,
  });
}

/** PgBouncer's server connections for the two gateways of the pooler scenario (each has DATABASE_POOL_SIZE clients). */
const POOLER_SERVER_CONNECTIONS = 10;

/**
 * The deployment behind a pooler: PgBouncer in transaction mode in front of the
 * bench's PostgreSQL, two gateways whose pools go through it (LISTEN and
 * migrations direct, DATABASE_LISTEN_URL), the login storm of the storm
 * scenario (1 organization, then many) split over both. Next to it, same run:
 * the same two gateways with DATABASE_URL direct, and pgbench.
 */
async function scenarioPooler(server: PgServer): Promise<void> {
  if (!HAVE_PGBOUNCER) {
    // Asked for by name: a failure; in a full or smoke run: said, and skipped (.ci/run installs PgBouncer).
    if (opts.only?.has('pooler')) report.fail(`pooler: PgBouncer is not installed at ${PGBOUNCER} (apt-get install pgbouncer)`);
    else console.log(`WARNING: PgBouncer is not installed at ${PGBOUNCER}: the pooler scenario is skipped`);
    return;
  }
  const { storm, multi } = S;
  const scenario = 'login storm behind PgBouncer';
  await heading(
    `Login storm through PgBouncer (transaction mode, ${POOLER_SERVER_CONNECTIONS} server connections) with two gateways: ${n(storm.agents)} agents of 1 organization and ${multi.orgs} organizations × ${multi.agents}, ${storm.clients} clients`,
  );
  const { pg1, pg100 } = await stormBaselines(server);

  const dbName = 'gateway_pooler';
  const direct = await server.createDatabase(dbName);
  // PgBouncer refuses statement_timeout as a startup parameter: the timeout lives on the database (docs/operations.md).
  await server.query(`alter database ${dbName} set statement_timeout = '15s'`);
  const bouncer = await startPgBouncer({
    databases: { [dbName]: direct },
    poolMode: 'transaction',
    defaultPoolSize: POOLER_SERVER_CONNECTIONS,
    maxClientConn: 500,
  });
  const untrack = onCleanup(
    'pgbouncer',
    () => bouncer.stop(),
    () => process.kill(bouncer.pid, 'SIGKILL'),
  );
  const sql = pgSql(direct);
  const pairs: { label: string; via: 'direct' | 'pgbouncer'; o1: StormOutcome; o100: StormOutcome }[] = [];
  try {
    for (const via of ['direct', 'pgbouncer'] as const) {
      const env = { DATABASE_LISTEN_URL: direct, DATABASE_STATEMENT_TIMEOUT_MS: '0' };
      const databaseUrl = via === 'direct' ? direct : bouncer.url(dbName);
      const gateways = await Promise.all(
        ['A', 'B'].map((name) =>
          startGateway({ label: `${via} ${name}`, databaseUrl, publicKey: VENDOR.publicKey, poolSize: opts.poolSize, env }),
        ),
      );
      const clients = gateways.map((g) => new GqlClient(g.url, 128));
      try {
        const [one] = await createStormOrgs(clients[0]!, `Pooler ${via}`, 1);
        await populate(clients[0]!, sql, one!, storm.agents, storm.capacity, storm.emergency, gateways[0]);
        const o1 = await runStorm(clients, [{ fixture: one!, users: await userIdsOf(sql, one!.organizationId) }], storm.clients);
        checkStorm(`${via}, two gateways, 1 organization`, o1, storm.capacity + storm.emergency);
        const fixtures = await createStormOrgs(clients[0]!, `Pooler ${via} multi`, multi.orgs);
        for (const f of fixtures) await populate(clients[0]!, sql, f, multi.agents, multi.capacity, multi.emergency, gateways[0]);
        const orgs: StormOrg[] = [];
        for (const f of fixtures) orgs.push({ fixture: f, users: await userIdsOf(sql, f.organizationId) });
        const o100 = await runStorm(clients, orgs, multi.clients);
        checkStorm(`${via}, two gateways, ${multi.orgs} organizations`, o100, multi.orgs * (multi.capacity + multi.emergency));
        pairs.push({ label: via, via, o1, o100 });
        if (via === 'pgbouncer') {
          const servers = (await bouncer.show<{ database: string }>('SERVERS')).filter((r) => r.database === dbName).length;
          console.log(
            `  PgBouncer: ${servers} server connections to ${dbName} after the storms (default_pool_size ${POOLER_SERVER_CONNECTIONS})`,
          );
          if (servers > POOLER_SERVER_CONNECTIONS)
            report.fail(`PgBouncer opened ${servers} server connections, more than ${POOLER_SERVER_CONNECTIONS}`);
        }
      } finally {
        for (const c of clients) c.close();
        await Promise.all(gateways.map((g) => g.stop()));
      }
    }
  } finally {
    await sql.close();
    await bouncer.stop();
    untrack();
  }
  const [directPair, pooled] = pairs;
  if (!directPair || !pooled) return;
  const rate = (o: StormOutcome) => o.requests / o.seconds;
  const gatewaysNote = `2 gateways × DATABASE_POOL_SIZE ${opts.poolSize}`;
  for (const [o, base, pgb, label] of [
    [
      pooled.o1,
      directPair.o1,
      pg1,
      `PgBouncer transaction mode (${POOLER_SERVER_CONNECTIONS} server conns), 1 org × ${n(storm.agents)}, ${storm.clients} clients`,
    ],
    [
      pooled.o100,
      directPair.o100,
      pg100,
      `PgBouncer transaction mode (${POOLER_SERVER_CONNECTIONS} server conns), ${multi.orgs} orgs × ${multi.agents}, ${multi.clients} clients`,
    ],
  ] as const) {
    stormFigures(scenario, label, o, { label: pgbenchLabel(pgb), tps: pgb.tps }, false);
    report.add({
      scenario,
      case: label,
      metric: 'vs the same two gateways direct',
      value: rate(o),
      unit: '/s',
      baseline: { label: `${gatewaysNote}, DATABASE_URL direct, same storm`, value: rate(base) },
      note: `direct: p50 ${fmt(ms(summary(base.latenciesUs).p50))} ms, p99 ${fmt(ms(summary(base.latenciesUs).p99))} ms`,
    });
  }
}

/**
 * pgbench running the gateway's one-statement start (sameWorkScript) on an
 * organization of its own in the gateway's database: `clients` × `perClient`
 * starts, each of a user who has none open, on one pool large enough for all.
 */
async function sameWorkFloor(
  env: PgEnv,
  clients: number,
  perClient: number,
  protocol: 'extended' | 'prepared' = 'extended',
): Promise<{ tps: number; executions: number; started: number; result: PgbenchResult }> {
  const { server, client, sql } = env;
  const users = clients * perClient;
  const [fixture] = await createStormOrgs(client, `Floor ${protocol}`, 1);
  await populate(client, sql, fixture!, users, users, 0, env.gw);
  const org = fixture!.organizationId;
  await setUpSameWork((text, params) => sql.query(text, params), org);
  const [row] = await sql.query<{ revision: string; clock_high_water: Date | null }>(
    'select revision, clock_high_water from organizations where id = $1::uuid',
    [org],
  );
  const script = sameWorkScript({
    organizationId: org,
    revision: Number(row!.revision),
    highWater: row!.clock_high_water ? row!.clock_high_water.toISOString() : null,
    product: SEAT,
  });
  const result = await pgbench(server, {
    database: env.dbName,
    pools: 1,
    shape: 'same-work',
    clients,
    seconds: 0,
    script,
    transactionsPerClient: perClient,
    protocol,
  });
  const [count] = await sql.query<{ n: string }>(
    'select count(*) as n from sessions where organization_id = $1::uuid and ended_at is null',
    [org],
  );
  const started = Number(count?.n ?? 0);
  console.log(`  same-work pgbench (${protocol}): ${result.tps.toFixed(0)}/s; ${started} of ${users} executions started a session`);
  await tearDownSameWork((text, params) => sql.query(text, params));
  return { tps: result.tps, executions: users, started, result };
}

/** Starts a baseline server (bench/bare.ts, or `script`) on a free port and waits for its /readyz; `stop` ends it. */
async function startBare(
  label: string,
  env: Record<string, string>,
  script = 'bench/bare.ts',
): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: ROOT,
    env: { ...process.env, ...env, PORT: String(port) },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const untrack = ownChild(label, child);
  const stop = async () => {
    await stopChild(child, 'SIGTERM', 5000);
    untrack();
  };
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok) break;
      } catch {
        if (i > 600) throw new Error(`${label} server did not start`);
      }
      await sleep(10);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { port, pid: child.pid!, stop };
}

/**
 * Latencies (µs) of the bare yoga+pg server (bench/bare.ts) writing the pool
 * row in one autocommit statement (its `touch` mutation), `count` calls per
 * worker after `warmup`: what HTTP, Yoga and one pg round trip cost on this
 * machine, the floor under a single checkout's latency. Also, on one
 * connection, the same server answering `{ ok }` (no database at all): what
 * HTTP and Yoga alone cost.
 */
async function bareCheckoutLatencies(
  server: PgServer,
  database: string,
  connections: readonly number[],
  count: number,
  warmup: number,
): Promise<{ touch: Map<number, Float64Array>; yogaAlone: Float64Array }> {
  const bare = await startBare('bare yoga+pg', { BARE_DATABASE_URL: server.url(database), POOL_SIZE: String(opts.poolSize) });
  const client = new GqlClient(`http://127.0.0.1:${bare.port}/graphql`, Math.max(...connections));
  try {
    const call = () => client.ok(`mutation($p: Int!) { touch(pool: $p) }`, { p: 1 });
    await runLoad(Array.from({ length: warmup }), 1, call);
    const out = new Map<number, Float64Array>();
    for (const conns of connections) {
      const res = await runLoad(Array.from({ length: count * conns }), conns, call);
      if (res.errors.length) throw new Error(`bare checkout: ${res.errors[0]!.error}`);
      out.set(conns, res.latenciesUs);
    }
    const alone = await runLoad(Array.from({ length: count }), 1, () => client.ok(`{ ok }`));
    if (alone.errors.length) throw new Error(`bare { ok }: ${alone.errors[0]!.error}`);
    return { touch: out, yogaAlone: alone.latenciesUs };
  } finally {
    client.close();
    await bare.stop();
  }
}

/**
 * Where a storm's CPU goes, per start, next to the bare yoga+pg server's per
 * request in its 100-pool run: PostgreSQL (every backend: the start's one
 * statement against the bare server's two UPDATEs), the bench's own HTTP
 * clients, and the sum with the gateway's. On a machine whose cores are all
 * busy, throughput cannot pass cores / that sum.
 */
function cpuSplitFigures(label: string, gateway: CpuSplit, bare: CpuSplit): void {
  const scenario = 'R-PERF-1 login storm';
  const baseline = (value: number, what: string) => ({ label: `bare yoga+pg, ${what} per request, ${S.multi.orgs} pools`, value });
  report.add({
    scenario,
    case: label,
    metric: 'PostgreSQL CPU per startSession',
    value: gateway.postgres,
    unit: 'ms',
    baseline: baseline(bare.postgres, 'PostgreSQL CPU'),
    note: 'the postmaster, its backends and the children it reaped (/proc)',
  });
  report.add({
    scenario,
    case: label,
    metric: 'bench clients CPU per startSession',
    value: gateway.bench,
    unit: 'ms',
    baseline: baseline(bare.bench, 'bench clients CPU'),
  });
  const cores = availableParallelism();
  report.add({
    scenario,
    case: label,
    metric: 'CPU per startSession, gateway + PostgreSQL + clients',
    value: cpuTotal(gateway),
    unit: 'ms',
    baseline: baseline(cpuTotal(bare), 'the same sum'),
    note: `on ${cores} cores at most ${n(Math.round((cores * 1000) / cpuTotal(gateway)))} /s (bare: ${n(Math.round((cores * 1000) / cpuTotal(bare)))} /s)`,
  });
}

/** `count` checkouts (take + release in one transaction) on the bare yoga+pg server, spread over `pools` pools, by `clients` workers. */
async function bareCheckouts(client: GqlClient, count: number, pools: number, clients: number) {
  const items = Array.from({ length: count }, (_, i) => (i % pools) + 1);
  const res = await runLoad(items, clients, (pool) => client.ok(`mutation($p: Int!) { checkout(pool: $p) }`, { p: pool }));
  if (res.errors.length) throw new Error(`bare baseline: ${res.errors[0]!.error}`);
  return res;
}

/** The bare yoga+pg server `bare` (bench/bare.ts) under the storm's concurrency: a warm-up, then 1 pool, then `pools` pools. */
async function bareBaseline(
  server: PgServer,
  bare: { port: number; pid: number },
  clients: number,
  pools: number,
): Promise<{ onePool: number; manyPools: number; split: CpuSplit }> {
  const client = new GqlClient(`http://127.0.0.1:${bare.port}/graphql`, clients);
  try {
    const run = async (pools: number) => S.bareRequests / (await bareCheckouts(client, S.bareRequests, pools, clients)).seconds;
    await run(1); // warm-up
    const onePool = await run(1);
    const split0 = cpuSplit(server, bare.pid);
    const manyPools = await run(pools);
    const split = cpuPer(split0, cpuSplit(server, bare.pid), S.bareRequests);
    console.log(
      `  bare yoga+pg: ${onePool.toFixed(0)}/s on 1 pool, ${manyPools.toFixed(0)}/s on ${pools} pools; ${split.server.toFixed(3)} ms CPU per request (PostgreSQL ${fmt(split.postgres)} ms, bench clients ${fmt(split.bench)} ms)`,
    );
    return { onePool, manyPools, split };
  } finally {
    client.close();
  }
}

/** The GC pauses between two readings of a gateway's /metrics, by kind (prom-client's `nodejs_gc_duration_seconds`). */
function gcPauses(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<'minor' | 'major' | 'incremental', { count: number; meanMs: number }> {
  const of = (kind: string) => {
    const series = (part: string, m: Record<string, number>) => m[`nodejs_gc_duration_seconds_${part}{kind="${kind}"}`] ?? 0;
    const count = series('count', after) - series('count', before);
    const seconds = series('sum', after) - series('sum', before);
    return { count, meanMs: count > 0 ? (1000 * seconds) / count : 0 };
  };
  return { minor: of('minor'), major: of('major'), incremental: of('incremental') };
}

async function scenarioCheckout(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  const c = S.checkout;
  await heading(`single-checkout latency: 1 and 4 connections (${n(c.one)} and ${n(c.four)} startSession calls)`);
  const total = c.warmup + c.one + c.four;
  const [fixture] = await createStormOrgs(client, 'Solo', 1);
  await populate(client, sql, fixture!, total, total + 10, 0, env.gw);
  const users = await userIdsOf(sql, fixture!.organizationId);
  const token = fixture!.tokens.AGENT_CLIENT;
  const warm = await runLoad(users.slice(0, c.warmup), 1, (u) => startSession(client, token, u));
  if (warm.errors.length) throw new Error(`warm-up: ${warm.errors[0]!.error}`);
  const db1 = await prepareBaseline(server, 1);
  const bare = await bareCheckoutLatencies(server, db1, [1, 4], c.one, c.warmup);
  for (const [conns, slice] of [
    [1, users.slice(c.warmup, c.warmup + c.one)],
    [4, users.slice(c.warmup + c.one)],
  ] as const) {
    // The gateway's GC pauses, read around the 1-connection run only (its tail is item 3's).
    const gcBefore = conns === 1 ? await env.gw.metrics() : null;
    const res = await runLoad(slice, conns, (u) => startSession(client, token, u));
    const gc = gcBefore && gcPauses(gcBefore, await env.gw.metrics());
    const granted = res.results.filter((r) => r?.granted).length;
    if (res.errors.length || granted !== slice.length)
      report.fail(`single checkout @${conns}: ${granted}/${slice.length} granted, ${res.errors.length} errors`);
    const base = await pgbench(server, { database: db1, pools: 1, shape: 'txn', clients: conns, seconds: S.pgbenchSeconds });
    const s = summary(res.latenciesUs);
    const b = summary(base.latenciesUs);
    const framework = summary(bare.touch.get(conns)!);
    const label = `PostgreSQL, ${conns} connection${conns > 1 ? 's' : ''}, ${n(slice.length)} checkouts`;
    const floors = [
      { against: 'the framework', of: framework, label: `bare yoga+pg, one statement, ${conns} client${conns > 1 ? 's' : ''}` },
      ...(conns === 1
        ? [
            {
              against: 'Yoga alone',
              of: summary(bare.yogaAlone),
              label: 'the bare server answering { ok }: HTTP and Yoga, no database, 1 client',
            },
          ]
        : []),
    ];
    const targets = { p50: 1.2, p99: 3 } as const;
    for (const floor of floors)
      for (const q of ['p50', 'p99'] as const)
        report.add({
          scenario: 'single checkout',
          case: label,
          metric: `latency ${q}, against ${floor.against}`,
          value: ms(s[q]),
          unit: 'ms',
          baseline: { label: floor.label, value: ms(floor.of[q]) },
          // Item 3's targets, on the framework's rows at one connection.
          ...(conns === 1 && floor.of === framework ? { target: { text: `≤ ${targets[q]} ms`, pass: ms(s[q]) <= targets[q] } } : {}),
        });
    // The gateway's own pauses (its /metrics, prom-client's GC histogram), to read the tail by.
    if (gc)
      for (const [kind, pauses] of Object.entries(gc))
        report.add({
          scenario: 'single checkout',
          case: label,
          metric: `gateway ${kind} GC pauses per 100 checkouts`,
          value: (100 * pauses.count) / slice.length,
          unit: '',
          note: `${pauses.count} in all, mean ${fmt(pauses.meanMs)} ms; above 1 per 100, the p99 includes a pause`,
        });
    report.add({
      scenario: 'single checkout',
      case: label,
      metric: 'latency p50',
      value: ms(s.p50),
      unit: 'ms',
      baseline: { label: pgbenchLabel(base), value: ms(b.p50) },
    });
    report.add({
      scenario: 'single checkout',
      case: label,
      metric: 'latency p99',
      value: ms(s.p99),
      unit: 'ms',
      baseline: { label: pgbenchLabel(base), value: ms(b.p99) },
      ...(conns === 1 ? { target: { text: '≤ 10 ms', pass: ms(s.p99) <= 10 } } : {}),
    });
    report.add({
      scenario: 'single checkout',
      case: label,
      metric: 'latency max',
      value: ms(s.max),
      unit: 'ms',
      baseline: { label: pgbenchLabel(base), value: ms(b.max) },
    });
    report.add({
      scenario: 'single checkout',
      case: label,
      metric: 'throughput',
      value: slice.length / res.seconds,
      unit: '/s',
      baseline: { label: pgbenchLabel(base), value: base.tps },
    });
  }
}

async function scenarioFanout(env: PgEnv): Promise<void> {
  const { server, client, sql, gw } = env;
  const f = S.fanout;
  await heading(`R-PERF-3 fan-out to ${n(f.subscribers)} graphql-ws subscribers (separate process), R-PERF-4 memory`);
  const [fixture] = await createStormOrgs(client, 'Live', 1);
  await populate(client, sql, fixture!, f.users, f.users, 0, env.gw);
  const users = await userIdsOf(sql, fixture!.organizationId);
  const token = fixture!.tokens.AGENT_CLIENT;

  // Baseline: the same subscribers on a bare graphql-ws server (no database, no coalescing).
  const bareFan = await fanoutBaseline('graphql-ws', f.subscribers, Math.min(f.singles, 50));

  const before = await gw.metrics();
  const subs = new Subscribers();
  try {
    const ready = await subs.start(gw.url, fixture!.tokens.SUPERVISOR, fixture!.organizationId, f.subscribers);
    console.log(`  ${ready.connected} subscribers connected in ${ready.ms.toFixed(0)} ms (${ready.failed} failed)`);
    if (ready.connected !== f.subscribers) report.fail(`fan-out: only ${ready.connected} of ${f.subscribers} subscribers connected`);

    // One change at a time: latency from the mutation's response to the last subscriber's receipt. A single
    // change comes after a quiet period longer than the hub's 100 ms coalescing window (otherwise it is part of
    // a burst and waits for the window: measured next, as back-to-back changes).
    const changes = async (from: number, quietMs: number) => {
      const last: number[] = [];
      const first: number[] = [];
      for (let i = from; i < from + f.singles; i++) {
        if (quietMs > 0) await sleep(quietMs);
        const r = await startSession(client, token, users[i]!);
        const t0 = process.hrtime.bigint();
        if (!r.granted) throw new Error(`fan-out: session ${i} not granted`);
        const got = await subs.reached(i + 1, 10_000);
        if ('missing' in got) {
          report.fail(`fan-out: ${got.missing} subscribers never saw ${i + 1} seats in use`);
          break;
        }
        last.push(usBetween(t0, got.last));
        first.push(usBetween(t0, got.first));
      }
      return { sl: summary(last), sf: summary(first) };
    };
    const { sl, sf } = await changes(0, 150);
    const backToBack = await changes(f.singles, 0);
    const label = `PostgreSQL, ${n(f.subscribers)} subscribers, ${f.singles} single changes (each after 150 ms without changes)`;
    const bareLabel = `bare graphql-ws, same subscribers, no DB/coalescing`;
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: label,
      metric: 'last receipt p50',
      value: ms(sl.p50),
      unit: 'ms',
      baseline: { label: bareLabel, value: ms(bareFan.p50) },
    });
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: label,
      metric: 'last receipt p99',
      value: ms(sl.p99),
      unit: 'ms',
      baseline: { label: bareLabel, value: ms(bareFan.p99) },
      target: { text: '≤ 100 ms', pass: ms(sl.p99) <= 100 },
    });
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: label,
      metric: 'first receipt p50',
      value: ms(sf.p50),
      unit: 'ms',
      note: 'leading edge: the first change after a quiet period is sent at once',
    });
    const b2bLabel = `PostgreSQL, ${n(f.subscribers)} subscribers, ${f.singles} back-to-back changes (each right after the previous one arrived)`;
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: b2bLabel,
      metric: 'last receipt p50',
      value: ms(backToBack.sl.p50),
      unit: 'ms',
      note: 'within the 100 ms coalescing window of the previous change: sent when it ends',
    });
    report.add({ scenario: 'R-PERF-3 fan-out', case: b2bLabel, metric: 'last receipt p99', value: ms(backToBack.sl.p99), unit: 'ms' });

    // The same during a login storm: bounded messages per subscriber, exact final state.
    subs.reset();
    await sleep(200);
    const rest = users.slice(2 * f.singles);
    const storm = await runLoad(rest, f.clients, (u) => startSession(client, token, u));
    const tEnd = process.hrtime.bigint();
    const granted = storm.results.filter((r) => r?.granted).length;
    if (storm.errors.length || granted !== rest.length)
      report.fail(`fan-out storm: ${granted}/${rest.length} granted, ${storm.errors.length} errors`);
    const final = await subs.reached(f.users, 30_000);
    await sleep(500); // anything after the final state would be a bug; let it arrive
    const st = await subs.stats();
    const exact = 'last' in final && st.lastTotals[String(f.users)] === f.subscribers;
    if (!exact) report.fail(`fan-out storm: final state not exact at every subscriber: ${JSON.stringify(st.lastTotals)}`);
    const bound = Math.ceil((storm.seconds * 1000) / 100) + 3;
    const stormLabel = `PostgreSQL, ${n(f.subscribers)} subscribers during a storm of ${n(rest.length)} sessions (${storm.seconds.toFixed(1)} s, ${f.clients} clients)`;
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: stormLabel,
      metric: 'messages per subscriber (max)',
      value: st.maxMessages,
      unit: 'msgs',
      target: { text: `≤ ${bound} (1 per 100 ms)`, pass: st.maxMessages <= bound },
      note: `mean ${st.meanMessages.toFixed(1)}, min ${st.minMessages}; ${n(rest.length)} changes`,
    });
    if ('last' in final)
      report.add({
        scenario: 'R-PERF-3 fan-out',
        case: stormLabel,
        metric: 'final state at last subscriber after storm end',
        value: usBetween(tEnd, final.last) / 1000,
        unit: 'ms',
        target: { text: 'exact final state', pass: exact },
      });
    report.add({
      scenario: 'R-PERF-3 fan-out',
      case: stormLabel,
      metric: 'startSession/s during fan-out',
      value: rest.length / storm.seconds,
      unit: '/s',
      note: `p99 ${fmt(ms(summary(storm.latenciesUs).p99))} ms`,
    });

    // R-PERF-4: memory with the sessions open and the subscribers attached.
    const open = Number(
      (await server.query<{ n: string }>('select count(*) as n from sessions where ended_at is null', [], env.dbName))[0]?.n ?? 0,
    );
    const m = await gw.metrics();
    const proc = gw.procMemory();
    const memLabel = `PostgreSQL, ${n(open)} open sessions, ${n(m.subscribers ?? st.subscribers)} subscribers`;
    const rssMb = (m.process_resident_memory_bytes ?? proc?.rss ?? NaN) / 2 ** 20;
    report.add({
      scenario: 'R-PERF-4 memory',
      case: memLabel,
      metric: 'RSS',
      value: rssMb,
      unit: 'MiB',
      baseline: { label: 'same gateway before the subscribers', value: (before.process_resident_memory_bytes ?? NaN) / 2 ** 20 },
      target: { text: '≤ 250 MB', pass: rssMb * 2 ** 20 <= 250e6 },
    });
    report.add({
      scenario: 'R-PERF-4 memory',
      case: memLabel,
      metric: 'heap used',
      value: (m.nodejs_heap_size_used_bytes ?? NaN) / 2 ** 20,
      unit: 'MiB',
      baseline: { label: 'same gateway before the subscribers', value: (before.nodejs_heap_size_used_bytes ?? NaN) / 2 ** 20 },
    });
    report.add({
      scenario: 'R-PERF-4 memory',
      case: 'PostgreSQL, gateway just started, idle',
      metric: 'RSS',
      value: (env.idle.process_resident_memory_bytes ?? NaN) / 2 ** 20,
      unit: 'MiB',
      note: `heap used ${fmt((env.idle.nodejs_heap_size_used_bytes ?? NaN) / 2 ** 20)} MiB`,
    });
    if (proc)
      report.add({
        scenario: 'R-PERF-4 memory',
        case: memLabel,
        metric: 'peak RSS (VmHWM)',
        value: proc.hwm / 2 ** 20,
        unit: 'MiB',
        note: 'since the gateway started (includes earlier scenarios)',
      });
    report.extra.subscriberProcessRssMiB = st.rss / 2 ** 20;
  } finally {
    await subs.stop();
  }
}

/**
 * Fan-out baselines, `count` subscribers measured as the gateway's, `rounds`
 * single events, each announced by a request whose answer starts the clock:
 * - `graphql-ws`: the bare graphql-ws server (bench/bare.ts), its `bump`
 *   mutation published in-process, executed and serialized per subscriber;
 * - `ws floor`: bench/raw-ws.ts, one pre-built frame per socket in one
 *   synchronous loop, no GraphQL at all: the least a Node `ws` server can do.
 */
async function fanoutBaseline(kind: 'graphql-ws' | 'ws floor', count: number, rounds: number): Promise<ReturnType<typeof summary>> {
  const bare =
    kind === 'graphql-ws'
      ? await startBare('bare graphql-ws', { BARE_DATABASE_URL: 'postgres://127.0.0.1:1/none' })
      : await startBare('ws floor', { SEAT }, 'bench/raw-ws.ts');
  const { port } = bare;
  const subs = new Subscribers();
  const url = `http://127.0.0.1:${port}/graphql`;
  const client = new GqlClient(url, 1);
  try {
    await subs.start(url, 'none', 'bare', count);
    const last: number[] = [];
    for (let i = 1; i <= rounds; i++) {
      if (kind === 'ws floor') await sleep(150); // as between the gateway's changes: the sockets' buffers drained
      await client.ok('mutation { bump }');
      const t0 = process.hrtime.bigint();
      const got = await subs.reached(i, 10_000);
      if ('last' in got) last.push(usBetween(t0, got.last));
    }
    const s = summary(last);
    console.log(`  ${kind} fan-out to ${count}: p50 ${fmt(ms(s.p50))} ms, p99 ${fmt(ms(s.p99))} ms`);
    return s;
  } finally {
    client.close();
    await subs.stop();
    await bare.stop();
  }
}

const MAPPING_QUERY = `query($id: ID!) { organization(id: $id) { licenseMapping { product { code kind } total inUse reusable available concurrentTotal concurrentInUse concurrentAvailable emergencyTotal emergencyInUse emergencyPeakThisPeriod emergencyAvailable unitsTotal } } }`;
/** A page as an admin console lists users: within the default cost limit (R-SEC-3), with each user's licences (the allocation). */
const USERS_PAGE = `query($id: ID!, $after: String) { organization(id: $id) { users(first: 100, after: $after) { totalCount edges { node { id name status role licenses { product { code } status } } } pageInfo { hasNextPage endCursor } } } }`;

async function scenarioMapping(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  for (const m of S.mapping) {
    await heading(`R-PERF-2 licence mapping and a 100-user page, organization of ${n(m.users)} users`);
    const [fixture] = await createStormOrgs(client, `Mapping ${m.users}`, 1);
    const label = `PostgreSQL, ${n(m.users)} users`;
    const t0 = process.hrtime.bigint();
    const act = await countStatements(server, env.dbName, () =>
      populate(client, sql, fixture!, m.users, Math.floor(m.users * 0.8), Math.floor(m.users * 0.1), env.gw),
    );
    const a = act.result;
    console.log(`  loaded ${n(m.users)} users and activated in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
    if (a.mode === 'single') {
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: 'activateLicenseKey (allocation for all)',
        value: a.ms,
        unit: 'ms',
        note: `${n(act.statements)} SQL statements`,
      });
    } else {
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: 'activateLicenseKey (allocation for all)',
        value: Number.NaN,
        unit: 'ms',
        target: { text: 'succeeds', pass: false },
        note: `FAILED after ${fmt(a.singleMs ?? NaN)} ms: ${(activationFailures.get(m.users) ?? a.singleError ?? '').slice(0, 160)}`,
      });
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: `activation, last of ${a.batches} batches of 3,000 (workaround)`,
        value: a.ms,
        unit: 'ms',
        note: 'allocation computed for all users, events only for the last batch',
      });
    }
    const token = fixture!.tokens.ADMIN;
    const id = fixture!.organizationId;

    // SQL floor: the allocation's inputs read straight with pg (no GraphQL, no rules).
    const floor: number[] = [];
    for (let i = 0; i < Math.min(m.reps, 10); i++) {
      const s0 = process.hrtime.bigint();
      await sql.query(
        `select u.*, g.options from users u left join configuration_groups g on g.organization_id = u.organization_id and g.id = u.configuration_group_id where u.organization_id = $1 order by u.id`,
        [id],
      );
      await sql.query(`select * from assignments where organization_id = $1`, [id]);
      await sql.query(`select * from license_slots where organization_id = $1`, [id]);
      await sql.query(`select * from license_keys where organization_id = $1 order by seq`, [id]);
      floor.push(usBetween(s0, process.hrtime.bigint()));
    }
    const floorP50 = ms(summary(floor).p50);

    for (const [name, query, vars, target] of [
      ['licenseMapping', MAPPING_QUERY, { id }, m.target],
      ['users(first: 100)', USERS_PAGE, { id, after: null }, null],
    ] as const) {
      for (let i = 0; i < 2; i++) await client.ok(query, vars, token); // warm-up
      const res = await runLoad(Array.from({ length: m.reps }), 1, () => client.ok(query, vars, token));
      if (res.errors.length) {
        report.fail(`${name} at ${n(m.users)} users: ${res.errors[0]!.error}`);
        continue;
      }
      const s = summary(res.latenciesUs);
      const counts: number[] = [];
      for (let i = 0; i < 3; i++) counts.push((await countStatements(server, env.dbName, () => client.ok(query, vars, token))).statements);
      const stmts = Math.min(...counts);
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: `${name} p50`,
        value: ms(s.p50),
        unit: 'ms',
        baseline: { label: 'SQL only: the allocation inputs read with pg', value: floorP50 },
      });
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: `${name} p95`,
        value: ms(s.p95),
        unit: 'ms',
        ...(target ? { target: { text: `≤ ${target} ms`, pass: ms(s.p95) <= target } } : {}),
      });
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: `${name} SQL statements per request`,
        value: stmts,
        unit: 'stmts',
        note: 'pg_stat_statements, BEGIN/COMMIT included, min of 3',
      });
    }

    // The figures above are the steady state: the allocation cache of the gateway that activated the key holds
    // the organization. A process that has not read it yet (just started, or another instance) answers the
    // mapping from the allocation the activation stored (migration 0013) while it is current.
    const fresh = await startGateway({
      label: `mapping ${m.users} fresh`,
      databaseUrl: server.url(env.dbName),
      publicKey: VENDOR.publicKey,
      poolSize: opts.poolSize,
    });
    try {
      const freshClient = new GqlClient(fresh.url, 1);
      const counted = await countStatements(server, env.dbName, async () => {
        const f0 = process.hrtime.bigint();
        await freshClient.ok(MAPPING_QUERY, { id }, token);
        return usBetween(f0, process.hrtime.bigint());
      });
      const first = counted.result;
      const f1 = process.hrtime.bigint();
      await freshClient.ok(MAPPING_QUERY, { id }, token);
      const second = usBetween(f1, process.hrtime.bigint());
      freshClient.close();
      report.add({
        scenario: 'R-PERF-2 licence mapping',
        case: label,
        metric: 'licenseMapping, first read by a just-started gateway',
        value: ms(first),
        unit: 'ms',
        baseline: { label: 'SQL only: the allocation inputs read with pg', value: floorP50 },
        ...(m.users >= 100_000 ? { target: { text: '≤ 500 ms', pass: ms(first) <= 500 } } : {}),
        note: `empty allocation cache, served from the stored allocation (${n(counted.statements)} SQL statements, token read included); its second read ${fmt(ms(second))} ms`,
      });
    } finally {
      await fresh.stop();
    }
  }
}

/**
 * synchronous_commit for every session, running ones included (ALTER SYSTEM + reload; a
 * `-c` on the command line would outrank it). Checked from a new connection.
 */
async function setSynchronousCommit(server: PgServer, value: string): Promise<void> {
  if (value !== 'on' && value !== 'off') throw new Error(`--synchronous-commit must be on or off, got ${value}`);
  await server.query(`alter system set synchronous_commit = '${value}'`);
  await server.query('select pg_reload_conf()');
  await sleep(500);
  const shown = (await server.query<{ synchronous_commit: string }>('show synchronous_commit'))[0]?.synchronous_commit;
  if (shown !== value) throw new Error(`synchronous_commit is ${shown}, wanted ${value}`);
}

async function scenarioDurable(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  const { storm } = S;
  await heading('durable commits: synchronous_commit = on (every commit waits for the WAL flush)');
  await setSynchronousCommit(server, 'on');
  try {
    const db1 = await prepareBaseline(server, 1);
    const base64 = await pgbench(server, { database: db1, pools: 1, shape: 'txn', clients: storm.clients, seconds: S.pgbenchSeconds });
    const base1 = await pgbench(server, { database: db1, pools: 1, shape: 'txn', clients: 1, seconds: S.pgbenchSeconds });
    const [fixture] = await createStormOrgs(client, 'Durable', 1);
    await populate(client, sql, fixture!, storm.agents + 300, storm.capacity, storm.emergency, env.gw);
    const users = await userIdsOf(sql, fixture!.organizationId);
    const o = await runStorm(client, [{ fixture: fixture!, users: users.slice(0, storm.agents) }], storm.clients);
    checkStorm('durable, 1 organization', o, storm.capacity + storm.emergency);
    const label = `PostgreSQL synchronous_commit=on, 1 org × ${n(storm.agents)}, ${storm.clients} clients`;
    stormFigures('R-PERF-1 login storm (durable)', label, o, { label: pgbenchLabel(base64), tps: base64.tps }, true);
    // Single checkouts need free seats: end 300 sessions first.
    const granted = await (async () => {
      const { END_SESSION } = await import('./clients.ts');
      const open = await sql.query<{ id: string }>(
        'select id from sessions where organization_id = $1 and ended_at is null order by id limit 300',
        [fixture!.organizationId],
      );
      for (const s of open) await client.ok(END_SESSION, { input: { sessionId: s.id } }, fixture!.tokens.AGENT_CLIENT);
      return open.length;
    })();
    const res = await runLoad(users.slice(storm.agents, storm.agents + granted), 1, (u) =>
      startSession(client, fixture!.tokens.AGENT_CLIENT, u),
    );
    const s = summary(res.latenciesUs);
    const b = summary(base1.latenciesUs);
    const l1 = `PostgreSQL synchronous_commit=on, 1 connection, ${n(granted)} checkouts`;
    report.add({
      scenario: 'single checkout (durable)',
      case: l1,
      metric: 'latency p50',
      value: ms(s.p50),
      unit: 'ms',
      baseline: { label: pgbenchLabel(base1), value: ms(b.p50) },
    });
    report.add({
      scenario: 'single checkout (durable)',
      case: l1,
      metric: 'latency p99',
      value: ms(s.p99),
      unit: 'ms',
      baseline: { label: pgbenchLabel(base1), value: ms(b.p99) },
      target: { text: '≤ 10 ms', pass: ms(s.p99) <= 10 },
    });
  } finally {
    await setSynchronousCommit(server, opts.syncCommit);
  }
}

async function scenarioProfile(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  const { storm } = S;
  await heading(
    'CPU profile and allocations of a gateway during the login storm (node --cpu-prof, then the sampling heap profiler; not figures: profiling slows it)',
  );
  const [fixture] = await createStormOrgs(client, 'Profiled', 1);
  await populate(client, sql, fixture!, storm.agents, storm.capacity, storm.emergency, env.gw);
  const users = await userIdsOf(sql, fixture!.organizationId);
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-prof-'));
  tempDir(dir);
  const gw = await startGateway({
    label: 'profiled',
    databaseUrl: server.url(env.dbName),
    publicKey: VENDOR.publicKey,
    poolSize: opts.poolSize,
    cpuProfDir: dir,
  });
  const pclient = new GqlClient(gw.url, storm.clients);
  let o: StormOutcome;
  try {
    o = await runStorm(pclient, [{ fixture: fixture!, users }], storm.clients);
    checkStorm('profiled storm', o, storm.capacity + storm.emergency);
  } finally {
    pclient.close();
    await gw.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    report.fail('no .cpuprofile written by the profiled gateway');
    return;
  }
  mkdirSync(opts.profileDir, { recursive: true });
  const kept = join(opts.profileDir, `storm-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
  copyFileSync(join(dir, file), kept);
  const s = summarizeProfile(kept, o.window, 30);
  console.log(formatProfile(s, 25));
  console.log(`  (profile kept in ${kept}; open it in Chrome DevTools or run: npx tsx bench/profile.ts ${kept})`);
  report.extra.profile = { ...s, stormPerSecondProfiled: o.requests / o.seconds };

  // What the same storm allocates, on a gateway of its own (the heap sampler's stack walks would weigh on a CPU profile).
  const [second] = await createStormOrgs(client, 'Allocations', 1);
  await populate(client, sql, second!, storm.agents, storm.capacity, storm.emergency, env.gw);
  const secondUsers = await userIdsOf(sql, second!.organizationId);
  const inspectPort = await freePort();
  const agw = await startGateway({
    label: 'allocations',
    databaseUrl: server.url(env.dbName),
    publicKey: VENDOR.publicKey,
    poolSize: opts.poolSize,
    inspectPort,
  });
  const aclient = new GqlClient(agw.url, storm.clients);
  try {
    const sampled = await sampleAllocations(inspectPort, () =>
      runStorm(aclient, [{ fixture: second!, users: secondUsers }], storm.clients),
    );
    checkStorm('allocation-sampled storm', sampled.result, storm.capacity + storm.emergency);
    const file = kept.replace(/\.cpuprofile$/, '.heapprofile');
    const a = summarizeAllocations(sampled.profile, file, sampled.result.requests, 30);
    console.log(formatAllocations(a, 25));
    console.log(`  (kept in ${file}; Chrome DevTools opens it in its Memory tab)`);
    report.extra.allocations = a;
  } finally {
    aclient.close();
    await agw.stop();
  }
}

/* ------------------------------------------------------------------ curves of growth */

/**
 * How the figures grow, in one run: storm throughput by number of
 * organizations (each point against pgbench on as many pools), fan-out p99 by
 * number of subscribers (each against the bare graphql-ws server with as
 * many), RSS by open sessions (against the same gateway idle). The mapping's
 * curve comes from the mapping scenario's sizes.
 */
async function scenarioCurves(env: PgEnv): Promise<void> {
  const { server, client, sql } = env;
  const c = S.curves;
  const parts = [
    opts.curves.has('storm') ? `storm at ${c.stormOrgs.map(n).join(', ')} organizations` : null,
    opts.curves.has('fanout') ? `fan-out at ${c.subscribers.map(n).join(', ')} subscribers` : null,
    opts.curves.has('memory') ? `RSS at ${c.sessions.map(n).join(', ')} open sessions` : null,
  ].filter(Boolean);
  await heading(`curves of growth: ${parts.join('; ')}`);
  const scenario = 'curves of growth';

  // Storm throughput by organizations: the same number of agents spread over 1 … N organizations.
  for (const orgs of opts.curves.has('storm') ? c.stormOrgs : []) {
    const agents = Math.max(3, Math.floor(c.stormAgents / orgs));
    const capacity = agents - 1;
    const t0 = Date.now();
    const fixtures = await createStormOrgs(client, `Curve ${orgs}`, orgs);
    const loaded: StormOrg[] = [];
    for (const f of fixtures) {
      await populate(client, sql, f, agents, capacity, 0, env.gw);
      loaded.push({ fixture: f, users: await userIdsOf(sql, f.organizationId) });
    }
    console.log(`  ${n(orgs)} organizations × ${n(agents)} agents loaded in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const db = await prepareBaseline(server, orgs);
    const base = await pgbench(server, { database: db, pools: orgs, shape: 'txn', clients: S.storm.clients, seconds: S.pgbenchSeconds });
    const o = await runStorm(client, loaded, S.storm.clients);
    checkStorm(`curve, ${orgs} organizations`, o, orgs * capacity);
    report.add({
      scenario,
      case: `storm, ${n(orgs)} org${orgs > 1 ? 's' : ''} × ${n(agents)} agents, ${S.storm.clients} clients`,
      metric: 'startSession/s',
      value: o.requests / o.seconds,
      unit: '/s',
      baseline: { label: pgbenchLabel(base), value: base.tps },
      note: `p99 ${fmt(ms(summary(o.latenciesUs).p99))} ms`,
    });
  }

  // Fan-out p99 by subscribers: single changes after a quiet period, against the bare graphql-ws server.
  if (opts.curves.has('fanout')) {
    const most = Math.max(...c.subscribers);
    const [fixture] = await createStormOrgs(client, 'Curve live', 1);
    const users = c.subscribers.length * c.fanoutChanges + 10;
    await populate(client, sql, fixture!, users, users, 0, env.gw);
    const ids = await userIdsOf(sql, fixture!.organizationId);
    let next = 0;
    for (const count of c.subscribers) {
      const bare = await fanoutBaseline('graphql-ws', count, c.fanoutChanges);
      const floor = await fanoutBaseline('ws floor', count, c.fanoutChanges);
      const subs = new Subscribers();
      try {
        const ready = await subs.start(env.gw.url, fixture!.tokens.SUPERVISOR, fixture!.organizationId, count);
        if (ready.connected !== count) report.fail(`curve fan-out: ${ready.connected} of ${count} subscribers connected`);
        const last: number[] = [];
        const windowFrom = process.hrtime.bigint();
        for (let i = 0; i < c.fanoutChanges; i++) {
          await sleep(150);
          const r = await startSession(client, fixture!.tokens.AGENT_CLIENT, ids[next]!);
          const t0 = process.hrtime.bigint();
          next += 1;
          if (!r.granted) throw new Error('curve fan-out: a start was not granted');
          const got = await subs.reached(next, 20_000);
          if ('missing' in got) {
            report.fail(`curve fan-out: ${got.missing} of ${count} subscribers never saw ${next} seats in use`);
            break;
          }
          last.push(usBetween(t0, got.last));
        }
        const s = summary(last);
        if (opts.cpuProfDir)
          console.log(
            `  profile window of the ${n(count)}-subscriber changes (µs, for bench/profile.ts FILE 25 FROM TO): ${windowFrom / 1000n} ${process.hrtime.bigint() / 1000n}`,
          );
        report.add({
          scenario,
          case: `fan-out, ${n(count)} subscribers, ${c.fanoutChanges} single changes`,
          metric: 'last receipt p99',
          value: ms(s.p99),
          unit: 'ms',
          baseline: { label: 'bare graphql-ws, same subscribers', value: ms(bare.p99) },
          ...(count === 5000 ? { target: { text: '≤ 150 ms', pass: ms(s.p99) <= 150 } } : {}),
          note: `p50 ${fmt(ms(s.p50))} ms`,
        });
        report.add({
          scenario,
          case: `fan-out floor, ${n(count)} subscribers: one pre-built frame per socket, no GraphQL (bench/raw-ws.ts)`,
          metric: 'last receipt p99',
          value: ms(floor.p99),
          unit: 'ms',
          baseline: { label: 'the gateway, same run', value: ms(s.p99) },
          note: `p50 ${fmt(ms(floor.p50))} ms`,
        });
      } finally {
        await subs.stop();
      }
    }
    console.log(`  fan-out curve done (up to ${n(most)} subscribers)`);
  }

  // RSS by open sessions: a gateway of its own (nothing else cached), sessions opened through it.
  if (opts.curves.has('memory')) {
    const most = Math.max(...c.sessions);
    const [fixture] = await createStormOrgs(client, 'Curve sessions', 1);
    await populate(client, sql, fixture!, most, most, 0, env.gw);
    const ids = await userIdsOf(sql, fixture!.organizationId);
    const gw = await startGateway({
      label: 'sessions curve',
      databaseUrl: server.url(env.dbName),
      publicKey: VENDOR.publicKey,
      poolSize: opts.poolSize,
    });
    const gclient = new GqlClient(gw.url, S.storm.clients);
    try {
      await sleep(S.sampleMs);
      const idle = ((await gw.metrics()).process_resident_memory_bytes ?? NaN) / 2 ** 20;
      let open = 0;
      for (const target of c.sessions) {
        const res = await runLoad(ids.slice(open, target), S.storm.clients, (u) => startSession(gclient, fixture!.tokens.AGENT_CLIENT, u));
        const granted = res.results.filter((r) => r?.granted).length;
        if (res.errors.length || granted !== target - open)
          report.fail(`sessions curve: ${granted}/${target - open} granted, ${res.errors.length} errors`);
        open = target;
        const rss = ((await gw.metrics()).process_resident_memory_bytes ?? NaN) / 2 ** 20;
        report.add({
          scenario,
          case: `memory, ${n(target)} open sessions`,
          metric: 'RSS',
          value: rss,
          unit: 'MiB',
          baseline: { label: 'same gateway idle after start', value: idle },
        });
      }
    } finally {
      gclient.close();
      await gw.stop();
    }
  }
}

/* ------------------------------------------------------------------ PGlite */

async function scenarioPglite(): Promise<void> {
  const { multi } = S;
  const storm = { ...S.storm, ...S.pglite };
  await heading(
    `R-PERF-1 login storm on PGlite (embedded, one serialized connection): ${n(storm.agents)} agents${S.pglite.multi ? ` and ${multi.orgs} organizations × ${multi.agents}` : ''}`,
  );
  const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-pglite-'));
  tempDir(dir);
  const dataDir = join(dir, 'data');

  // Loading in a process of its own: the app on the data directory (organizations, tokens and keys
  // through its API, users by SQL); the storm then goes to a gateway process.
  const specFile = join(dir, 'spec.json');
  const outFile = join(dir, 'loaded.json');
  writeFileSync(
    specFile,
    JSON.stringify({
      dataDir,
      warmup: storm.warmup,
      single: { agents: storm.agents, capacity: storm.capacity, emergency: storm.emergency },
      multi: S.pglite.multi ? multi : null,
    }),
  );
  const { spawn } = await import('node:child_process');
  const loaderChild = spawn(process.execPath, ['--import', 'tsx', 'bench/pglite-loader.ts', specFile, outFile], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const untrackLoader = ownChild('pglite loader', loaderChild);
  const code = await new Promise<number | null>((resolve) => loaderChild.on('exit', (c) => resolve(c)));
  untrackLoader();
  if (code !== 0) throw new Error(`loading PGlite failed (exit ${code})`);
  const loaded = JSON.parse(readFileSync(outFile, 'utf8')) as {
    warm: StormOrg;
    one: StormOrg & { activation: Activation };
    multi: StormOrg[];
  };
  const one = loaded.one.fixture;
  const users1 = loaded.one.users;
  const orgsMulti = loaded.multi;
  const act = loaded.one.activation;
  if (act.singleError) activationFailures.set(storm.agents, act.singleError);
  console.log(
    `  activation with ${n(storm.agents)} users on PGlite (in process): ${act.ms.toFixed(0)} ms${act.mode === 'batches' ? ` (last of ${act.batches} batches; one activation FAILED: ${act.singleError})` : ''}`,
  );

  const gw = await startGateway({
    label: 'pglite',
    databaseUrl: null,
    dataDir,
    publicKey: VENDOR.publicKey,
    ...(opts.cpuProfDir ? { cpuProfDir: join(opts.cpuProfDir, `pglite-${Date.now()}`) } : {}),
  });
  const client = new GqlClient(gw.url, 64);
  let stormRate1: number | null = null;
  try {
    // A warm-up storm on an organization of its own, as on PostgreSQL: the figures are those of a gateway that has run.
    const warmed = await runStorm(client, [loaded.warm], storm.clients);
    checkStorm('PGlite warm-up storm', warmed, storm.warmup);
    const o1 = await runStorm(client, [{ fixture: one, users: users1 }], storm.clients);
    checkStorm('PGlite, 1 organization', o1, storm.capacity + storm.emergency);
    stormRate1 = o1.requests / o1.seconds;
    stormFigures(
      'R-PERF-1 login storm',
      `PGlite, 1 org × ${n(storm.agents)}, pool ${n(storm.capacity)}+${n(storm.emergency)}, ${storm.clients} clients`,
      o1,
      null,
      false,
    );
    if (orgsMulti.length) {
      const o100 = await runStorm(client, orgsMulti, multi.clients);
      checkStorm(`PGlite, ${multi.orgs} organizations`, o100, multi.orgs * (multi.capacity + multi.emergency));
      stormFigures(
        'R-PERF-1 login storm',
        `PGlite, ${multi.orgs} orgs × ${multi.agents}, pools ${multi.capacity}+${multi.emergency}, ${multi.clients} clients`,
        o100,
        null,
        false,
      );
    }
    const m = await gw.metrics();
    report.add({
      scenario: 'R-PERF-4 memory',
      case: `PGlite after the storms`,
      metric: 'RSS',
      value: (m.process_resident_memory_bytes ?? NaN) / 2 ** 20,
      unit: 'MiB',
      note: 'the embedded database lives in the gateway process',
    });
  } finally {
    client.close();
    await gw.stop();
  }
  if (stormRate1 !== null) await pgliteFloor(dataDir, one.organizationId, storm.capacity + storm.emergency, stormRate1, storm.clients);
}

/**
 * The 1-organization PGlite storm against PGlite's own floor (bench/pglite-floor.ts,
 * in a process of its own once the gateway has stopped): the start's statement
 * executed back to back on the same data directory, nothing else.
 */
async function pgliteFloor(dataDir: string, organizationId: string, count: number, stormRate: number, clients: number): Promise<void> {
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      ['--import', 'tsx', 'bench/pglite-floor.ts', dataDir, organizationId, SEAT, String(count)],
      { cwd: ROOT, maxBuffer: 1 << 20 },
      (error, stdout, stderr) => (error ? reject(new Error(`pglite floor: ${stderr || error.message}`)) : resolve(stdout)),
    ),
  );
  const floor = JSON.parse(out.trim().split('\n').at(-1)!) as { perSecond: number; executions: number; started: number };
  if (floor.started !== floor.executions) report.fail(`PGlite floor: ${floor.started} of ${floor.executions} executions started a session`);
  console.log(
    `  PGlite same-work floor: ${floor.perSecond.toFixed(0)}/s (${n(floor.started)} of ${n(floor.executions)} executions started a session)`,
  );
  report.add({
    scenario: 'R-PERF-1 login storm',
    case: `PGlite, 1 org, ${clients} clients`,
    metric: 'startSession/s, against PGlite alone',
    value: stormRate,
    unit: '/s',
    baseline: { label: "PGlite running the start's statement back to back (same-work floor, no HTTP or GraphQL)", value: floor.perSecond },
    target: { text: '≥ 500/s', pass: stormRate >= 500 },
  });
}

/* ------------------------------------------------------------------ cold start */

async function scenarioColdStart(server: PgServer | null): Promise<void> {
  await heading('cold start: process start to /readyz 200');
  const { spawn } = await import('node:child_process');
  // Baseline: node running an empty module, to exit (the gateway runs compiled JavaScript, as npm start does).
  const empty = mkdtempSync(join(tmpdir(), 'gateway-bench-empty-'));
  tempDir(empty);
  writeFileSync(join(empty, 'empty.mjs'), 'export {};\n');
  const floor: number[] = [];
  for (let i = 0; i < (opts.smoke ? 1 : 3); i++) {
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) =>
      spawn(process.execPath, [join(empty, 'empty.mjs')], { cwd: ROOT, stdio: 'ignore' }).on('exit', () => resolve()),
    );
    floor.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const floorMs = summary(floor).p50;

  const median = (xs: number[]) => summary(xs).p50;
  const pglite: number[] = [];
  const pgliteWarm: number[] = [];
  for (let i = 0; S.coldPglite && i < S.cold; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'gateway-bench-cold-'));
    tempDir(dir);
    const g = await startGateway({ label: `cold pglite ${i}`, databaseUrl: null, dataDir: join(dir, 'data'), publicKey: VENDOR.publicKey });
    pglite.push(g.readyMs);
    await g.stop();
    if (!S.coldWarm) continue;
    const w = await startGateway({ label: `warm pglite ${i}`, databaseUrl: null, dataDir: join(dir, 'data'), publicKey: VENDOR.publicKey });
    pgliteWarm.push(w.readyMs);
    await w.stop();
  }
  const base = { label: 'node, empty module, to exit', value: floorMs };
  if (pglite.length)
    report.add({
      scenario: 'cold start',
      case: `PGlite, fresh data directory (a copy of the build's template), median of ${S.cold}`,
      metric: 'to /readyz 200',
      value: median(pglite),
      unit: 'ms',
      baseline: base,
      target: { text: '≤ 2 s', pass: median(pglite) <= 2000 },
      note: `runs ${pglite.map((x) => x.toFixed(0)).join(', ')} ms`,
    });
  if (pgliteWarm.length)
    report.add({
      scenario: 'cold start',
      case: `PGlite, existing data directory, median of ${S.cold}`,
      metric: 'to /readyz 200',
      value: median(pgliteWarm),
      unit: 'ms',
      baseline: base,
    });
  if (!server) return;
  const pgCold: number[] = [];
  const pgWarm: number[] = [];
  for (let i = 0; i < S.cold; i++) {
    const url = await server.createDatabase(`cold_${i}_${Date.now()}`);
    const g = await startGateway({ label: `cold pg ${i}`, databaseUrl: url, publicKey: VENDOR.publicKey, poolSize: opts.poolSize });
    pgCold.push(g.readyMs);
    await g.stop();
    if (!S.coldWarm) continue;
    const w = await startGateway({ label: `warm pg ${i}`, databaseUrl: url, publicKey: VENDOR.publicKey, poolSize: opts.poolSize });
    pgWarm.push(w.readyMs);
    await w.stop();
  }
  report.add({
    scenario: 'cold start',
    case: `PostgreSQL, empty database (migrations), median of ${S.cold}`,
    metric: 'to /readyz 200',
    value: median(pgCold),
    unit: 'ms',
    baseline: base,
    target: { text: '≤ 3 s', pass: median(pgCold) <= 3000 },
    note: `runs ${pgCold.map((x) => x.toFixed(0)).join(', ')} ms`,
  });
  if (pgWarm.length)
    report.add({
      scenario: 'cold start',
      case: `PostgreSQL, migrated database, median of ${S.cold}`,
      metric: 'to /readyz 200',
      value: median(pgWarm),
      unit: 'ms',
      baseline: base,
      target: { text: '≤ 3 s', pass: median(pgWarm) <= 3000 },
    });
  if (!S.coldWarm) return;
  const url = await server.createDatabase(`cold_npm_${Date.now()}`);
  const g = await startGateway({ label: 'npm start', databaseUrl: url, publicKey: VENDOR.publicKey, poolSize: opts.poolSize, via: 'npm' });
  report.add({
    scenario: 'cold start',
    case: 'PostgreSQL, empty database, `npm start` (npm, its prestart build check, node)',
    metric: 'to /readyz 200',
    value: g.readyMs,
    unit: 'ms',
    baseline: base,
    target: { text: '≤ 3 s', pass: g.readyMs <= 3000 },
  });
  await g.stop();
}

/* ------------------------------------------------------------------ main */

async function main(): Promise<void> {
  const started = Date.now();
  Object.assign(report.facts, machineFacts());
  console.log(
    `bench: ${opts.smoke ? 'SMOKE (scaled down) ' : ''}${opts.only ? `only ${[...opts.only].join(', ')}` : 'all scenarios'}; ${report.facts.nproc} cores, node ${process.version}`,
  );

  const needsPg = SCENARIOS.some((s) => wants(s) && s !== 'pglite' && s !== 'recovery');
  let server: PgServer | null = null;
  if (needsPg) {
    server = await startPostgres({ unixSocket: opts.unixSocket });
    await setSynchronousCommit(server, opts.syncCommit);
    report.facts.postgres = await server.settings();
    console.log(
      `PostgreSQL ${server.version} on ${opts.unixSocket ? `Unix socket ${server.dir}, port` : '127.0.0.1:'}${server.port}; synchronous_commit=${opts.syncCommit}`,
    );
  }
  const pgScenarios = (['storm', 'checkout', 'fanout', 'mapping', 'curves', 'durable', 'profile', 'bombs', 'import'] as const)
    .filter(wants)
    .filter((s) => !(s === 'durable' && opts.syncCommit === 'on'));
  if (server && pgScenarios.length) {
    const dbName = 'gateway';
    const url = await server.createDatabase(dbName);
    const gw = await startGateway({
      label: 'pg',
      databaseUrl: url,
      publicKey: VENDOR.publicKey,
      poolSize: opts.poolSize,
      ...(opts.cpuProfDir ? { cpuProfDir: opts.cpuProfDir } : {}),
    });
    await sleep(S.sampleMs);
    const env: PgEnv = { server, gw, client: new GqlClient(gw.url, 128), sql: pgSql(url), dbName, idle: await gw.metrics() };
    try {
      for (const s of pgScenarios) {
        if (s === 'storm') await scenarioStorm(env);
        if (s === 'checkout') await scenarioCheckout(env);
        if (s === 'fanout') await scenarioFanout(env);
        if (s === 'mapping') await scenarioMapping(env);
        if (s === 'curves') await scenarioCurves(env);
        if (s === 'durable') await scenarioDurable(env);
        if (s === 'profile') await scenarioProfile(env);
        if (s === 'bombs') await scenarioBombs(env, report, opts.smoke ? { seconds: 3, users: 600 } : { seconds: 20, users: 2_000 });
        if (s === 'import') await scenarioImport(env, report, { users: opts.smoke ? 500 : 5_000 });
      }
    } finally {
      env.client.close();
      await env.sql.close();
      await gw.stop();
    }
  }
  // Its own database and gateways, behind a PgBouncer of its own in front of the same server.
  if (server && wants('pooler')) await scenarioPooler(server);
  if (wants('pglite')) await scenarioPglite();
  if (wants('coldstart')) await scenarioColdStart(server);
  // Its own PostgreSQL, which it stops and crashes.
  if (wants('recovery')) await scenarioRecovery(report);
  if (server) await server.stop();

  if (activationFailures.size) {
    const sizes = [...activationFailures.keys()].sort((a, b) => a - b);
    report.fail(
      `activateLicenseKey failed for organizations of ${sizes.map(n).join(', ')} users (one activation for all): ${[...new Set(activationFailures.values())].join(' | ').slice(0, 400)}; the bench loaded those organizations in batches instead`,
    );
  }
  report.facts.durationSeconds = Math.round((Date.now() - started) / 1000);
  if (monitor) clearInterval(monitor);
  report.facts.loadAverages = loads.map(({ samples: _s, ...rest }) => rest);
  const busy = loads.filter((l) => (l.otherCoresMax ?? 0) > 0.2);
  if (busy.length)
    console.log(
      `WARNING: other processes competed for CPU during: ${busy.map((l) => `${l.scenario} (mean ${l.otherCoresMean}, max ${l.otherCoresMax} cores)`).join('; ')}`,
    );
  console.log(`\n${report.table()}\n`);
  const missed = report.figures.filter((f) => f.target && !f.target.pass);
  if (missed.length)
    console.log(
      `targets missed: ${missed.map((f) => `${f.case} · ${f.metric} (${fmt(f.value)} ${f.unit}; ${f.target!.text})`).join('; ')}`,
    );
  if (opts.json) {
    report.write(opts.json);
    console.log(`figures written to ${opts.json}`);
  }
  if (opts.markdown) writeFileSync(opts.markdown, `${report.markdown()}\n`);
  if (report.failures.length) {
    console.error(`\nbench FAILED:\n  ${report.failures.join('\n  ')}`);
    process.exitCode = 1;
  } else console.log(`bench done in ${report.facts.durationSeconds} s`);
}

try {
  await main();
} catch (error) {
  console.error(`bench error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
  if (opts.json) {
    report.fail(`aborted: ${error instanceof Error ? error.message : String(error)}`);
    report.write(opts.json);
  }
} finally {
  await cleanupAll();
}
process.exit(process.exitCode ?? 0);
