import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BILLING_CSV_COLUMNS } from '../../src/billing/billing.service.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, createUser, OPERATOR_TOKEN, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { TRUSTED_KEYS, activateKey, createGroup, createUsers, issueLicenseKey, licensedOrg, type Bought } from '../support/licensing.ts';
import { listenOn } from '../support/listen.ts';
import { advanceKeepingAlive, endSession, startGranted, startSession, usageOf } from '../support/sessions.ts';

/*
 * Billing per calendar month (docs/rules.md R-BILL-1..3, R-OVER-2) and the
 * kinds of a session's seat and channel units (R-CHAN-2), through the public
 * API on every database: the GraphQL report, the CSV export over HTTP, and
 * the figures agreeing with usage(from, to) for the same month.
 */

const NOV = { period: '2026-11', from: new Date('2026-11-01T00:00:00.000Z'), to: new Date('2026-12-01T00:00:00.000Z') };
const DEC = { period: '2026-12', from: new Date('2026-12-01T00:00:00.000Z'), to: new Date('2027-01-01T00:00:00.000Z') };
const MINUTE = 60_000;
const NOW = new Date('2026-11-22T10:00:00.000Z');

const ZOOM_OVERAGE: Bought[] = [
  { product: 'ESSENTIALS', quantity: 2, allocation: 'CONCURRENT', overageAllowed: true, overageGraceMinutes: 30 },
];
const STORM: Bought[] = [
  { product: 'BASE', quantity: 10 },
  { product: 'AGENT_SEAT', quantity: 2, emergencyQuantity: 1 },
  { product: 'VOICE', quantity: 1, emergencyQuantity: 1 },
];

const BILLING = `query($id: ID!, $month: String!) {
  organization(id: $id) {
    billing(month: $month) {
      period from to complete activeUsers overageInvoicedIn
      rows { product { code } licensed emergencyLicensed peakConcurrent emergencyPeak billableOverage overageEpisodes { startedAt endedAt peakExcess peakExcessInInterval billable } }
    }
  }
}`;

interface BillingRowView {
  product: { code: string };
  licensed: number;
  emergencyLicensed: number;
  peakConcurrent: number;
  emergencyPeak: number;
  billableOverage: number;
  overageEpisodes: { startedAt: string; endedAt: string | null; peakExcess: number; peakExcessInInterval: number; billable: boolean }[];
}
interface BillingView {
  period: string;
  from: string;
  to: string;
  complete: boolean;
  activeUsers: number;
  overageInvoicedIn: string;
  rows: BillingRowView[];
}

