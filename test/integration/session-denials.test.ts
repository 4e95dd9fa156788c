import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { OPERATOR_TOKEN, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, countingDatabase, createGroup, createUsers, licensedOrg } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';

/*
 * Refused logins are visible (issue "First contact"): every denial
 * startSession answers, on each of its three paths, leaves a SESSION_DENIED
 * event (written after any rollback) with the denial code in `denialCode`,
 * is counted in gateway_sessions_denied_total, and shows in the pools'
 * `deniedToday` (distinct agents turned away today). A retry storm of one
 * user logs one event per DENIAL_EVENT_INTERVAL_SECONDS (default 10) but
 * counts every denial.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const START = `mutation($input: StartSessionInput!) { startSession(input: $input) { granted denial { code } } }`;
const DENIED_EVENTS = `query($id: ID!) { organization(id: $id) {
  events(first: 50) { edges { node { type userId product { code } denialCode detail actor apiTokenId } } }
  seatUsage { pools { product { code } deniedToday } } } }`;

interface DeniedView {
  type: string;
  userId: string;
  product: { code: string } | null;
  denialCode: string | null;
  detail: string;
  actor: string;
  apiTokenId: string | null;
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;
    let counted: Awaited<ReturnType<typeof countingDatabase>>;
    let base: string;

    beforeAll(async () => {
      counted = await countingDatabase(kind);
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS, database: counted.database });
      base = (await listenOn(gw)).base;
    });
    afterAll(() => gw.close());

    const start = async (org: OrgFixture, userId: string, token = org.tokens.AGENT_CLIENT) =>
      (await gw.ok<{ startSession: { granted: boolean; denial: { code: string } | null } }>(START, { input: { userId } }, token))
        .startSession;

    async function denials(org: OrgFixture) {
      const data = await gw.ok<{
        organization: {
          events: { edges: { node: DeniedView }[] };
          seatUsage: { pools: { product: { code: string }; deniedToday: number }[] };
        };
      }>(DENIED_EVENTS, { id: org.organizationId }, org.tokens.SUPERVISOR);
      return {
        events: data.organization.events.edges.map((e) => e.node).filter((e) => e.type === 'SESSION_DENIED'),
        deniedToday: Object.fromEntries(data.organization.seatUsage.pools.map((p) => [p.product.code, p.deniedToday])),
      };
    }

    async function deniedMetric(product: string, code: string): Promise<number> {
      const text = await (await fetch(`${base}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`gateway_sessions_denied_total{product="${product}",code="${code}"}`));
      return line ? Number(line.split(' ').at(-1)) : 0;
    }

    async function stormOrg(seats: number, users: number) {
      const org = await licensedOrg(gw, 'connect-storm', [
        { product: 'BASE', quantity: 10 },
        { product: 'AGENT_SEAT', quantity: seats },
      ]);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      return { org, users: await createUsers(gw, org, users, { configurationGroupId: group }) };
    }

    it('[SESSION_DENIED] the one-statement path refusing a full pool in SQL logs the denial with its code, user, product and actor', async () => {
      const { org, users } = await stormOrg(1, 3);
      expect((await start(org, users[0]!)).granted).toBe(true); // the probe path: the organization is known from here on
      await counted.settle(); // the grant's live notice goes out after its commit: not in this count
      counted.reset();
      expect(await start(org, users[1]!)).toEqual({ granted: false, denial: { code: 'NO_SEAT_AVAILABLE' } });
      await counted.settle();
      const statements = counted.sql();
      // The refusal came from the one statement; the event is its own small write after it, then its live notice.
      expect(statements[0]).toMatch(/update seat_pools/);
      expect(statements, statements.join('\n')).toHaveLength(2);
      expect(statements[1]).toMatch(/insert into "events"/);
      expect(counted.notices()).toHaveLength(1);
      const { events, deniedToday } = await denials(org);
      expect(events).toEqual([
        {
          type: 'SESSION_DENIED',
          userId: users[1],
          product: { code: 'AGENT_SEAT' },
          denialCode: 'NO_SEAT_AVAILABLE',
          detail: expect.stringContaining('NO_SEAT_AVAILABLE'),
          actor: expect.stringMatching(/^token:/),
          apiTokenId: expect.any(String),
        },
      ]);
      expect(deniedToday).toEqual({ AGENT_SEAT: 1 });
    });

    it('[SESSION_DENIED] the probe path (operator) logs NO_SEAT_AVAILABLE with the operator as actor', async () => {
      const { org, users } = await stormOrg(1, 2);
      expect((await start(org, users[0]!, OPERATOR_TOKEN)).granted).toBe(true);
      expect((await start(org, users[1]!, OPERATOR_TOKEN)).denial?.code).toBe('NO_SEAT_AVAILABLE');
      const { events } = await denials(org);
      expect(events).toMatchObject([{ userId: users[1], denialCode: 'NO_SEAT_AVAILABLE', actor: 'operator', apiTokenId: null }]);
    });

    it('[SESSION_DENIED] the transactional path: DEMO_LIMIT_REACHED is logged although its transaction rolled back', async () => {
      const org = await licensedOrg(gw, 'innoacd', null);
      const group = await createGroup(gw, org, 'Agents', ['ACD_AGENT']);
      const users = await createUsers(gw, org, 3, { configurationGroupId: group });
      expect((await start(org, users[0]!)).granted).toBe(true);
      expect((await start(org, users[1]!)).granted).toBe(true);
      expect((await start(org, users[2]!)).denial?.code).toBe('DEMO_LIMIT_REACHED');
      const { events, deniedToday } = await denials(org);
      expect(events).toMatchObject([{ userId: users[2], product: null, denialCode: 'DEMO_LIMIT_REACHED' }]);
      expect(deniedToday).toEqual({ ACD_AGENT: 1 });
    });

    it('[SESSION_DENIED] NOT_LICENSED and USER_NOT_ACTIVE are logged too (no product)', async () => {
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 3 }]);
      const [unconfigured] = await createUsers(gw, org, 1);
      const [inactive] = await createUsers(gw, org, 1, { status: 'INACTIVE', prefix: 'Gone' });
      expect((await start(org, unconfigured!)).denial?.code).toBe('NOT_LICENSED');
      expect((await start(org, inactive!)).denial?.code).toBe('USER_NOT_ACTIVE');
      const { events, deniedToday } = await denials(org);
      expect(events.map((e) => [e.userId, e.denialCode, e.product])).toEqual([
        [inactive, 'USER_NOT_ACTIVE', null],
        [unconfigured, 'NOT_LICENSED', null],
      ]);
      expect(deniedToday).toEqual({ ACD_AGENT: 0 });
    });

    it('[SESSION_DENIED] a retry storm of one agent: one event per interval, every denial on /metrics as gateway_sessions_denied_total', async () => {
      const { org, users } = await stormOrg(1, 3);
      const before = await deniedMetric('AGENT_SEAT', 'NO_SEAT_AVAILABLE');
      expect((await start(org, users[0]!)).granted).toBe(true);
      for (let i = 0; i < 4; i++) expect((await start(org, users[1]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
      expect((await start(org, users[2]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
      expect(await deniedMetric('AGENT_SEAT', 'NO_SEAT_AVAILABLE')).toBe(before + 5);
      let { events, deniedToday } = await denials(org);
      expect(events.map((e) => e.userId)).toEqual([users[2], users[1]]);
      expect(deniedToday).toEqual({ AGENT_SEAT: 2 });
      // After the interval, the next refusal of the same agent is logged again; the agent is still counted once today.
      gw.clock.advance(10_000);
      expect((await start(org, users[1]!)).denial?.code).toBe('NO_SEAT_AVAILABLE');
      ({ events, deniedToday } = await denials(org));
      expect(events.map((e) => e.userId)).toEqual([users[1], users[2], users[1]]);
      expect(deniedToday).toEqual({ AGENT_SEAT: 2 });
      // Without the per-organization label (METRICS_PER_ORGANIZATION off) no organization id is exposed.
      expect(await (await fetch(`${base}/metrics`)).text()).not.toContain(org.organizationId);
    });
  });
}
