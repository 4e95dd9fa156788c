/**
 * Bombs (R-SEC-3): while one organization sends the operations of the
 * availability finding (ten nested `users(first: 500)` in one batch, 29
 * aliased `usage` over 399 days, batched) and heavy but allowed pages, another
 * organization's simple query is timed. Figures: the gateway's RSS (peak of
 * samples every 100 ms) and the other tenant's p99; how the bombs were answered.
 */
import type { GqlClient } from './clients.ts';
import type { Gateway } from './gateway.ts';
import { createOrgFixture, insertUsers, type Sql } from './load.ts';
import { fmt, summary, type Report } from './report.ts';

const NESTED =
  'query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id name } } } } } } } } }';
const USAGE = `query($o: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $o) { ${Array.from({ length: 29 }, (_, i) => `u${i}: usage(from: $from, to: $to) { product { code } peakConcurrent emergencyPeak billableOverage overageEpisodes { startedAt endedAt peakExcess billable } }`).join(' ')} } }`;
const HEAVY =
  'query($o: ID!) { organization(id: $o) { users(first: 500) { totalCount edges { node { id name status role email site { id name } licenses { product { code } status } } } } } }';
const SIMPLE = 'query($o: ID!) { organization(id: $o) { id name license { state } } }';

async function post(gw: Gateway, body: unknown, token: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${gw.url}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

/** The first error's code of a response (of its first operation for a batch), or "ok". */
function errorCode(text: string): string {
  try {
    const body = JSON.parse(text) as
      | { errors?: { extensions?: { code?: string } }[] }
      | { errors?: { extensions?: { code?: string } }[] }[];
    const first = Array.isArray(body) ? body[0] : body;
    return first?.errors?.[0]?.extensions?.code ?? 'ok';
  } catch {
    return 'not JSON';
  }
}

export async function scenarioBombs(
  env: { gw: Gateway; client: GqlClient; sql: Sql },
  report: Report,
  options: { seconds: number; users: number },
): Promise<void> {
  const { gw, client, sql } = env;
  const attacker = await createOrgFixture(client, `Bombs A ${Date.now()}`);
  const other = await createOrgFixture(client, `Bombs B ${Date.now()}`);
  await insertUsers(sql, attacker, options.users);
  const a = attacker.tokens.SUPERVISOR;
  const o = attacker.organizationId;
  const bombs = [
    () =>
      post(
        gw,
        Array.from({ length: 10 }, () => ({ query: NESTED, variables: { o, n: 500 } })),
        a,
      ),
    () =>
      post(
        gw,
        Array.from({ length: 10 }, () => ({ query: USAGE, variables: { o, from: '2025-10-19T00:00:00Z', to: '2026-11-22T00:00:00Z' } })),
        a,
      ),
    () => post(gw, { query: HEAVY, variables: { o } }, a),
  ];
  const names = ['nested users ×10', 'usage ×29 ×10', 'users(first: 500)'];
  let stop = false;
  let latencies: number[] = [];
  let wrong = 0;
  const victim = async () => {
    while (!stop) {
      const t = process.hrtime.bigint();
      const r = await client.request(SIMPLE, { o: other.organizationId }, other.tokens.SUPERVISOR);
      latencies.push(Number(process.hrtime.bigint() - t) / 1e3);
      if (r.errors || r.data?.organization?.id !== other.organizationId) wrong++;
    }
  };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // The other tenant alone first: this machine's figure without the bombs.
  const quiet = victim();
  await sleep(Math.min(3, options.seconds) * 1000);
  stop = true;
  await quiet;
  const alone = summary(latencies);

  /** The attacker's 6 workers send `kinds` in turn for options.seconds while the other tenant is timed. */
  const phase = async (kinds: number[], what: string) => {
    const answers = new Map<string, number>();
    latencies = [];
    wrong = 0;
    stop = false;
    let peakRss = gw.procMemory()?.rss ?? 0;
    const before = peakRss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, gw.procMemory()?.rss ?? 0)), 100);
    const attack = async (worker: number) => {
      for (let i = worker; !stop; i++) {
        const kind = kinds[i % kinds.length]!;
        const r = await bombs[kind]!();
        const key = `${names[kind]}: ${r.status} ${errorCode(r.text)}`;
        answers.set(key, (answers.get(key) ?? 0) + 1);
      }
    };
    const running = [...Array.from({ length: 6 }, (_, w) => attack(w)), victim()];
    await sleep(options.seconds * 1000);
    stop = true;
    await Promise.all(running);
    clearInterval(sampler);
    const rssMb = peakRss / 2 ** 20;
    const s = summary(latencies);
    const label = `PostgreSQL, ${what}, 6 attacking workers, ${options.users.toLocaleString('en-US')} users, ${options.seconds} s`;
    report.add({
      scenario: 'R-SEC-3 bombs',
      case: label,
      metric: 'gateway peak RSS',
      value: rssMb,
      unit: 'MiB',
      baseline: { label: 'same gateway before', value: before / 2 ** 20 },
      target: { text: '< 300 MiB', pass: rssMb < 300 },
    });
    report.add({
      scenario: 'R-SEC-3 bombs',
      case: label,
      metric: "other tenant's simple query p99",
      value: s.p99 / 1000,
      unit: 'ms',
      baseline: { label: 'the same query without the bombs', value: alone.p99 / 1000 },
      note: `p50 ${fmt(s.p50 / 1000)} ms, ${s.n} queries, ${wrong} wrong or failed`,
      target: { text: '< 200 ms', pass: s.p99 / 1000 < 200 && wrong === 0 },
    });
    report.add({
      scenario: 'R-SEC-3 bombs',
      case: label,
      metric: 'attacking requests answered',
      value: [...answers.values()].reduce((x, y) => x + y, 0),
      unit: 'requests',
      note: [...answers].map(([k, v]) => `${k} ×${v}`).join('; '),
    });
  };
  await phase([0, 1], 'the refused bombs');
  await phase([0, 1, 2], 'the bombs and allowed 500-user pages');
}
