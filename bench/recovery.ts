/*
 * Recovery after a PostgreSQL outage: a gateway under a light load of
 * startSession/endSession, its PostgreSQL shut down fast (57P01) and later
 * killed with -9, each time started again. Measured from the moment
 * PostgreSQL accepts connections again (pg_isready) to the gateway's first
 * /readyz 200 and to its first successful startSession. The PostgreSQL is one
 * of its own (restartable on its directory and port; the helper of the fault
 * tests), never the bench's shared one.
 */
import { ownPostgres } from '../test/hardening/own-postgres.ts';
import { GqlClient, startSession } from './clients.ts';
import { startGateway } from './gateway.ts';
import { createOrgFixture, loadAndActivate, pgSql, VENDOR } from './load.ts';
import type { Report } from './report.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;

export async function scenarioRecovery(report: Report): Promise<void> {
  console.log('\n== recovery after a PostgreSQL restart (fast shutdown, then kill -9), 8 clients');
  const server = await ownPostgres();
  await server.start();
  const admin = pgSql(server.url());
  await admin.query('create database gateway');
  await admin.close();
  const url = server.url('gateway');
  const gw = await startGateway({ label: 'recovery', databaseUrl: url, publicKey: VENDOR.publicKey, poolSize: 4 });
  const client = new GqlClient(gw.url, 16);
  const sql = pgSql(url);
  let closed = false;
  try {
    const org = await createOrgFixture(client, 'recovery');
    await loadAndActivate(client, sql, org, 16, 16, 0);
    const users = (
      await sql.query<{ id: string }>('select id from users where organization_id = $1 order by id', [org.organizationId])
    ).map((r) => r.id);
    // Closed before the faults: its idle connections would die with the server (the bench's pool has no error listener).
    await sql.close();
    closed = true;
    let stopping = false;
    let lastOk = 0;
    const worker = async (userId: string) => {
      while (!stopping) {
        try {
          const started = await startSession(client, org.tokens.AGENT_CLIENT, userId);
          lastOk = now();
          if (started.sessionId)
            await client.ok(
              'mutation($input: EndSessionInput!) { endSession(input: $input) { session { id } } }',
              { input: { sessionId: started.sessionId } },
              org.tokens.AGENT_CLIENT,
            );
        } catch {
          await sleep(20); // UNAVAILABLE during the outage: retry
        }
      }
    };
    const load = Promise.all(users.slice(0, 8).map(worker));
    const readyz = async () => {
      try {
        return (await fetch(`${gw.base}/readyz`)).status;
      } catch {
        return 0;
      }
    };
    for (const [label, fault] of [
      ['fast shutdown (57P01)', () => server.stopFast()],
      ['kill -9 of the postmaster', () => server.crash()],
    ] as const) {
      await sleep(1000);
      await fault();
      for (let i = 0; i < 200 && (await readyz()) !== 503; i++) await sleep(25);
      await sleep(1000);
      await server.start();
      const back = now();
      let ready = NaN;
      for (let i = 0; i < 2000 && Number.isNaN(ready); i++) {
        if ((await readyz()) === 200) ready = now() - back;
        else await sleep(10);
      }
      for (let i = 0; i < 2000 && lastOk < back; i++) await sleep(10);
      const firstStart = lastOk >= back ? lastOk - back : NaN;
      if (Number.isNaN(ready) || Number.isNaN(firstStart)) report.fail(`recovery after ${label}: the gateway did not come back`);
      if (gw.child.exitCode !== null || gw.child.signalCode !== null) report.fail(`recovery after ${label}: the gateway exited`);
      report.add({
        scenario: 'recovery',
        case: label,
        metric: 'to /readyz 200',
        value: ready,
        unit: 'ms',
        note: 'from PostgreSQL accepting connections again',
      });
      report.add({
        scenario: 'recovery',
        case: label,
        metric: 'to first startSession',
        value: firstStart,
        unit: 'ms',
        note: 'a successful startSession answered after PostgreSQL was back',
      });
    }
    stopping = true;
    await load;
  } finally {
    client.close();
    if (!closed) await sql.close();
    await gw.stop();
    await server.dispose();
  }
}
