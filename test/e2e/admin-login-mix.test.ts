import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { onTransactionRetry, type RetryNotice } from '../../src/db/transaction.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { DATABASES, freshDatabase } from '../support/databases.ts';
import { startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createMembers, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { END_SESSION, HEARTBEAT, START_SESSION, openSessions, poolCounter, seatsHeld } from '../support/sessions.ts';
import { listenOn } from '../support/listen.ts';

/*
 * Admin writes against logins in ONE organization, through a listening
 * gateway on PostgreSQL (the only database with concurrent transactions):
 * 24 clients start, renew and end sessions while 4 administrators change
 * user statuses, create and delete users and change the configuration
 * group. Every answer must be data or an expected coded refusal (a denial,
 * NOT_FOUND for a user or session another client removed, BAD_USER_INPUT for
 * a rule); never "Unexpected error." (a deadlock or serialization failure
 * that reached the client). At the end the pool counters equal the seats the
 * open sessions hold.
 *
 * TEST_MIX_SECONDS sets how long the mix runs (default 20; the issue asked
 * for 60, which CI can afford on a machine of its own).
 */

const SECONDS = Number(process.env.TEST_MIX_SECONDS ?? 20);
const CLIENTS = 24;
const ADMINS = 4;
const USERS = 40;

interface Answer {
  data?: Record<string, any>;
  errors?: { message: string; extensions?: { code?: string } }[];
}

const CREATE_USER = `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`;
const UPDATE_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const DELETE_USER = `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId } }`;
const UPDATE_GROUP = `mutation($input: UpdateConfigurationGroupInput!) { updateConfigurationGroup(input: $input) { configurationGroup { id } } }`;

/** Codes a request in this mix may legitimately be refused with. */
const EXPECTED_CODES = new Set(['NOT_FOUND', 'BAD_USER_INPUT']);

const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(Math.random() * items.length)];

