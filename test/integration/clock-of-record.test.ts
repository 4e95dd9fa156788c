import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { ManualClock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { DbClock } from '../../src/db/db-clock.ts';
import type { Db } from '../../src/db/database.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { listen, wsRun, type ListeningApp } from '../support/listen.ts';
import { DATABASES } from '../support/databases.ts';
import { createOrg, createUser, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import { activateKey, createGroup, issueLicenseKey, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { HEARTBEAT, START_SESSION } from '../support/sessions.ts';

/*
 * R-LIFE-6, the clock of record (src/db/db-clock.ts), in-process on every
 * database. An instance's OS clock is stood elsewhere through DbClock's `wall`
 * (as ManualClock stands "now" elsewhere): the database's time stays the real
 * one, on PGlite as on PostgreSQL, because the test process's clock is not
 * faked. The real-process version under faketime is test/e2e/clock-skew.test.ts.
 */

const DAY = 86_400_000;
const BOUND = 60_000;

const dbNow = async (db: Db): Promise<number> => (await sql<{ t: Date }>`select clock_timestamp() as t`.execute(db)).rows[0]!.t.getTime();
const markOf = async (db: Db, id: string) =>
  await db.selectFrom('organizations').select(['clock_high_water', 'license_state']).where('id', '=', id).executeTakeFirstOrThrow();

describe('[R-LIFE-6] CLOCK_SKEW_MAX_SECONDS', () => {
  it('defaults to 60 s, takes whole seconds, and a bad value names the variable', () => {
    const env = { OPERATOR_TOKEN: 'config-operator-token-0123456789' };
    expect(loadConfig(env).clockSkewMaxMs).toBe(60_000);
    expect(loadConfig({ ...env, CLOCK_SKEW_MAX_SECONDS: '5' }).clockSkewMaxMs).toBe(5_000);
    expect(() => loadConfig({ ...env, CLOCK_SKEW_MAX_SECONDS: '0' })).toThrow(/^CLOCK_SKEW_MAX_SECONDS: must be between 1 and 86400/);
    expect(() => loadConfig({ ...env, CLOCK_SKEW_MAX_SECONDS: '1m' })).toThrow(/^CLOCK_SKEW_MAX_SECONDS: must be a whole number/);
  });
});

for (const kind of DATABASES) {
  describe(`[R-LIFE-6] clock of record (${kind})`, () => {
    const open: { close(): Promise<void> }[] = [];
    afterEach(async () => {
      // Listening apps first: they share the gateway's database.
      for (const item of open.splice(0).reverse()) await item.close();
    });

    /** A gateway (ManualClock at 2026-11-22) with one ACTIVE innoACD organization: its high-water mark is that day. */
    async function seeded(): Promise<{ gw: TestGateway; org: OrgFixture }> {
      const gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
      open.push(gw);
      const org = await licensedOrg(gw, 'innoacd', [{ product: 'ACD_AGENT', quantity: 5 }]);
      return { gw, org };
    }

    async function serve(gw: TestGateway, clock: DbClock, sweepIntervalMs = 0): Promise<ListeningApp> {
      const app = await listen(kind, { clock, sweepIntervalMs, trustedKeys: TRUSTED_KEYS }, gw.database);
      open.push(app);
      return app;
    }

    it("[R-LIFE-6] DbClock: now() is the database's time whatever the OS clock says; the skew is measured both ways", async () => {
      const { gw } = await seeded();
      const ahead = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0, wall: () => Date.now() + 800 * DAY });
      expect(ahead.health()).toMatchObject({ ok: false, skewMs: null });
      const before = await dbNow(gw.database.db);
      const health = await ahead.measure();
      const now = ahead.now().getTime();
      const after = await dbNow(gw.database.db);
      const slack = (health.roundTripMs ?? 0) + 2;
      expect(now).toBeGreaterThanOrEqual(before - slack);
      expect(now).toBeLessThanOrEqual(after + slack);
      expect(health.ok).toBe(false);
      expect(Math.abs(health.skewMs! - 800 * DAY)).toBeLessThanOrEqual(slack);
      expect(health.message).toMatch(/800d 0h 0m 0s ahead of the database's \(bound CLOCK_SKEW_MAX_SECONDS=60\)/);

      const behind = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0, wall: () => Date.now() - 2 * DAY });
      const back = await behind.measure();
      expect(back.ok).toBe(false);
      expect(Math.abs(back.skewMs! + 2 * DAY)).toBeLessThanOrEqual((back.roundTripMs ?? 0) + 2);
      expect(back.message).toContain('behind the database');

      const right = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0 });
      expect((await right.measure()).ok).toBe(true);
    });

    it("[R-LIFE-6] an instance 800 days ahead: /readyz 503 with the skew, mutations CLOCK_SKEW (HTTP 503, graphql-ws too), queries on the database's time, its sweep skipped", async () => {
      const { gw, org } = await seeded();
      const seededMark = await markOf(gw.database.db, org.organizationId);
      const clock = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0, wall: () => Date.now() + 800 * DAY });
      await clock.measure();
      // A sweep interval: the app sweeps once as it starts (skipped here), and stop() waits for a running sweep.
      const app = await serve(gw, clock, 600_000);

      const readyz = await fetch(`${app.base}/readyz`);
      expect(readyz.status).toBe(503);
      const ready = (await readyz.json()) as { ready: boolean; clock: { ok: boolean; skewSeconds: number; maxSkewSeconds: number } };
      expect(ready.ready).toBe(false);
      expect(ready.clock.ok).toBe(false);
      expect(Math.round(ready.clock.skewSeconds / 86_400)).toBe(800);
      expect(ready.clock.maxSkewSeconds).toBe(60);

      const site = `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`;
      const refused = await app.gql(site, { input: { organizationId: org.organizationId, name: 'Later' } }, org.admin);
      expect(refused.status).toBe(503);
      expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CLOCK_SKEW', rule: 'R-LIFE-6', maxSkewSeconds: 60 });
      expect(refused.errors?.[0]?.message).toMatch(
        /800d 0h 0m \d+s ahead of the database's \(bound CLOCK_SKEW_MAX_SECONDS=60\); this instance refuses changes/,
      );
      const overWs = await wsRun(app.ws(), site, { input: { organizationId: org.organizationId, name: 'Later' } });
      expect(overWs.errors?.[0]?.extensions).toMatchObject({ code: 'CLOCK_SKEW' });

      // Reads are served, at the database's time: still ACTIVE.
      const read = await app.gql(
        `query($id: ID!) { organization(id: $id) { license { state } sites { name } } }`,
        { id: org.organizationId },
        org.admin,
      );
      expect(read.errors).toBeUndefined();
      expect(read.data?.organization.license.state).toBe('ACTIVE');
      expect(read.data?.organization.sites.map((s: { name: string }) => s.name)).toEqual(['Headquarters']);

      await app.close();
      open.splice(open.indexOf(app), 1);
      expect(await markOf(gw.database.db, org.organizationId)).toEqual(seededMark);
    });

    it("[R-LIFE-6] an instance within the bound is ready, writes, and its sweep raises the mark to the database's time", async () => {
      const { gw, org } = await seeded();
      const clock = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0 });
      await clock.measure();
      const app = await serve(gw, clock, 600_000);
      const readyz = await fetch(`${app.base}/readyz`);
      expect(readyz.status).toBe(200);
      expect(((await readyz.json()) as { clock: { ok: boolean } }).clock.ok).toBe(true);
      const created = await app.gql(
        `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
        { input: { organizationId: org.organizationId, name: 'Branch' } },
        org.admin,
      );
      expect(created.errors).toBeUndefined();
      await app.close();
      open.splice(open.indexOf(app), 1);
      // The sweep at start ran (the same app, skewed, left the mark alone above).
      const mark = (await markOf(gw.database.db, org.organizationId)).clock_high_water!.getTime();
      expect(mark).toBeGreaterThan(new Date('2026-11-22T10:00:00.000Z').getTime());
      expect(mark).toBeLessThanOrEqual((await dbNow(gw.database.db)) + BOUND);
    });

    it('[R-LIFE-6] the database caps a mark written by a clock of record at its now() + the bound; a ManualClock without a bound (tests) writes its own time', async () => {
      const { gw, org } = await seeded();
      const catalogs = loadPresetCatalogs();
      const far = new Date(Date.now() + 800 * DAY);
      // A clock of record with a bug: 800 days ahead. The mark stops at the database's now() + 60 s.
      await sweepLicenseStates(gw.database.db, new ManualClock(far, { databaseBoundMs: BOUND }), catalogs);
      const capped = (await markOf(gw.database.db, org.organizationId)).clock_high_water!.getTime();
      const now = await dbNow(gw.database.db);
      expect(capped).toBeLessThanOrEqual(now + BOUND);
      expect(capped).toBeGreaterThan(now);
      // A test's ManualClock moves time far ahead on purpose and its mark follows.
      await sweepLicenseStates(gw.database.db, new ManualClock(far), catalogs);
      expect((await markOf(gw.database.db, org.organizationId)).clock_high_water!.getTime()).toBe(far.getTime());
    });

    it("[R-LIFE-6] through the API, a clock of record 800 days ahead (a bug) can push neither a mark nor a session expiry past the database's now() + TTL + the bound", async () => {
      const { gw } = await seeded();
      const far = new Date(Date.now() + 800 * DAY);
      const app = await listen(
        kind,
        { clock: new ManualClock(far, { databaseBoundMs: BOUND }), trustedKeys: TRUSTED_KEYS, sessionTtlSeconds: 120 },
        gw.database,
      );
      open.push(app);
      // The fixtures' helpers need only `ok`.
      const api = {
        ok: async (query: string, variables?: Record<string, unknown>, token?: string | null) => {
          const result = await app.gql(query, variables, token);
          if (result.errors?.length) throw new Error(JSON.stringify(result.errors));
          return result.data as never;
        },
      } as unknown as TestGateway;
      const licensed = await createOrg(api, 'innoacd', 'Far ahead');
      await activateKey(
        api,
        licensed,
        issueLicenseKey('innoacd', [{ product: 'ACD_AGENT', quantity: 5 }], {
          org: licensed,
          validFrom: new Date(far.getTime() - DAY).toISOString(),
        }),
      );
      const group = await createGroup(api, licensed, 'Agents', ['ACD_AGENT']);
      const agent = await createUser(api, licensed.admin, { siteId: licensed.siteId, name: 'Ada', configurationGroupId: group });
      const demo = await createOrg(api, 'innoacd', 'No key');
      const demoAgent = await createUser(api, demo.admin, { siteId: demo.siteId, name: 'Bob' });

      // The one-statement start, the transactional (demo) start, and a heartbeat.
      const first = await api.ok<{ startSession: { granted: boolean; session: { id: string } } }>(
        START_SESSION,
        { input: { userId: agent } },
        licensed.tokens.AGENT_CLIENT,
      );
      const second = await api.ok<{ startSession: { granted: boolean } }>(
        START_SESSION,
        { input: { userId: demoAgent } },
        demo.tokens.AGENT_CLIENT,
      );
      expect([first.startSession.granted, second.startSession.granted]).toEqual([true, true]);
      await api.ok(HEARTBEAT, { input: { sessionId: first.startSession.session.id } }, licensed.tokens.AGENT_CLIENT);

      const now = await dbNow(gw.database.db);
      const sessions = await gw.database.db
        .selectFrom('sessions')
        .select(['organization_id', 'expires_at'])
        .where('organization_id', 'in', [licensed.organizationId, demo.organizationId])
        .execute();
      expect(sessions).toHaveLength(2);
      for (const session of sessions) expect(session.expires_at.getTime()).toBeLessThanOrEqual(now + 120_000 + BOUND);
      expect((await markOf(gw.database.db, licensed.organizationId)).clock_high_water!.getTime()).toBeLessThanOrEqual(now + BOUND);
    });

    it("[R-LIFE-6] CLOCK_ROLLBACK is still reported on the database's time (a mark recorded while the database clock was 3 days ahead)", async () => {
      const { gw, org } = await seeded();
      await sql`update organizations set clock_high_water = now() + interval '3 days' where id = ${org.organizationId}`.execute(
        gw.database.db,
      );
      const clock = new DbClock({ db: gw.database.db, maxSkewMs: BOUND, intervalMs: 0 });
      await clock.measure();
      const app = await serve(gw, clock);
      const read = await app.gql(
        `query($id: ID!) { organization(id: $id) { license { state } warnings { code message } } }`,
        { id: org.organizationId },
        org.admin,
      );
      expect(read.errors).toBeUndefined();
      expect(read.data?.organization.license.state).toBe('ACTIVE');
      expect(read.data?.organization.warnings).toEqual([
        expect.objectContaining({
          code: 'CLOCK_ROLLBACK',
          message: expect.stringMatching(/is (2d 23h 59m|3d 0h 0m) behind the latest time seen/),
        }),
      ]);
    });
  });
}