const SESSION_UNITS = `query($id: ID!) { user(id: $id) { sessions { seatKind channels channelUnits { channel product { code } kind } } } }`;

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    const billing = async (org: OrgFixture, month: string, token = org.admin): Promise<BillingView> =>
      (await gw.ok<{ organization: { billing: BillingView } }>(BILLING, { id: org.organizationId, month }, token)).organization.billing;
    const rowOf = (report: BillingView, product: string) => report.rows.find((r) => r.product.code === product);
    const activeInPeriod = async (org: OrgFixture) =>
      (
        await gw.ok<{ organization: { activeUsersInBillingPeriod: number } }>(
          `query($id: ID!) { organization(id: $id) { activeUsersInBillingPeriod } }`,
          { id: org.organizationId },
          org.admin,
        )
      ).organization.activeUsersInBillingPeriod;

    async function staffed(catalog: string, bought: Bought[], functions: string[], count: number) {
      const org = await licensedOrg(gw, catalog, bought);
      const group = await createGroup(gw, org, 'Agents', functions);
      const users = await createUsers(gw, org, count, { configurationGroupId: group });
      return { org, users };
    }

    // ---------------------------------------------------------------- R-OVER-2

    describe('an overage episode across a month boundary', () => {
      it('[R-OVER-2] 23:40 → 00:40 across 1 December, 2 over capacity in November and 1 in December: each month bills the peak of its own part', async () => {
        gw.clock.set(new Date('2026-11-30T23:00:00.000Z'));
        const { org, users } = await staffed('zoom-contact-center', ZOOM_OVERAGE, ['ESSENTIALS'], 4);
        const base = [(await startGranted(gw, org, users[0]!)).id, (await startGranted(gw, org, users[1]!)).id];
        await advanceKeepingAlive(gw, org, 40 * MINUTE, base, 100_000);
        const over = [(await startGranted(gw, org, users[2]!)).id, (await startGranted(gw, org, users[3]!)).id];
        await advanceKeepingAlive(gw, org, 15 * MINUTE, [...base, ...over], 100_000);
        await endSession(gw, org, over[1]!);
        await advanceKeepingAlive(gw, org, 45 * MINUTE, [...base, over[0]!], 100_000);
        expect(gw.clock.now().toISOString()).toBe('2026-12-01T00:40:00.000Z');
        await endSession(gw, org, over[0]!);

        const november = await usageOf(gw, org, 'ESSENTIALS', NOV.from, NOV.to);
        const december = await usageOf(gw, org, 'ESSENTIALS', DEC.from, DEC.to);
        const episode = { startedAt: '2026-11-30T23:40:00.000Z', endedAt: '2026-12-01T00:40:00.000Z', billable: true };
        // One episode of 60 minutes, billable by its whole length in both months.
        expect(november?.overageEpisodes).toEqual([{ ...episode, peakExcess: 2 }]);
        expect(december?.overageEpisodes).toEqual([{ ...episode, peakExcess: 2 }]);
        expect(november?.billableOverage).toBe(2);
        // December bills only its own part: 1 over capacity from midnight on (not November's 2 again).
        expect(december?.billableOverage).toBe(1);
      });

      it('[R-OVER-2][R-BILL-1] billing(month) agrees with usage(from, to) of the same month on every figure, in both months', async () => {
        gw.clock.set(new Date('2026-11-30T23:30:00.000Z'));
        const { org, users } = await staffed('zoom-contact-center', ZOOM_OVERAGE, ['ESSENTIALS'], 4);
        const base = [(await startGranted(gw, org, users[0]!)).id, (await startGranted(gw, org, users[1]!)).id];
        await advanceKeepingAlive(gw, org, 20 * MINUTE, base, 100_000);
        const over = [(await startGranted(gw, org, users[2]!)).id, (await startGranted(gw, org, users[3]!)).id];
        await advanceKeepingAlive(gw, org, 20 * MINUTE, [...base, ...over], 100_000);
        await endSession(gw, org, over[0]!);
        await advanceKeepingAlive(gw, org, 15 * MINUTE, [...base, over[1]!], 100_000);
        await endSession(gw, org, over[1]!);

        for (const month of [NOV, DEC]) {
          const usage = await usageOf(gw, org, 'ESSENTIALS', month.from, month.to);
          const report = await billing(org, month.period);
          expect(report).toMatchObject({ period: month.period, from: month.from.toISOString(), to: month.to.toISOString() });
          const row = rowOf(report, 'ESSENTIALS');
          expect(row).toBeDefined();
          expect({
            peakConcurrent: row?.peakConcurrent,
            emergencyPeak: row?.emergencyPeak,
            billableOverage: row?.billableOverage,
            episodes: row?.overageEpisodes.map(({ peakExcessInInterval: _, ...e }) => e),
          }).toEqual({
            peakConcurrent: usage?.peakConcurrent,
            emergencyPeak: usage?.emergencyPeak,
            billableOverage: usage?.billableOverage,
            episodes: usage?.overageEpisodes,
          });
        }
        const [nov, dec] = [rowOf(await billing(org, NOV.period), 'ESSENTIALS'), rowOf(await billing(org, DEC.period), 'ESSENTIALS')];
        // 23:50 → 00:25, 2 over on both sides of midnight: each month bills its part, billable by the whole 35 minutes.
        expect(nov).toMatchObject({ peakConcurrent: 4, billableOverage: 2, licensed: 2 });
        expect(dec).toMatchObject({ peakConcurrent: 4, billableOverage: 2 });
        expect(dec?.overageEpisodes).toEqual([
          {
            startedAt: '2026-11-30T23:50:00.000Z',
            endedAt: '2026-12-01T00:25:00.000Z',
            peakExcess: 2,
            peakExcessInInterval: 2,
            billable: true,
          },
        ]);
        // The current month's active users are activeUsersInBillingPeriod's (R-TEN-2).
        expect((await billing(org, DEC.period)).activeUsers).toBe(await activeInPeriod(org));
      });
    });

    // ---------------------------------------------------------------- R-BILL-1

    describe('the billing report', () => {
      it('[R-BILL-1][R-EMER-2][R-TEN-2] connect storm: licences held, peak concurrent, the emergency peak billed, active users of the month', async () => {
        const { org, users } = await staffed('connect-storm', STORM, ['BASE', 'AGENT_SEAT'], 3);
        await createUser(gw, org.admin, { siteId: org.siteId, name: 'Not yet', status: 'PREPARING' });
        const sessions = [];
        for (const user of users) sessions.push(await startGranted(gw, org, user));
        expect(sessions.map((s) => s.seatKind)).toEqual(['REGULAR', 'REGULAR', 'EMERGENCY']);
        gw.clock.advance(10 * MINUTE);
        for (const s of sessions) await endSession(gw, org, s.id);

        const report = await billing(org, NOV.period);
        expect(report).toMatchObject({ period: '2026-11', complete: false, activeUsers: 3, overageInvoicedIn: '2026-12' });
        expect(report.activeUsers).toBe(await activeInPeriod(org));
        expect(rowOf(report, 'BASE')).toMatchObject({ licensed: 10, emergencyLicensed: 0, peakConcurrent: 0, emergencyPeak: 0 });
        expect(rowOf(report, 'AGENT_SEAT')).toMatchObject({
          licensed: 2,
          emergencyLicensed: 1,
          peakConcurrent: 3,
          emergencyPeak: 1,
          billableOverage: 0,
          overageEpisodes: [],
        });
        const usage = await usageOf(gw, org, 'AGENT_SEAT', NOV.from, NOV.to);
        expect(rowOf(report, 'AGENT_SEAT')).toMatchObject({ peakConcurrent: usage?.peakConcurrent, emergencyPeak: usage?.emergencyPeak });

        // Once November is over, its report is final and shows the same figures.
        gw.clock.set(new Date('2026-12-02T00:00:00.000Z'));
        expect(await billing(org, NOV.period)).toMatchObject({ complete: true, activeUsers: 3, rows: report.rows });
      });

      it('[R-BILL-1] a malformed month or one that has not begun is BAD_USER_INPUT naming `month`; SUPERVISOR is FORBIDDEN; another organization is NOT_FOUND', async () => {
        const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 2 }]);
        const other = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 2 }]);
        for (const month of ['2026-13', '2026-1', 'November', '2026-11-01']) {
          const result = await gw.gql(BILLING, { id: org.organizationId, month }, org.admin);
          expect(codeOf(result)).toBe('BAD_USER_INPUT');
          expect(result.errors?.[0]?.message).toMatch(/^month: .*R-BILL-1/);
        }
        const future = await gw.gql(BILLING, { id: org.organizationId, month: '2027-01' }, org.admin);
        expect(codeOf(future)).toBe('BAD_USER_INPUT');
        expect(future.errors?.[0]?.message).toContain('has not begun');
        for (const role of ['SUPERVISOR', 'INTEGRATOR', 'AGENT_CLIENT'] as const) {
          const refused = await gw.gql(BILLING, { id: org.organizationId, month: '2026-11' }, org.tokens[role]);
          expect(codeOf(refused)).toBe('FORBIDDEN');
        }
        expect(codeOf(await gw.gql(BILLING, { id: other.organizationId, month: '2026-11' }, org.admin))).toBe('NOT_FOUND');
        expect((await billing(org, '2026-11', OPERATOR_TOKEN)).rows.map((r) => r.product.code)).toEqual(['ACD_AGENT']);
        // An organization without a key holds nothing and used nothing: no rows.
        const bare = await createOrg(gw, 'innoacd');
        expect(await billing(bare, '2026-11')).toMatchObject({ activeUsers: 0, rows: [] });
      });
    });

    // ---------------------------------------------------------------- R-BILL-2, R-BILL-3

    describe('the CSV export', () => {
      let base: string;
      beforeAll(async () => {
        ({ base } = await listenOn(gw));
      });

      const get = (path: string, token: string | null) =>
        fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

      it('[R-BILL-2] GET /billing/<org>/<YYYY-MM>.csv: RFC 4180 with a header row, the report figures, formula-like names defused', async () => {
        const org = await createOrg(gw, 'connect-storm', '=HYPERLINK("http://evil.example","Rates, "2026"")');
        await activateKey(gw, org, issueLicenseKey('connect-storm', STORM, { org }));
        const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
        const users = await createUsers(gw, org, 3, { configurationGroupId: group });
        for (const user of users) await startGranted(gw, org, user);

        const response = await get(`/billing/${org.organizationId}/2026-11.csv`, org.admin);
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toMatch(/^text\/csv; charset=utf-8/);
        expect(response.headers.get('content-disposition')).toBe(`attachment; filename="billing-${org.organizationId}-2026-11.csv"`);
        const text = await response.text();
        expect(text.endsWith('\r\n')).toBe(true);
        expect(text.split('\r\n')[0]).toBe(BILLING_CSV_COLUMNS.join(','));
        const records: Record<string, string>[] = parse(text, { columns: true });
        const report = await billing(org, NOV.period);
        expect(records.map((r) => r.product)).toEqual(report.rows.map((r) => r.product.code));
        const seat = records.find((r) => r.product === 'AGENT_SEAT');
        const row = rowOf(report, 'AGENT_SEAT');
        expect(seat).toMatchObject({
          organization_id: org.organizationId,
          period: '2026-11',
          period_start: NOV.from.toISOString(),
          period_end: NOV.to.toISOString(),
          allocation: 'CONCURRENT',
          licensed: String(row?.licensed),
          emergency_licensed: '1',
          active_users: String(report.activeUsers),
          peak_concurrent: '3',
          emergency_peak: '1',
          billable_overage: '0',
          billable_overage_episodes: '0',
          overage_invoiced_in: '2026-12',
          complete: 'false',
        });
        // The name's quotes and comma survive RFC 4180 quoting; a leading = is prefixed so no spreadsheet runs it.
        expect(seat?.organization_name).toBe(`'=HYPERLINK("http://evil.example","Rates, "2026"")`);
        expect(text).toContain(`"'=HYPERLINK(""http://evil.example"",""Rates, ""2026"""")"`);
        for (const start of ['+', '-', '@']) {
          const named = await createOrg(gw, 'innoacd', `${start}cmd|' /C calc'!A0`);
          await activateKey(gw, named, issueLicenseKey('innoacd', [{ product: 'ACD_AGENT', quantity: 1 }], { org: named }));
          const csv = await (await get(`/billing/${named.organizationId}/2026-11.csv`, OPERATOR_TOKEN)).text();
          const [record] = parse(csv, { columns: true }) as Record<string, string>[];
          expect(record?.organization_name).toBe(`'${start}cmd|' /C calc'!A0`);
        }
      });

      it('[R-BILL-3] refusals are JSON with a reason and no stack trace: 401 without or with a bad token, 403 for other roles, 404 elsewhere, 400 for a bad month', async () => {
        const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 2 }]);
        const other = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 2 }]);
        const path = `/billing/${org.organizationId}/2026-11.csv`;
        const cases: [string, string | null, number, string][] = [
          [path, null, 401, 'UNAUTHENTICATED'],
          [path, 'not-a-token', 401, 'UNAUTHENTICATED'],
          [path, org.tokens.SUPERVISOR, 403, 'FORBIDDEN'],
          [path, org.tokens.INTEGRATOR, 403, 'FORBIDDEN'],
          [path, org.tokens.AGENT_CLIENT, 403, 'FORBIDDEN'],
          [path, other.admin, 404, 'NOT_FOUND'],
          [`/billing/${org.organizationId}/2026-13.csv`, org.admin, 400, 'BAD_USER_INPUT'],
          [`/billing/${org.organizationId}/2099-01.csv`, org.admin, 400, 'BAD_USER_INPUT'],
          [`/billing/not-an-id/2026-11.csv`, OPERATOR_TOKEN, 404, 'NOT_FOUND'],
          [`/billing/${org.organizationId}/2026-11.json`, org.admin, 404, 'NOT_FOUND'],
        ];
        for (const [url, token, status, code] of cases) {
          const response = await get(url, token);
          expect({ url, token, status: response.status }).toEqual({ url, token, status });
          expect(response.headers.get('content-type')).toMatch(/^application\/json/);
          const body = (await response.json()) as { error: string; code: string };
          expect(body.code).toBe(code);
          expect(body.error.length).toBeGreaterThan(0);
          expect(JSON.stringify(body)).not.toMatch(/\bat .*\.ts:\d+|node_modules|select /i);
        }
        const forbidden = (await (await get(path, org.tokens.SUPERVISOR)).json()) as { error: string };
        expect(forbidden.error).toContain('R-BILL-3');
        const post = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${org.admin}` } });
        expect(post.status).toBe(405);
        expect((await get(path, OPERATOR_TOKEN)).status).toBe(200);
      });
    });

    // ---------------------------------------------------------------- R-CHAN-2

    describe('seat kind and channel units', () => {
      it('[R-CHAN-2] an agent on a regular seat with an emergency VOICE unit: seatKind REGULAR (the seat), not EMERGENCY', async () => {
        const { org, users } = await staffed('connect-storm', STORM, ['BASE', 'AGENT_SEAT', 'VOICE'], 2);
        const first = await startSession(gw, org, users[0]!, ['VOICE']);
        expect(first).toMatchObject({ granted: true, grantedChannels: ['VOICE'], session: { seatKind: 'REGULAR' } });
        // The regular VOICE unit is taken: the second agent gets the emergency unit, on a regular seat.
        const second = await startSession(gw, org, users[1]!, ['VOICE']);
        expect(second).toMatchObject({ granted: true, grantedChannels: ['VOICE'] });
        expect(second.session?.seatKind).toBe('REGULAR');
        const stored = await gw.database.db
          .selectFrom('sessions')
          .select('seat_kind')
          .where('organization_id', '=', org.organizationId)
          .where('id', '=', second.session!.id)
          .executeTakeFirstOrThrow();
        expect(stored.seat_kind).toBe('REGULAR');
      });

      it('[R-CHAN-2] channelUnits lists each pooled unit with its own kind; the seat kind stays the seat’s, also when the seat is the emergency one', async () => {
        const { org, users } = await staffed('connect-storm', STORM, ['BASE', 'AGENT_SEAT', 'VOICE'], 3);
        await startGranted(gw, org, users[0]!, ['VOICE']);
        await startGranted(gw, org, users[1]!, ['VOICE']);
        // Third: the emergency seat, no VOICE unit left (the channel is denied, the session goes on).
        const third = await startSession(gw, org, users[2]!, ['VOICE']);
        expect(third).toMatchObject({ granted: true, session: { seatKind: 'EMERGENCY' }, deniedChannels: [{ channel: 'VOICE' }] });
        const units = async (user: string) =>
          (
            await gw.ok<{ user: { sessions: { seatKind: string; channels: string[]; channelUnits: unknown[] }[] } }>(
              SESSION_UNITS,
              { id: user },
              org.admin,
            )
          ).user.sessions[0];
        expect(await units(users[0]!)).toEqual({
          seatKind: 'REGULAR',
          channels: ['VOICE'],
          channelUnits: [{ channel: 'VOICE', product: { code: 'VOICE' }, kind: 'REGULAR' }],
        });
        expect(await units(users[1]!)).toEqual({
          seatKind: 'REGULAR',
          channels: ['VOICE'],
          channelUnits: [{ channel: 'VOICE', product: { code: 'VOICE' }, kind: 'EMERGENCY' }],
        });
        expect(await units(users[2]!)).toEqual({ seatKind: 'EMERGENCY', channels: [], channelUnits: [] });
        // An AGENT_CLIENT reads them too, on startSession's answer.
        const again = await gw.ok<{ startSession: { session: { seatKind: string; channelUnits: { kind: string }[] } } }>(
          `mutation($input: StartSessionInput!) { startSession(input: $input) { session { seatKind channelUnits { kind } } } }`,
          { input: { userId: users[1]!, channels: ['VOICE'] } },
          org.tokens.AGENT_CLIENT,
        );
        expect(again.startSession.session).toEqual({ seatKind: 'REGULAR', channelUnits: [{ kind: 'EMERGENCY' }] });
      });
    });
  });
}