for (const kind of DATABASES) {
  describe.skipIf(kind !== 'postgres')(`admin writes against logins on ${kind}`, () => {
    let gw: TestGateway;
    let url: string;
    /** The gateway's error log lines (a masked error's cause), shown when a request failed. */
    const errorLog: string[] = [];

    beforeAll(async () => {
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          errorLog.push(...chunk.toString().split('\n').filter(Boolean));
          done();
        },
      });
      const logger = createLogger('error', sink);
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS, database: await freshDatabase(kind, { poolSize: 16 }), logger });
      const address = await listenOn(gw);
      url = `http://127.0.0.1:${address.port}/graphql`;
    });
    afterAll(() => gw.close());

    async function call(query: string, variables: Record<string, unknown>, token: string): Promise<Answer> {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as Answer;
    }

    it('[R-AVAIL-2][R-CONC-4][R-CONC-1] 24 start/heartbeat/end clients and 4 administrators (updateUserStatus, createUser, deleteUser, updateConfigurationGroup) in one organization: no failed request, seats in use = open sessions', {
      timeout: (SECONDS + 120) * 1000,
    }, async () => {
      const org = await licensedOrg(gw, 'connect-storm', [
        { product: 'BASE', quantity: 2000 },
        { product: 'AGENT_SEAT', quantity: 16, emergencyQuantity: 4 },
        { product: 'VOICE', quantity: 12 },
        { product: 'EMAIL', quantity: 12 },
      ]);
      const groupId = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
      const users = await createMembers(gw, org, USERS, groupId, { prefix: 'Agent' });

      const failures: { op: string; answer: Answer }[] = [];
      const counts = new Map<string, number>();
      const count = (what: string) => counts.set(what, (counts.get(what) ?? 0) + 1);
      /** Data, or a refusal with an expected code; anything else is a failure. */
      const judge = (op: string, answer: Answer): boolean => {
        if (!answer.errors?.length) {
          count(`${op} ok`);
          return true;
        }
        const code = answer.errors[0]?.extensions?.code ?? 'NONE';
        if (EXPECTED_CODES.has(code) && !answer.errors[0]?.message.startsWith('Unexpected')) {
          count(`${op} ${code}`);
          return false;
        }
        failures.push({ op, answer });
        return false;
      };

      const stopAt = Date.now() + SECONDS * 1000;
      let created = 0;
      let withEmail = false;

      const client = async (n: number) => {
        while (Date.now() < stopAt) {
          const userId = pick(users);
          if (!userId) break;
          const channels = n % 3 === 0 ? ['VOICE'] : [];
          const started = await call(
            START_SESSION,
            { input: { userId, ...(channels.length ? { channels } : {}) } },
            org.tokens.AGENT_CLIENT,
          );
          if (!judge('startSession', started)) continue;
          const result = started.data!.startSession;
          if (!result.granted) {
            count(`denial ${result.denial.code}`);
            continue;
          }
          const sessionId = result.session.id as string;
          for (let i = 0; i < 2; i++) {
            const renewed = await call(HEARTBEAT, { input: { sessionId } }, org.tokens.AGENT_CLIENT);
            if (!judge('heartbeat', renewed) || renewed.data!.heartbeat.session.endedAt) break;
          }
          judge('endSession', await call(END_SESSION, { input: { sessionId } }, org.tokens.AGENT_CLIENT));
        }
      };

      const admin = async (n: number) => {
        let round = 0;
        while (Date.now() < stopAt) {
          const op = (n + round++) % 4;
          if (op === 0) {
            const userId = pick(users);
            if (userId)
              judge(
                'updateUserStatus',
                await call(UPDATE_STATUS, { input: { userId, status: Math.random() < 0.5 ? 'INACTIVE' : 'ACTIVE' } }, org.admin),
              );
          } else if (op === 1) {
            const answer = await call(
              CREATE_USER,
              { input: { siteId: org.siteId, name: `New ${++created}`, role: 'AGENT', configurationGroupId: groupId } },
              org.admin,
            );
            if (judge('createUser', answer)) users.push(answer.data!.createUser.user.id);
          } else if (op === 2) {
            // Keep the population near its size: delete only what was added.
            if (users.length <= USERS) continue;
            const userId = users.splice(Math.floor(Math.random() * users.length), 1)[0]!;
            judge('deleteUser', await call(DELETE_USER, { input: { userId } }, org.admin));
          } else {
            withEmail = !withEmail;
            const functions = withEmail ? ['BASE', 'AGENT_SEAT', 'VOICE', 'EMAIL'] : ['BASE', 'AGENT_SEAT', 'VOICE'];
            judge('updateConfigurationGroup', await call(UPDATE_GROUP, { input: { configurationGroupId: groupId, functions } }, org.admin));
          }
        }
      };

      // The lock order rules deadlocks out (the retry is only a net): count every deadlock PostgreSQL reports.
      const deadlocks: RetryNotice[] = [];
      const stopWatching = onTransactionRetry(gw.database.db, (n) => {
        if (n.code === '40P01') deadlocks.push(n);
      });
      await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), ...Array.from({ length: ADMINS }, (_, i) => admin(i))]);

      stopWatching();
      expect(deadlocks.map((d) => d.label)).toEqual([]);
      expect(
        failures.slice(0, 5),
        `${failures.length} failed requests; counts ${JSON.stringify(Object.fromEntries(counts))}; gateway errors: ${errorLog.slice(0, 3).join('\n')}`,
      ).toEqual([]);
      // The mix did run all of its kinds of request.
      for (const op of [
        'startSession ok',
        'heartbeat ok',
        'endSession ok',
        'updateUserStatus ok',
        'createUser ok',
        'deleteUser ok',
        'updateConfigurationGroup ok',
      ]) {
        expect(counts.get(op) ?? 0, op).toBeGreaterThan(0);
      }
      // Seats in use = open sessions: every pool counter equals the seats held by open sessions.
      const open = await openSessions(gw, org.organizationId);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(open.length);
      expect(await seatsHeld(gw, org.organizationId, 'AGENT_SEAT')).toBe(open.length);
      expect(await poolCounter(gw, org.organizationId, 'VOICE')).toBe(await seatsHeld(gw, org.organizationId, 'VOICE'));
      // No open session belongs to a user who is deleted or not ACTIVE.
      const holders = await gw.database.db
        .selectFrom('sessions')
        .leftJoin('users', (j) =>
          j.onRef('users.organization_id', '=', 'sessions.organization_id').onRef('users.id', '=', 'sessions.user_id'),
        )
        .select(['sessions.id', 'users.status'])
        .where('sessions.organization_id', '=', org.organizationId)
        .where('sessions.ended_at', 'is', null)
        .execute();
      expect(holders.filter((h) => h.status !== 'ACTIVE')).toEqual([]);
    });
  });
}
