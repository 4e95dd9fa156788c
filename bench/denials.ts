/*
 * A denial storm against a full pool (issue "First contact"): CLIENTS agent
 * clients retry startSession for SECONDS against a pool of one seat held by
 * another agent, on PostgreSQL (TEST_DATABASE_URL) in one process, once per
 * SESSION_DENIED bound: 0 (every denial logged), 10 s (the default) and one
 * day (each agent logged once: the write load of a gateway logging nothing).
 * Prints denials/s and SESSION_DENIED events written per denial.
 *
 *   TEST_DATABASE_URL=postgres://… npx tsx bench/denials.ts [clients] [seconds]
 */
import { sql } from 'kysely';
import { startGateway } from '../test/support/gateway.ts';
import { createGroup, createUsers, licensedOrg, TRUSTED_KEYS } from '../test/support/licensing.ts';

const CLIENTS = Number(process.argv[2] ?? 64);
const SECONDS = Number(process.argv[3] ?? 10);
const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } } }`;

async function storm(intervalSeconds: number) {
  const gw = await startGateway('postgres', { trustedKeys: TRUSTED_KEYS, denialEventIntervalSeconds: intervalSeconds });
  try {
    const org = await licensedOrg(gw, 'connect-storm', [
      { product: 'BASE', quantity: CLIENTS + 1 },
      { product: 'AGENT_SEAT', quantity: 1 },
    ]);
    const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
    const users = await createUsers(gw, org, CLIENTS + 1, { configurationGroupId: group });
    const start = (userId: string) => gw.ok<{ startSession: { granted: boolean } }>(START, { input: { userId } }, org.tokens.AGENT_CLIENT);
    if (!(await start(users[0]!)).startSession.granted) throw new Error('the first agent did not get the seat');
    let denials = 0;
    let errors = 0;
    const wall0 = Date.now();
    const clock0 = gw.clock.now().getTime();
    const end = wall0 + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      users.slice(1).map(async (userId) => {
        // The ManualClock stands still: advance it with the wall clock so the bound's interval passes as in production.
        while (Date.now() < end) {
          gw.clock.set(new Date(clock0 + Date.now() - wall0));
          try {
            if (!(await start(userId)).startSession.granted) denials++;
          } catch {
            errors++;
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const events = await sql<{
      n: string;
    }>`select count(*)::text as n from events where organization_id = ${org.organizationId} and type = 'SESSION_DENIED'`.execute(
      gw.database.db,
    );
    const written = Number(events.rows[0]!.n);
    return { intervalSeconds, denials, errors, perSecond: denials / seconds, written, perDenial: written / Math.max(1, denials) };
  } finally {
    await gw.close();
  }
}

for (const interval of [0, 10, 86_400]) {
  const r = await storm(interval);
  console.log(
    `bound ${String(r.intervalSeconds).padStart(5)} s: ${r.denials} denials in ${SECONDS} s = ${r.perSecond.toFixed(0)}/s, ${r.written} SESSION_DENIED events (${r.perDenial.toFixed(3)} per denial), errors ${r.errors}`,
  );
}
