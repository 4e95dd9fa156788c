import { parse } from 'graphql';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getSchema } from '../../src/schema/index.ts';
import { operationCost } from '../../src/security/cost.ts';
import { DEFAULT_LIMITS } from '../../src/security/limits.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, createGroup, createUsers, licensedOrg, type Bought } from '../support/licensing.ts';
import { endSession, poolCounter, startGranted, startSession, USAGE } from '../support/sessions.ts';

/*
 * The admin and supervisor screens: who holds the seats now (open sessions
 * per organization and pool), the event log filtered, usage per day, changing
 * an open session's channels, and a 100-user admin page within the cost limit.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const STORM = 'connect-storm';

const OPEN_SESSIONS = `query($id: ID!, $first: Int, $after: String, $product: String) {
  organization(id: $id) {
    openSessions(first: $first, after: $after, product: $product) {
      totalCount
      edges { cursor node { id seatKind channels user { id } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const SESSION = `query($id: ID!) { session(id: $id) { id endedAt channels user { id } } }`;
const EVENTS = `query($id: ID!, $first: Int, $after: String, $types: [EventType!], $userId: ID, $product: String, $from: DateTime, $to: DateTime) {
  organization(id: $id) {
    events(first: $first, after: $after, types: $types, userId: $userId, product: $product, from: $from, to: $to) {
      totalCount
      edges { cursor node { id at type userId product { code } detail } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
const USAGE_PER_DAY = `query($id: ID!, $from: DateTime!, $to: DateTime!) {
  organization(id: $id) {
    usagePerDay(from: $from, to: $to) {
      day from to
      rows { product { code } peakConcurrent emergencyPeak overageEpisodes { startedAt endedAt peakExcess billable } billableOverage }
    }
  }
}`;
const CHANGE = `mutation($input: ChangeSessionChannelsInput!) {
  changeSessionChannels(input: $input) {
    session { id channels seatKind endedAt channelUnits { channel kind } }
    addedChannels removedChannels
    deniedChannels { channel code message }
  }
}`;
const ADMIN_PAGE = `query($id: ID!, $first: Int) {
  organization(id: $id) {
    users(first: $first) {
      totalCount
      edges { cursor node {
        id name email status role createdAt
        site { id name } configurationGroup { id name } team { id name }
        licenses { product { code name kind allocation } source status rank configuredAt coveredBy { code name } }
        warnings { code message product { code name } }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;

interface OpenPage {
  totalCount: number;
  edges: { cursor: string; node: { id: string; seatKind: string; channels: string[]; user: { id: string } } }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
interface EventsPage {
  totalCount: number;
  edges: {
    cursor: string;
    node: { id: string; at: string; type: string; userId: string | null; product: { code: string } | null; detail: string | null };
  }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}
interface ChangeResult {
  session: { id: string; channels: string[]; seatKind: string; endedAt: string | null; channelUnits: { channel: string; kind: string }[] };
  addedChannels: string[];
  removedChannels: string[];
  deniedChannels: { channel: string; code: string; message: string }[];
}

const BOUGHT: Bought[] = [
  { product: 'BASE', quantity: 200 },
  { product: 'AGENT_SEAT', quantity: 20 },
  { product: 'VOICE', quantity: 20 },
  { product: 'EMAIL', quantity: 1, emergencyQuantity: 1 },
  { product: 'SMS', quantity: 5 },
];

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    async function staffed(count: number, bought: readonly Bought[] = BOUGHT): Promise<{ org: OrgFixture; users: string[] }> {
      const org = await licensedOrg(gw, STORM, bought);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE', 'EMAIL', 'SMS']);
      return { org, users: await createUsers(gw, org, count, { configurationGroupId: group }) };
    }

    /** Every page of a connection query, `first` at a time. */
    async function allPages<P extends { edges: unknown[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>(
      query: string,
      variables: Record<string, unknown>,
      token: string,
      pick: (data: any) => P,
    ): Promise<P[]> {
      const pages: P[] = [];
      let after: string | null = null;
      for (;;) {
        const page: P = pick(await gw.ok(query, { ...variables, after }, token));
        pages.push(page);
        if (!page.pageInfo.hasNextPage) return pages;
        after = page.pageInfo.endCursor;
      }
    }

    const change = (org: OrgFixture, sessionId: string, channels: string[], token = org.tokens.AGENT_CLIENT) =>
      gw.gql<{ changeSessionChannels: ChangeResult }>(CHANGE, { input: { sessionId, channels } }, token);

    // ---------------------------------------------------------------- who holds the seats now

    it('[R-MON-1][R-API-3] open sessions per organization and per pool: a paginated connection with totalCount; ended ones leave it', async () => {
      const { org, users } = await staffed(5);
      const sessions = [];
      for (const [i, user] of users.entries()) {
        gw.clock.advance(1000);
        sessions.push(await startGranted(gw, org, user, i < 2 ? ['VOICE', 'SMS'] : ['VOICE']));
      }
      await endSession(gw, org, sessions[4]!.id);

      const pages = await allPages<OpenPage>(
        OPEN_SESSIONS,
        { id: org.organizationId, first: 2 },
        org.tokens.SUPERVISOR,
        (d) => d.organization.openSessions,
      );
      expect(pages).toHaveLength(2);
      expect(pages.every((p) => p.totalCount === 4)).toBe(true);
      expect(pages.flatMap((p) => p.edges.map((e) => e.node.id))).toEqual(sessions.slice(0, 4).map((s) => s.id));
      expect(pages[0]!.edges[0]!.node).toMatchObject({ seatKind: 'REGULAR', user: { id: users[0] } });

      const sms = (await gw.ok(OPEN_SESSIONS, { id: org.organizationId, product: 'SMS' }, org.admin)).organization.openSessions as OpenPage;
      expect(sms.totalCount).toBe(2);
      expect(sms.edges.map((e) => e.node.id)).toEqual([sessions[0]!.id, sessions[1]!.id]);
      const seats = (await gw.ok(OPEN_SESSIONS, { id: org.organizationId, product: 'AGENT_SEAT', first: 0 }, org.admin)).organization
        .openSessions as OpenPage;
      expect(seats).toMatchObject({ totalCount: 4, edges: [], pageInfo: { hasNextPage: true } });

      const unknown = await gw.gql(OPEN_SESSIONS, { id: org.organizationId, product: 'NOPE' }, org.admin);
      expect(codeOf(unknown)).toBe('BAD_USER_INPUT');
      expect(unknown.errors?.[0]?.message).toContain('NOPE');
    });

    it('[R-SEC-5][R-SEC-2] openSessions and session(id) are for readers: an AGENT_CLIENT is FORBIDDEN, another organization gets NOT_FOUND', async () => {
      const { org, users } = await staffed(1);
      const other = await staffed(1);
      const session = await startGranted(gw, org, users[0]!);
      const agent = await gw.gql(OPEN_SESSIONS, { id: org.organizationId }, org.tokens.AGENT_CLIENT);
      expect(codeOf(agent)).toBe('FORBIDDEN');
      expect(agent.errors?.[0]?.message).toContain('AGENT_CLIENT');
      expect(codeOf(await gw.gql(SESSION, { id: session.id }, org.tokens.AGENT_CLIENT))).toBe('FORBIDDEN');

      const read = await gw.ok(SESSION, { id: session.id }, org.tokens.SUPERVISOR);
      expect(read.session).toMatchObject({ id: session.id, endedAt: null, user: { id: users[0] } });
      expect(codeOf(await gw.gql(SESSION, { id: session.id }, other.org.tokens.SUPERVISOR))).toBe('NOT_FOUND');
      expect(codeOf(await gw.gql(SESSION, { id: 'not-an-id' }, org.tokens.SUPERVISOR))).toBe('NOT_FOUND');
      await endSession(gw, org, session.id);
      expect((await gw.ok(SESSION, { id: session.id }, org.admin)).session.endedAt).not.toBeNull();
    });

    // ---------------------------------------------------------------- events filtered

    it('[R-EVENT-1][R-API-3] events filtered by type, user, product and time, with totalCount; keyset pages stay exact under the filters', async () => {
      const { org, users } = await staffed(3);
      const startedAt: string[] = [];
      for (let round = 0; round < 3; round++) {
        for (const user of users) {
          gw.clock.advance(60_000);
          startedAt.push(gw.clock.now().toISOString());
          const s = await startGranted(gw, org, user);
          gw.clock.advance(1000);
          await endSession(gw, org, s.id);
        }
      }
      const id = org.organizationId;
      const token = org.tokens.SUPERVISOR;
      const pick = (d: any) => d.organization.events as EventsPage;

      // One user's starts, one per page: 3 of them, newest first, none repeated.
      const mine = await allPages<EventsPage>(EVENTS, { id, first: 1, types: ['SESSION_STARTED'], userId: users[1] }, token, pick);
      const mineEvents = mine.flatMap((p) => p.edges.map((e) => e.node));
      expect(mineEvents).toHaveLength(3);
      expect(mine.every((p) => p.totalCount === 3)).toBe(true);
      expect(mineEvents.every((e) => e.type === 'SESSION_STARTED' && e.userId === users[1])).toBe(true);
      expect(mineEvents.map((e) => e.at)).toEqual([...mineEvents.map((e) => e.at)].sort().reverse());

      // Two types, all users, pages of 4: the 18 session events exactly once each.
      const both = await allPages<EventsPage>(EVENTS, { id, first: 4, types: ['SESSION_STARTED', 'SESSION_ENDED'] }, token, pick);
      const ids = both.flatMap((p) => p.edges.map((e) => e.node.id));
      expect(ids).toHaveLength(18);
      expect(new Set(ids).size).toBe(18);
      expect(both[0]!.totalCount).toBe(18);
      const unfiltered = (await gw.ok(EVENTS, { id, first: 500 }, token)).organization.events as EventsPage;
      expect(ids).toEqual(
        unfiltered.edges.filter((e) => e.node.type === 'SESSION_STARTED' || e.node.type === 'SESSION_ENDED').map((e) => e.node.id),
      );

      // A time range: the starts of the second round only.
      const range = pick(await gw.ok(EVENTS, { id, types: ['SESSION_STARTED'], from: startedAt[3], to: startedAt[6] }, token));
      expect(range.totalCount).toBe(3);
      expect(range.edges.map((e) => e.node.at).sort()).toEqual(startedAt.slice(3, 6));

      // Product: the seat's pool.
      const product = pick(await gw.ok(EVENTS, { id, first: 2, product: 'AGENT_SEAT', types: ['SESSION_STARTED'] }, token));
      expect(product.totalCount).toBe(9);
      expect(product.edges.every((e) => e.node.product?.code === 'AGENT_SEAT')).toBe(true);

      // Nothing matches an unknown user; a reversed range is refused naming the argument.
      expect(pick(await gw.ok(EVENTS, { id, userId: '00000000-0000-7000-8000-000000000000' }, token)).totalCount).toBe(0);
      const reversed = await gw.gql(EVENTS, { id, from: startedAt[6], to: startedAt[3] }, token);
      expect(codeOf(reversed)).toBe('BAD_USER_INPUT');
      expect(reversed.errors?.[0]?.message).toMatch(/^to:/);
    });

    // ---------------------------------------------------------------- usage per day

    it('[R-METER-1] usagePerDay: one call for a month; each UTC day has exactly the figures of usage(from, to) for that day', async () => {
      const bought: Bought[] = [
        { product: 'BASE', quantity: 10 },
        { product: 'AGENT_SEAT', quantity: 1, emergencyQuantity: 1, overageAllowed: true, overageGraceMinutes: 30 },
        { product: 'VOICE', quantity: 5 },
      ];
      const { org, users } = await staffed(4, bought);
      const at = (iso: string) => gw.clock.set(new Date(iso));
      // Day 1: two sessions (one emergency). Over midnight into day 2: an overage episode of 2 hours. Day 4: one short session.
      at('2026-11-20T09:00:00.000Z');
      const a = await startGranted(gw, org, users[0]!);
      at('2026-11-20T10:00:00.000Z');
      const b = await startGranted(gw, org, users[1]!);
      expect(b.seatKind).toBe('EMERGENCY');
      at('2026-11-20T23:00:00.000Z');
      const c = await startGranted(gw, org, users[2]!);
      expect(c.seatKind).toBe('OVERAGE');
      at('2026-11-21T01:00:00.000Z');
      for (const s of [a, b, c]) await endSession(gw, org, s.id);
      at('2026-11-23T12:00:00.000Z');
      const d = await startGranted(gw, org, users[3]!);
      at('2026-11-23T12:30:00.000Z');
      await endSession(gw, org, d.id);
      at('2026-11-24T00:00:00.000Z');

      const from = '2026-11-19T06:00:00.000Z';
      const to = '2026-11-24T00:00:00.000Z';
      const days = (await gw.ok(USAGE_PER_DAY, { id: org.organizationId, from, to }, org.tokens.SUPERVISOR)).organization.usagePerDay as {
        day: string;
        from: string;
        to: string;
        rows: unknown[];
      }[];
      expect(days.map((d) => [d.day, d.from, d.to])).toEqual([
        ['2026-11-19', from, '2026-11-20T00:00:00.000Z'],
        ['2026-11-20', '2026-11-20T00:00:00.000Z', '2026-11-21T00:00:00.000Z'],
        ['2026-11-21', '2026-11-21T00:00:00.000Z', '2026-11-22T00:00:00.000Z'],
        ['2026-11-22', '2026-11-22T00:00:00.000Z', '2026-11-23T00:00:00.000Z'],
        ['2026-11-23', '2026-11-23T00:00:00.000Z', to],
      ]);
      for (const day of days) {
        const usage = (await gw.ok(USAGE, { id: org.organizationId, from: day.from, to: day.to }, org.tokens.SUPERVISOR)).organization
          .usage;
        expect(day.rows, day.day).toEqual(usage);
      }
      const seat = (day: number) =>
        (days[day]!.rows as { product: { code: string }; peakConcurrent: number; overageEpisodes: unknown[] }[]).find(
          (r) => r.product.code === 'AGENT_SEAT',
        );
      expect(seat(1)).toMatchObject({ peakConcurrent: 3, overageEpisodes: [{ peakExcess: 1, billable: true }] });
      expect(seat(2)).toMatchObject({ peakConcurrent: 3, overageEpisodes: [{ endedAt: '2026-11-21T01:00:00.000Z' }] });
      expect(seat(3)).toMatchObject({ peakConcurrent: 0, overageEpisodes: [] });
      expect(seat(4)).toMatchObject({ peakConcurrent: 1 });

      const reversed = await gw.gql(USAGE_PER_DAY, { id: org.organizationId, from: to, to: from }, org.admin);
      expect(codeOf(reversed)).toBe('BAD_USER_INPUT');
    });

    it('[R-SEC-3] usagePerDay is priced by its interval like usage: a month fits, 29 aliased 399-day charts are refused', () => {
      const schema = getSchema();
      const month = { id: 'x', from: '2026-11-01T00:00:00Z', to: '2026-12-01T00:00:00Z' };
      const perDay = operationCost(schema, parse(USAGE_PER_DAY), null, month);
      const once = operationCost(schema, parse(USAGE), null, month);
      expect(perDay).toBeGreaterThan(once);
      expect(perDay).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost);
      const week = operationCost(schema, parse(USAGE_PER_DAY), null, { ...month, to: '2026-11-08T00:00:00Z' });
      expect(perDay).toBeGreaterThan(week * 3);
      const aliases = `query($id: ID!, $from: DateTime!, $to: DateTime!) { organization(id: $id) { ${Array.from({ length: 29 }, (_, i) => `u${i}: usagePerDay(from: $from, to: $to) { day rows { peakConcurrent } }`).join(' ')} } }`;
      expect(
        operationCost(schema, parse(aliases), null, { id: 'x', from: '2025-10-19T00:00:00Z', to: '2026-11-22T00:00:00Z' }),
      ).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 10);
    });

    // ---------------------------------------------------------------- channel change

    it('[R-CHAN-1] an agent adds e-mail to an open session: a unit is taken as at the start (emergency next), refused with its code and rule when none is left, freed when dropped or ended', async () => {
      const { org, users } = await staffed(3);
      const a = await startGranted(gw, org, users[0]!, ['VOICE']);
      const b = await startGranted(gw, org, users[1]!, ['VOICE']);
      const c = await startGranted(gw, org, users[2]!);

      const first = await change(org, a.id, ['VOICE', 'email']);
      expect(first.errors).toBeUndefined();
      expect(first.data?.changeSessionChannels).toMatchObject({
        session: { id: a.id, channels: ['VOICE', 'EMAIL'], seatKind: 'REGULAR' },
        addedChannels: ['EMAIL'],
        removedChannels: [],
        deniedChannels: [],
      });
      expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(1);
      // The regular unit is taken: the emergency one serves the next agent. The session's seat stays REGULAR;
      // the EMAIL unit carries its own kind (R-CHAN-2).
      const second = (await change(org, b.id, ['VOICE', 'EMAIL'])).data?.changeSessionChannels;
      expect(second).toMatchObject({
        addedChannels: ['EMAIL'],
        session: { seatKind: 'REGULAR', channelUnits: expect.arrayContaining([{ channel: 'EMAIL', kind: 'EMERGENCY' }]) },
      });
      // None left: refused as data with NO_SEAT_AVAILABLE naming the pool and R-CHAN-1; the session keeps what it had.
      const third = (await change(org, c.id, ['EMAIL', 'SMS'])).data?.changeSessionChannels;
      expect(third).toMatchObject({ addedChannels: ['SMS'], session: { channels: ['SMS'] } });
      expect(third?.deniedChannels).toEqual([
        { channel: 'EMAIL', code: 'NO_SEAT_AVAILABLE', message: expect.stringMatching(/EMAIL.*R-CHAN-1/) },
      ]);
      expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(2);
      expect(await poolCounter(gw, org.organizationId, 'SMS')).toBe(1);

      // Dropping e-mail frees its unit; the next agent gets it.
      const dropped = (await change(org, a.id, ['VOICE'])).data?.changeSessionChannels;
      expect(dropped).toMatchObject({ removedChannels: ['EMAIL'], addedChannels: [], session: { channels: ['VOICE'] } });
      expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(1);
      expect((await change(org, c.id, ['SMS', 'EMAIL'])).data?.changeSessionChannels.addedChannels).toEqual(['EMAIL']);
      // Ending a session frees the units it gained by a change.
      for (const s of [a, b, c]) await endSession(gw, org, s.id);
      for (const product of ['AGENT_SEAT', 'VOICE', 'EMAIL', 'SMS']) expect(await poolCounter(gw, org.organizationId, product)).toBe(0);

      // Events as at the start, with the usage points of the pools; the webhook outbox gets them like every session event.
      const events = (await gw.ok(EVENTS, { id: org.organizationId, types: ['SESSION_CHANNELS_CHANGED'] }, org.admin)).organization
        .events as EventsPage;
      expect(events.totalCount).toBe(5);
      expect(events.edges.at(-1)?.node).toMatchObject({
        userId: users[0],
        product: { code: 'EMAIL' },
        detail: expect.stringContaining('EMAIL REGULAR'),
      });
      // An ended session cannot change; an AGENT_CLIENT of another organization gets NOT_FOUND; a reader may not change.
      const ended = await change(org, a.id, ['EMAIL']);
      expect(codeOf(ended)).toBe('BAD_USER_INPUT');
      expect(ended.errors?.[0]?.extensions?.field).toBe('input.sessionId');
      const other = await staffed(1);
      expect(codeOf(await change(other.org, c.id, ['EMAIL']))).toBe('NOT_FOUND');
      const open = await startGranted(gw, org, users[0]!);
      expect(codeOf(await change(org, open.id, ['EMAIL'], org.tokens.SUPERVISOR))).toBe('FORBIDDEN');
      expect(codeOf(await change(org, open.id, ['e-mail']))).toBe('BAD_USER_INPUT');
    });

    it('[R-CHAN-1] a channel change writes to the webhook outbox in its transaction, as every session event', async () => {
      const { org, users } = await staffed(1);
      await gw.ok(
        `mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } } }`,
        { input: { organizationId: org.organizationId, url: 'https://receiver.example/hook', eventTypes: ['SESSION_CHANNELS_CHANGED'] } },
        org.admin,
      );
      const s = await startGranted(gw, org, users[0]!);
      expect((await change(org, s.id, ['EMAIL'])).data?.changeSessionChannels.addedChannels).toEqual(['EMAIL']);
      const messages = (
        await sql<{ event_type: string; organization_id: string }>`select event_type, organization_id from webhook_messages
          where organization_id = ${org.organizationId}`.execute(gw.database.db)
      ).rows;
      expect(messages).toEqual([{ event_type: 'SESSION_CHANNELS_CHANGED', organization_id: org.organizationId }]);
      await endSession(gw, org, s.id);
    });

    it('[R-CONC-4][R-CHAN-1] race: concurrent channel changes, starts and ends on a small e-mail pool end with exact counts', {
      timeout: 180_000,
    }, async () => {
      const bought: Bought[] = [
        { product: 'BASE', quantity: 40 },
        { product: 'AGENT_SEAT', quantity: 40 },
        { product: 'EMAIL', quantity: 3, emergencyQuantity: 1 },
      ];
      const { org, users } = await staffed(16, bought);
      const early = [];
      for (const user of users.slice(0, 8)) early.push(await startGranted(gw, org, user));
      const late = users.slice(8);
      const work: Promise<unknown>[] = [];
      for (let round = 0; round < 3; round++) {
        for (const s of early) work.push(change(org, s.id, round % 2 === 0 ? ['EMAIL'] : []));
      }
      for (const user of late) work.push(startSession(gw, org, user, ['EMAIL']));
      work.push(endSession(gw, org, early[0]!.id), endSession(gw, org, early[1]!.id));
      const results = await Promise.all(work);
      for (const r of results) {
        if (r && typeof r === 'object' && 'errors' in r && (r as { errors?: unknown[] }).errors) {
          // Only a change of a session ended meanwhile may be refused.
          expect(codeOf(r as never)).toBe('BAD_USER_INPUT');
        }
      }
      const open = await gw.database.db
        .selectFrom('sessions')
        .select(['id', 'channels'])
        .where('organization_id', '=', org.organizationId)
        .where('ended_at', 'is', null)
        .execute();
      const units = await gw.database.db
        .selectFrom('session_seats')
        .innerJoin('sessions', (j) =>
          j.onRef('sessions.id', '=', 'session_seats.session_id').onRef('sessions.organization_id', '=', 'session_seats.organization_id'),
        )
        .select(['session_seats.session_id', 'sessions.ended_at'])
        .where('session_seats.organization_id', '=', org.organizationId)
        .where('session_seats.product_code', '=', 'EMAIL')
        .execute();
      const withEmail = open.filter((s) => s.channels.includes('EMAIL'));
      // Ended sessions keep their seat rows (history); the open ones hold a unit exactly when they list the channel.
      const held = units.filter((u) => u.ended_at === null).map((u) => u.session_id);
      expect(held.sort()).toEqual(withEmail.map((s) => s.id).sort());
      expect(await poolCounter(gw, org.organizationId, 'EMAIL')).toBe(withEmail.length);
      expect(withEmail.length).toBeLessThanOrEqual(4);
      expect(await poolCounter(gw, org.organizationId, 'AGENT_SEAT')).toBe(open.length);
      expect(open.length).toBe(14);
      for (const s of open) await endSession(gw, org, s.id);
      for (const product of ['AGENT_SEAT', 'EMAIL']) expect(await poolCounter(gw, org.organizationId, product)).toBe(0);
    });

    // ---------------------------------------------------------------- the 100-user admin page

    it('[R-SEC-3][R-API-4] a 100-user page of users with their licences and warnings costs what its loaders do: well within the limit, and served', {
      timeout: 180_000,
    }, async () => {
      const schema = getSchema();
      const cost = operationCost(schema, parse(ADMIN_PAGE), null, { id: 'x', first: 100 });
      // Priced by the objects it loads (batched per request), not by every scalar: under a fifth of the default limit.
      expect(cost).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost / 5);
      // Hostile nesting stays refused: a connection per user costs per user.
      const nested =
        'query($o: ID!, $n: Int) { organization(id: $o) { users(first: $n) { edges { node { site { users(first: $n) { edges { node { id name } } } } } } } } }';
      expect(operationCost(schema, parse(nested), null, { o: 'x', n: 500 })).toBeGreaterThan(DEFAULT_LIMITS.maxCost * 5);

      const { org } = await staffed(100);
      const page = await gw.gql(ADMIN_PAGE, { id: org.organizationId, first: 100 }, org.tokens.SUPERVISOR);
      expect(page.errors).toBeUndefined();
      const users = page.data?.organization.users;
      expect(users.totalCount).toBe(100);
      expect(users.edges).toHaveLength(100);
      expect(users.edges[0].node.licenses.map((l: { product: { code: string } }) => l.product.code)).toContain('AGENT_SEAT');
    });
  });
}
