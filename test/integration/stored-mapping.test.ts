import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { createUser, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import {
  MAPPING_COLUMNS,
  TRUSTED_KEYS,
  activateKey,
  assignLicense,
  countingDatabase,
  createGroup,
  createTeam,
  createUsers,
  issueLicenseKey,
  licensedOrg,
  moveUsers,
  unassignLicense,
  type Bought,
  type MappingRow,
} from '../support/licensing.ts';

/*
 * Cold mapping (issue 20, item 4): a just-started gateway answers its first
 * licence mapping from the allocation the last write stored (migration 0013),
 * without reading the organization's users, assignments and slots, while the
 * stored state is current; and the answer is exactly the computed one.
 *
 * Every check starts two new apps on the writer's database (empty caches, the
 * writer's instant): one reads the mapping first (the stored path where it is
 * current), the other computes the allocation first (its warnings read it)
 * and then reads the mapping from its cache (the computing path). Both must
 * be equal after every kind of write and when only time passes; where the
 * stored state is not current (a write by another instance, a licence state
 * or key changed by time, a 90-day window ended) the first app computes.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 86_400_000;
const MAPPING = `query($id: ID!) { organization(id: $id) { licenseMapping { ${MAPPING_COLUMNS} } } }`;
const WARM = `query($id: ID!) { organization(id: $id) { warnings { code } } }`;
const USER_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const UPDATE_GROUP = `mutation($input: UpdateConfigurationGroupInput!) { updateConfigurationGroup(input: $input) { configurationGroup { id } } }`;

/** Statements that read an allocation input that grows with the organization: users, assignments, slots. */
const inputReads = (sql: readonly string[]) => sql.filter((s) => /from "(users|assignments|license_slots)"/.test(s));

for (const kind of DATABASES) {
  describe(`cold mapping on ${kind}`, () => {
    let counting: Awaited<ReturnType<typeof countingDatabase>>;
    let gw: TestGateway;

    beforeAll(async () => {
      counting = await countingDatabase(kind);
      gw = await startGateway(kind, { now: NOW, database: counting.database, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw?.close());

    /** A just-started gateway on the writer's database at the writer's instant; stop it with `app.stop()` only. */
    const started = () => startGateway(kind, { now: gw.clock.now(), database: counting.database, trustedKeys: TRUSTED_KEYS });

    /**
     * The first mapping of a just-started gateway, equal to the computed one;
     * `stored` says whether it came from the stored allocation (then without
     * reading the users, assignments or slots).
     */
    async function firstMapping(org: OrgFixture): Promise<{ rows: MappingRow[]; stored: boolean; sql: string[] }> {
      const cold = await started();
      const computing = await started();
      try {
        counting.reset();
        const rows = (await cold.ok<{ organization: { licenseMapping: MappingRow[] } }>(MAPPING, { id: org.organizationId }, org.admin))
          .organization.licenseMapping;
        const sql = counting.sql();
        const stats = cold.app.caches.allocation.stats;
        const stored = stats.stored === 1;
        if (stored) expect(inputReads(sql), sql.join('\n')).toEqual([]);
        else expect(stats.misses, 'computed instead').toBe(1);

        await computing.ok(WARM, { id: org.organizationId }, org.admin);
        const computed = (
          await computing.ok<{ organization: { licenseMapping: MappingRow[] } }>(MAPPING, { id: org.organizationId }, org.admin)
        ).organization.licenseMapping;
        expect(computing.app.caches.allocation.stats).toMatchObject({ stored: 0, misses: 1, hits: 1 });
        expect(rows).toEqual(computed);
        return { rows, stored, sql };
      } finally {
        await cold.app.stop();
        await computing.app.stop();
      }
    }

    /** The first mapping after start came from the stored allocation (and equals the computed one). */
    async function servedStored(org: OrgFixture): Promise<MappingRow[]> {
      const { rows, stored } = await firstMapping(org);
      expect(stored, 'served from the stored allocation').toBe(true);
      return rows;
    }

    /** The first mapping after start was computed (the stored allocation is not current) and equals the computed one. */
    async function computedNotStored(org: OrgFixture): Promise<MappingRow[]> {
      const { rows, stored } = await firstMapping(org);
      expect(stored, 'stored allocation not used').toBe(false);
      return rows;
    }

    const row = (rows: readonly MappingRow[], product: string) => rows.find((r) => r.product.code === product);

    /** Raw SQL as another gateway instance would write: its own connection on PostgreSQL, the one handle on PGlite. */
    async function otherInstance(text: string, params: unknown[]): Promise<void> {
      if (counting.database.url) {
        const client = new pg.Client({ connectionString: counting.database.url });
        await client.connect();
        try {
          await client.query(text, params);
        } finally {
          await client.end();
        }
      } else {
        await counting.database.db.executeQuery(CompiledQuery.raw(text, params));
      }
    }

    it('[issue 20.4] a just-started gateway answers its first licence mapping without reading users, assignments or slots', async () => {
      gw.clock.set(NOW);
      const org = await licensedOrg(gw, 'xphone-connect', [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 2 },
      ]);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      await createUsers(gw, org, 3, { configurationGroupId: office, stepMs: 1000 });
      const { rows, stored, sql } = await firstMapping(org);
      expect(inputReads(sql), sql.join('\n')).toEqual([]);
      expect(stored).toBe(true);
      expect(row(rows, 'OFFICE')).toMatchObject({ total: 2, inUse: 2, available: 0 });
    });

    it('[R-MAP-1] [R-REASSIGN-3] connect storm: named base licences with the 90-day cool-down, concurrent seats, fixed seats, PREPARING and INACTIVE users', async () => {
      gw.clock.set(NOW);
      const bought: Bought[] = [
        { product: 'BASE', quantity: 4 },
        { product: 'AGENT_SEAT', quantity: 2, emergencyQuantity: 1 },
        { product: 'ADMINISTRATOR', quantity: 1 },
        { product: 'UC_USER', quantity: 2 },
      ];
      const org = await licensedOrg(gw, 'connect-storm', null);
      await activateKey(gw, org, issueLicenseKey('connect-storm', bought, { org, termMonths: 2, keyId: `K-STORM-1-${kind}` }));
      const agents = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      const [a, b] = await createUsers(gw, org, 2, { configurationGroupId: agents, stepMs: 1000 });
      const [c, d, e] = await createUsers(gw, org, 3, { prefix: 'Direct', stepMs: 1000 });
      await createUsers(gw, org, 1, { prefix: 'Preparing', status: 'PREPARING', configurationGroupId: agents });
      const [inactive] = await createUsers(gw, org, 1, { prefix: 'Gone', status: 'INACTIVE', configurationGroupId: agents });
      expect((await assignLicense(gw, org, c!, 'BASE')).errors).toBeUndefined();
      expect((await assignLicense(gw, org, d!, 'UC_USER')).errors).toBeUndefined();
      expect((await assignLicense(gw, org, a!, 'ADMINISTRATOR')).errors).toBeUndefined();
      let rows = await servedStored(org);
      expect(row(rows, 'BASE')).toMatchObject({ total: 4, inUse: 3, reusable: 0, available: 1 });
      expect(row(rows, 'AGENT_SEAT')).toMatchObject({ concurrentTotal: 2, emergencyTotal: 1 });

      // Freed within its window: reusable once.
      gw.clock.advance(10 * DAY);
      expect((await unassignLicense(gw, org, c!, 'BASE')).errors).toBeUndefined();
      rows = await servedStored(org);
      expect(row(rows, 'BASE')).toMatchObject({ inUse: 3, reusable: 1 });
      expect((await assignLicense(gw, org, e!, 'BASE')).errors).toBeUndefined();
      expect((await unassignLicense(gw, org, e!, 'BASE')).errors).toBeUndefined();
      await servedStored(org);

      // User status changes.
      await gw.ok(USER_STATUS, { input: { userId: inactive, status: 'ACTIVE' } }, org.admin);
      await servedStored(org);
      await gw.ok(USER_STATUS, { input: { userId: b, status: 'INACTIVE' } }, org.admin);
      rows = await servedStored(org);

      // A follow-up key, pending until the current term ends: the mapping is the current key's until then.
      await activateKey(
        gw,
        org,
        issueLicenseKey('connect-storm', [...bought.slice(1), { product: 'BASE', quantity: 6 }], {
          org,
          validFrom: '2027-01-01T00:00:00.000Z',
          keyId: `K-STORM-2-${kind}`,
        }),
      );
      expect(await servedStored(org)).toEqual(rows);
      gw.clock.set(new Date('2026-12-31T23:59:59.999Z'));
      expect(await servedStored(org)).toEqual(rows);
      // The pending key takes over by time alone: its entitlements differ from the stored ones.
      gw.clock.set(new Date('2027-01-01T00:00:00.000Z'));
      rows = await computedNotStored(org);
      expect(row(rows, 'BASE')).toMatchObject({ total: 6 });

      // A write stores the allocation at this instant again; a freed licence's window then ends by time alone.
      await gw.ok(USER_STATUS, { input: { userId: b, status: 'ACTIVE' } }, org.admin);
      const before = await servedStored(org);
      const stored = await counting.database.db
        .selectFrom('stored_allocations')
        .select('figures')
        .where('organization_id', '=', org.organizationId)
        .executeTakeFirstOrThrow();
      const until = (stored.figures as { slots: { product: string; until: number | null }[] }).slots.find(
        (x) => x.product === 'BASE',
      )?.until;
      expect(until, 'a window ends later').toBeTypeOf('number');
      gw.clock.set(new Date(until! - 1));
      expect(await servedStored(org)).toEqual(before);
      gw.clock.set(new Date(until!));
      expect(await computedNotStored(org)).not.toEqual(before);
    });

    it('[R-MAP-1] [R-NAMED-1] [R-ANALYTICS-1] xphone: bundles, prerequisites, group options, teams, moved users, and the licence running into grace and demo', async () => {
      gw.clock.set(NOW);
      const org = await licensedOrg(gw, 'xphone-connect', null);
      await activateKey(
        gw,
        org,
        issueLicenseKey(
          'xphone-connect',
          [
            { product: 'SERVER', quantity: 1 },
            { product: 'IP_CHANNEL', quantity: 2 },
            { product: 'OFFICE', quantity: 2 },
            { product: 'OFFICE_PLUS', quantity: 1 },
            { product: 'TEAMDESK', quantity: 1 },
            { product: 'VOICEMAIL', quantity: 3 },
          ],
          { org, termMonths: 2, keyId: `K-XP-${kind}` },
        ),
      );
      const voice = await createGroup(gw, org, 'Voice', ['VOICEMAIL'], ['client']);
      const plus = await createGroup(gw, org, 'Plus', ['OFFICE_PLUS', 'TEAMDESK']);
      const [lead, member] = await createUsers(gw, org, 2, { configurationGroupId: plus, stepMs: 1000 });
      const team = await createTeam(gw, org, 'Desk', lead);
      await createUsers(gw, org, 2, { prefix: 'Desk', teamId: team, configurationGroupId: plus, stepMs: 1000 });
      const [v1, v2, v3] = await createUsers(gw, org, 3, { prefix: 'Voice', configurationGroupId: voice, stepMs: 1000 });
      expect((await assignLicense(gw, org, v1!, 'OFFICE')).errors).toBeUndefined();
      let rows = await servedStored(org);
      expect(row(rows, 'OFFICE')).toMatchObject({ total: 3 });

      await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, options: [] } }, org.admin);
      await servedStored(org);
      await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, functions: ['VOICEMAIL', 'OFFICE'] } }, org.admin);
      await servedStored(org);
      await moveUsers(gw, org, [v2!, v3!], plus);
      await servedStored(org);
      await gw.ok(USER_STATUS, { input: { userId: member, status: 'INACTIVE' } }, org.admin);
      rows = await servedStored(org);

      // Written by another instance without the gateway: the revision moves past the stored one.
      await otherInstance(`update users set status = 'INACTIVE' where id = $1`, [v1]);
      const other = await computedNotStored(org);
      expect(other).not.toEqual(rows);
      await gw.ok(USER_STATUS, { input: { userId: member, status: 'ACTIVE' } }, org.admin);
      await servedStored(org);

      // Term ends 2027-01-01, then 14 days' grace, then demo: full use ends by time alone.
      gw.clock.set(new Date('2027-01-01T00:00:00.000Z'));
      const grace = await firstMapping(org);
      gw.clock.set(new Date('2027-01-15T00:00:00.000Z'));
      const demo = await computedNotStored(org);
      expect(row(demo, 'OFFICE')?.inUse).toBe(0);
      expect(demo).not.toEqual(grace.rows);
      // A user created in demo stores the demo allocation.
      await createUser(gw, org.admin, { siteId: org.siteId, name: 'Late', configurationGroupId: plus });
      expect(row(await servedStored(org), 'OFFICE')?.inUse).toBe(0);
    });

    it('[R-MAP-1] [R-MAP-2] zoom: tiers bought concurrent and named, add-ons covered by a bundle, account products', async () => {
      gw.clock.set(NOW);
      const org = await licensedOrg(gw, 'zoom-contact-center', [
        { product: 'PREMIUM', quantity: 3, allocation: 'CONCURRENT' },
        { product: 'ESSENTIALS', quantity: 4 },
        { product: 'ELITE', quantity: 1 },
        { product: 'WORKFORCE_MANAGEMENT', quantity: 4 },
        { product: 'CLOUD_STORAGE', quantity: 2 },
      ]);
      const essentials = await createGroup(gw, org, 'Essentials', ['ESSENTIALS', 'WORKFORCE_MANAGEMENT']);
      const premium = await createGroup(gw, org, 'Premium', ['PREMIUM']);
      const elite = await createGroup(gw, org, 'Elite', ['ELITE', 'WORKFORCE_MANAGEMENT']);
      await createUsers(gw, org, 3, { configurationGroupId: essentials, stepMs: 1000 });
      await createUsers(gw, org, 2, { prefix: 'Premium', configurationGroupId: premium });
      const [top] = await createUsers(gw, org, 1, { prefix: 'Elite', configurationGroupId: elite });
      const rows = await servedStored(org);
      expect(row(rows, 'PREMIUM')).toMatchObject({ concurrentTotal: 3 });
      expect(row(rows, 'ESSENTIALS')).toMatchObject({ total: 4, inUse: 3 });
      await moveUsers(gw, org, [top!], essentials);
      expect(row(await servedStored(org), 'ESSENTIALS')).toMatchObject({ total: 4, inUse: 4 });
    });

    it('[R-MAP-1] an organization without a key (demo) and one whose stored row is missing: computed, equal', async () => {
      gw.clock.set(NOW);
      const org = await licensedOrg(gw, 'connect-storm', null);
      await createUsers(gw, org, 2);
      await firstMapping(org);
      await otherInstance(`delete from stored_allocations where organization_id = $1`, [org.organizationId]);
      await computedNotStored(org);
    });
  });
}
