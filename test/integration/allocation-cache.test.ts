import { CompiledQuery } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { DATABASES } from '../support/databases.ts';
import { createUser, startGateway, type OrgFixture, type TestGateway } from '../support/gateway.ts';
import {
  MAPPING_COLUMNS,
  TRUSTED_KEYS,
  activateKey,
  assignLicense,
  createGroup,
  createUsers,
  issueLicenseKey,
  licensedOrg,
  moveUsers,
  unassignLicense,
  type Bought,
} from '../support/licensing.ts';

/*
 * The read cache of the named-licence allocation (R-PERF-2): the licence
 * mapping, the users page and the warnings read through it must always equal
 * what a computation from SQL gives at the same instant: after every kind of
 * write, after a write by another gateway (raw SQL on another connection),
 * and when only time passes (licence states, the 90-day cool-down).
 *
 * Each check reads through the cache, then clears it and reads again (a
 * computation from SQL), and compares. Every read before a change leaves the
 * old state cached, so each change meets a stale entry.
 *
 * Write transactions put the allocation they end with into the cache once
 * they commit: the first read after such a write is a hit, and equal to the
 * computation from SQL; a rolled-back one (dryRun) puts nothing in.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 86_400_000;
const STORM = 'connect-storm';
const XPHONE = 'xphone-connect';

const PAGE = `query($id: ID!, $first: Int) {
  organization(id: $id) {
    licenseMapping { ${MAPPING_COLUMNS} }
    warnings { code message product { code } }
    users(first: $first) {
      totalCount
      edges { cursor node {
        id name status role
        licenses { product { code } source status rank configuredAt coveredBy { code } }
        warnings { code message product { code } }
      } }
      pageInfo { hasNextPage endCursor }
    }
    warned: users(first: $first, hasWarnings: true) { totalCount edges { node { id } } }
  }
}`;
const USER_STATUS = `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { id status } } }`;
const DELETE_USER = `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId } }`;
const UPDATE_GROUP = `mutation($input: UpdateConfigurationGroupInput!) { updateConfigurationGroup(input: $input) { configurationGroup { id } } }`;
const MOVE_USERS = `mutation($input: MoveUsersInput!) { moveUsers(input: $input) { applied users { id } released { user { id } product { code } } warnings { code message } } }`;
const EXPLAIN = `query($id: ID!, $product: String!) { user(id: $id) { explain(product: $product) { product { code } granted steps } } }`;

interface Page {
  licenseMapping: { product: { code: string }; total: number; inUse: number; reusable: number; available: number }[];
  warnings: { code: string; message: string }[];
  users: {
    totalCount: number;
    edges: {
      node: {
        id: string;
        status: string;
        licenses: { product: { code: string }; status: string; rank: number | null }[];
        warnings: { code: string }[];
      };
    }[];
  };
  warned: { totalCount: number };
}

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());
    beforeEach(() => gw.clock.set(NOW));

    const cache = () => gw.app.caches.allocation;
    const read = async (org: OrgFixture): Promise<Page> =>
      (await gw.ok<{ organization: Page }>(PAGE, { id: org.organizationId, first: 100 }, org.admin)).organization;

    /** The page through the cache, checked against the page computed from SQL at the same instant. */
    async function page(org: OrgFixture): Promise<Page> {
      const cached = await read(org);
      cache().clear();
      const computed = await read(org);
      expect(cached).toEqual(computed);
      return cached;
    }

    /**
     * The page right after a write that published its allocation: served from
     * the cache without reading the inputs again, and equal to the page
     * computed from SQL.
     */
    async function pageAfterWrite(org: OrgFixture, options: { sameCatalogs?: boolean } = {}): Promise<Page> {
      const before = { ...cache().stats };
      const cached = await read(org);
      expect(cache().stats.misses, 'input reads').toBe(before.misses);
      expect(cache().stats.hits).toBe(before.hits + 1);
      // The writer's allocate result is reused when it ran with the app's catalogs at an instant with the same entitlements.
      if (options.sameCatalogs ?? true) expect(cache().stats.allocations, 'runs of allocate').toBe(before.allocations);
      cache().clear();
      const computed = await read(org);
      expect(cached).toEqual(computed);
      return cached;
    }

    /** Runs `write` and checks that it published exactly one allocation. */
    async function publishes<T>(write: () => Promise<T>): Promise<T> {
      const published = cache().stats.published;
      const result = await write();
      expect(cache().stats.published, 'allocations published').toBe(published + 1);
      return result;
    }

    const explain = async (org: OrgFixture, userId: string, product: string) =>
      (await gw.ok(EXPLAIN, { id: userId, product }, org.admin)).user.explain as unknown;

    const statusOf = (p: Page, userId: string, product: string) =>
      p.users.edges.find((e) => e.node.id === userId)?.node.licenses.find((l) => l.product.code === product)?.status;
    const row = (p: Page, product: string) => p.licenseMapping.find((r) => r.product.code === product);
    /** Raw SQL as another gateway instance would write: its own connection on PostgreSQL, the one handle on PGlite. */
    async function otherInstance(text: string, params: unknown[]): Promise<void> {
      if (gw.database.url) {
        const client = new pg.Client({ connectionString: gw.database.url });
        await client.connect();
        try {
          await client.query(text, params);
        } finally {
          await client.end();
        }
      } else {
        await gw.database.db.executeQuery(CompiledQuery.raw(text, params));
      }
    }

    it('[R-PERF-2] repeated reads without a change are served from the cache: no input read, no new allocation', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 2 },
      ]);
      const group = await createGroup(gw, org, 'Office', ['OFFICE']);
      await createUsers(gw, org, 3, { configurationGroupId: group, stepMs: 1000 });
      await page(org);
      const before = { ...cache().stats };
      const again = await read(org);
      await read(org);
      expect(cache().stats).toEqual({ ...before, hits: before.hits + 2 });
      expect(again.users.totalCount).toBe(3);
      expect(again.warned.totalCount).toBe(1);
    });

    it('[R-PERF-2] [R-UNDER-3] user created, deactivated, reactivated and deleted: the cached page follows each change', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 2 },
      ]);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [a, b] = await createUsers(gw, org, 2, { configurationGroupId: office, stepMs: 1000 });
      await page(org);

      gw.clock.advance(1000);
      const c = await createUser(gw, org.admin, { siteId: org.siteId, name: 'Late', configurationGroupId: office });
      let p = await page(org);
      expect(p.users.totalCount).toBe(3);
      expect(statusOf(p, c, 'OFFICE')).toBe('UNLICENSED');
      expect(row(p, 'OFFICE')).toMatchObject({ total: 2, inUse: 2, available: 0 });

      await gw.ok(USER_STATUS, { input: { userId: a, status: 'INACTIVE' } }, org.admin);
      p = await page(org);
      expect(statusOf(p, c, 'OFFICE')).toBe('GRANTED');
      expect(p.warned.totalCount).toBe(0);

      await gw.ok(USER_STATUS, { input: { userId: a, status: 'ACTIVE' } }, org.admin);
      p = await page(org);
      expect(statusOf(p, a!, 'OFFICE')).toBe('GRANTED');
      expect(statusOf(p, c, 'OFFICE')).toBe('UNLICENSED');

      await gw.ok(DELETE_USER, { input: { userId: b } }, org.admin);
      p = await page(org);
      expect(p.users.totalCount).toBe(2);
      expect(statusOf(p, c, 'OFFICE')).toBe('GRANTED');
    });

    it('[R-PERF-2] [R-NAMED-1] [R-NAMED-3] [R-NAMED-4] group functions and options, direct assign/unassign and moveUsers show at once', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'OFFICE', quantity: 10 },
        { product: 'VOICEMAIL', quantity: 10 },
      ]);
      const voice = await createGroup(gw, org, 'Voice', ['VOICEMAIL']);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [u, v] = await createUsers(gw, org, 2, { configurationGroupId: voice });
      let p = await page(org);
      expect(statusOf(p, u!, 'VOICEMAIL')).toBe('GRANTED');

      // The option `client` makes VOICEMAIL need OFFICE or OFFICE_PLUS on the user.
      await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, options: ['client'] } }, org.admin);
      p = await page(org);
      expect(statusOf(p, u!, 'VOICEMAIL')).toBe('MISSING_PREREQUISITE');
      expect(p.warned.totalCount).toBe(2);

      expect((await assignLicense(gw, org, u!, 'OFFICE')).errors).toBeUndefined();
      p = await page(org);
      expect(statusOf(p, u!, 'VOICEMAIL')).toBe('GRANTED');
      expect(statusOf(p, u!, 'OFFICE')).toBe('GRANTED');

      await gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, functions: ['VOICEMAIL', 'OFFICE'] } }, org.admin);
      p = await page(org);
      expect(statusOf(p, v!, 'VOICEMAIL')).toBe('GRANTED');

      // The direct assignment goes; OFFICE stays as a group function.
      expect((await unassignLicense(gw, org, u!, 'OFFICE')).errors).toBeUndefined();
      p = await page(org);
      expect(p.users.edges.find((e) => e.node.id === u)?.node.licenses.find((l) => l.product.code === 'OFFICE')).toMatchObject({
        status: 'GRANTED',
      });

      await moveUsers(gw, org, [u!, v!], office);
      p = await page(org);
      expect(statusOf(p, v!, 'VOICEMAIL')).toBeUndefined();
      expect(statusOf(p, v!, 'OFFICE')).toBe('GRANTED');
      expect(row(p, 'OFFICE')).toMatchObject({ total: 10, inUse: 2 });
    });

    it('[R-PERF-2] [R-KEY-4] a new key activated replaces the entitlements in the cached page', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 1 },
      ]);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [, second] = await createUsers(gw, org, 2, { configurationGroupId: office, stepMs: 1000 });
      let p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBe('UNLICENSED');
      await activateKey(
        gw,
        org,
        issueLicenseKey(
          XPHONE,
          [
            { product: 'SERVER', quantity: 1 },
            { product: 'OFFICE', quantity: 5 },
          ],
          { org, keyId: `K-MORE-${kind}` },
        ),
      );
      p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBe('GRANTED');
      expect(row(p, 'OFFICE')).toMatchObject({ total: 5, inUse: 2, available: 3 });
    });

    it('[R-PERF-2] a change written by another gateway instance (raw SQL on another connection) shows at once', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 1 },
      ]);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [first, second] = await createUsers(gw, org, 2, { configurationGroupId: office, stepMs: 1000 });
      let p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBe('UNLICENSED');

      await otherInstance(`update users set status = 'INACTIVE' where id = $1`, [first]);
      p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBe('GRANTED');

      await otherInstance(`delete from assignments where user_id = $1`, [second]);
      p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBeUndefined();
      expect(row(p, 'OFFICE')).toMatchObject({ inUse: 0, available: 1 });

      await otherInstance(`update configuration_groups set options = '["client"]'::jsonb where id = $1`, [office]);
      const revision = async () =>
        (await gw.database.db.selectFrom('organizations').select('revision').where('id', '=', org.organizationId).executeTakeFirstOrThrow())
          .revision;
      const seen = await revision();
      await page(org);
      await otherInstance(
        `insert into assignments (organization_id, user_id, product_code, source, configured_at) values ($1, $2, 'OFFICE', 'DIRECT', $3)`,
        [org.organizationId, second, NOW.toISOString()],
      );
      expect(Number(await revision())).toBeGreaterThan(Number(seen));
      p = await page(org);
      expect(statusOf(p, second!, 'OFFICE')).toBe('GRANTED');
    });

    it('[R-PERF-2] [R-LIFE-1] [R-LIFE-4] [R-LIFE-5] ACTIVE → GRACE → DEMO by time alone: the cached page follows without any write', async () => {
      // Term: two months from 2026-11-01 (ends 2027-01-01), then 14 days' grace.
      const org = await licensedOrg(gw, XPHONE, null);
      await activateKey(
        gw,
        org,
        issueLicenseKey(
          XPHONE,
          [
            { product: 'SERVER', quantity: 1 },
            { product: 'OFFICE', quantity: 2 },
          ],
          { org, termMonths: 2, keyId: `K-TERM-${kind}` },
        ),
      );
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [u] = await createUsers(gw, org, 3, { configurationGroupId: office, stepMs: 1000 });
      let p = await page(org);
      expect(statusOf(p, u!, 'OFFICE')).toBe('GRANTED');
      const events = await gw.database.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();

      const misses = cache().stats.misses;
      gw.clock.set(new Date('2027-01-01T00:00:00.000Z'));
      const grace = await read(org);
      expect(grace.warnings.map((w) => w.code)).toContain('LICENSE_IN_GRACE');
      expect(statusOf(grace, u!, 'OFFICE')).toBe('GRANTED');
      gw.clock.set(new Date('2027-01-15T00:00:00.000Z'));
      const demo = await read(org);
      expect(demo.warnings.map((w) => w.code)).toContain('DEMO_MODE');
      expect(statusOf(demo, u!, 'OFFICE')).toBe('UNLICENSED');
      // Served from the cached inputs: the state changed by time alone, nothing was read again.
      expect(cache().stats.misses).toBe(misses);
      expect(await page(org)).toEqual(demo);
      gw.clock.set(new Date('2027-01-01T00:00:00.000Z'));
      p = await page(org);
      expect(p).toEqual(grace);
      expect(
        await gw.database.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ).toEqual(events);
    });

    it('[R-PERF-2] [R-REASSIGN-2] [R-REASSIGN-3] the 90-day window ending frees a bound licence without any write', async () => {
      const bought: Bought[] = [{ product: 'BASE', quantity: 2 }];
      const org = await licensedOrg(gw, STORM, bought);
      const windowStart = gw.clock.now();
      const [a, b] = await createUsers(gw, org, 2);
      expect((await assignLicense(gw, org, a!, 'BASE')).errors).toBeUndefined();
      expect((await assignLicense(gw, org, b!, 'BASE')).errors).toBeUndefined();
      gw.clock.advance(10 * DAY);
      expect((await unassignLicense(gw, org, a!, 'BASE')).errors).toBeUndefined();
      const [c, d] = await createUsers(gw, org, 2);
      expect((await assignLicense(gw, org, c!, 'BASE')).errors).toBeUndefined(); // spends the early reassignment
      expect((await unassignLicense(gw, org, c!, 'BASE')).errors).toBeUndefined(); // now bound until day 90
      // D configured by another instance without a slot (as after a smaller key): it queues behind the bound licence.
      await otherInstance(
        `insert into assignments (organization_id, user_id, product_code, source, configured_at) values ($1, $2, 'BASE', 'DIRECT', $3)`,
        [org.organizationId, d, gw.clock.now().toISOString()],
      );
      let p = await page(org);
      expect(row(p, 'BASE')).toMatchObject({ total: 2, inUse: 2, reusable: 0, available: 0 });
      expect(statusOf(p, d!, 'BASE')).toBe('UNLICENSED');

      const misses = cache().stats.misses;
      gw.clock.set(new Date(windowStart.getTime() + 90 * DAY - 1));
      p = await read(org);
      expect(row(p, 'BASE')).toMatchObject({ inUse: 2, available: 0 });
      expect(statusOf(p, d!, 'BASE')).toBe('UNLICENSED');
      gw.clock.set(new Date(windowStart.getTime() + 90 * DAY));
      p = await read(org);
      expect(row(p, 'BASE')).toMatchObject({ total: 2, inUse: 1, reusable: 0, available: 1 });
      expect(statusOf(p, d!, 'BASE')).toBe('GRANTED');
      expect(cache().stats.misses).toBe(misses);
      expect(await page(org)).toEqual(p);
    });

    it('[R-PERF-2] [R-NAMED-1] [R-NAMED-4] each configuration write puts its allocation in the cache at commit: the next read is a hit and equals SQL', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'OFFICE', quantity: 2 },
        { product: 'VOICEMAIL', quantity: 10 },
      ]);
      const voice = await createGroup(gw, org, 'Voice', ['VOICEMAIL']);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [u, v, w] = await createUsers(gw, org, 3, { configurationGroupId: voice, stepMs: 1000 });
      await page(org);

      await publishes(() => gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, options: ['client'] } }, org.admin));
      let p = await pageAfterWrite(org);
      expect(statusOf(p, u!, 'VOICEMAIL')).toBe('MISSING_PREREQUISITE');

      await publishes(async () => expect((await assignLicense(gw, org, u!, 'OFFICE')).errors).toBeUndefined());
      p = await pageAfterWrite(org);
      expect(statusOf(p, u!, 'OFFICE')).toBe('GRANTED');
      expect(statusOf(p, u!, 'VOICEMAIL')).toBe('GRANTED');

      await publishes(() => gw.ok(UPDATE_GROUP, { input: { configurationGroupId: voice, functions: ['VOICEMAIL', 'OFFICE'] } }, org.admin));
      p = await pageAfterWrite(org);
      expect(statusOf(p, w!, 'OFFICE')).toBe('UNLICENSED');
      // The explanation comes from the published allocation and reads as the one computed from SQL.
      const explained = await explain(org, w!, 'OFFICE');
      cache().clear();
      expect(await explain(org, w!, 'OFFICE')).toEqual(explained);
      expect(JSON.stringify(explained)).toMatch(/Rank 3 of 3 .*only 2 licence\(s\) available: not granted/);

      await publishes(async () => expect((await unassignLicense(gw, org, u!, 'OFFICE')).errors).toBeUndefined());
      p = await pageAfterWrite(org);
      expect(statusOf(p, u!, 'OFFICE')).toBe('GRANTED');

      await publishes(() => moveUsers(gw, org, [u!, v!], office));
      p = await pageAfterWrite(org);
      expect(statusOf(p, v!, 'VOICEMAIL')).toBeUndefined();
      expect(statusOf(p, w!, 'OFFICE')).toBe('UNLICENSED');
      expect(row(p, 'OFFICE')).toMatchObject({ total: 2, inUse: 2 });

      // A refused write rolls back: nothing published, the entry before it still serves.
      const published = cache().stats.published;
      const refused = await gw.gql(
        UPDATE_GROUP,
        { input: { configurationGroupId: voice, functions: ['VOICEMAIL', 'OFFICE', 'NOT_A_PRODUCT'] } },
        org.admin,
      );
      expect(refused.errors).toBeDefined();
      expect(cache().stats.published).toBe(published);
      expect(await pageAfterWrite(org)).toEqual(p);
    });

    it('[R-PERF-2] [R-NAMED-4] a dry-run moveUsers rolls back: it puts nothing in the cache and the next read still shows the state before', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'IP_CHANNEL', quantity: 2 },
        { product: 'OFFICE', quantity: 5 },
        { product: 'VOICEMAIL', quantity: 5 },
      ]);
      const voice = await createGroup(gw, org, 'Voice', ['VOICEMAIL']);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [u, v] = await createUsers(gw, org, 2, { configurationGroupId: voice });
      const before = await page(org);
      await read(org); // cached again after page()'s clear
      const stats = { ...cache().stats };

      const dry = (await gw.ok(MOVE_USERS, { input: { userIds: [u, v], configurationGroupId: office, dryRun: true } }, org.admin))
        .moveUsers;
      expect(dry.applied).toBe(false);
      expect(dry.released).toHaveLength(2);
      expect(cache().stats.published).toBe(stats.published);
      const after = await read(org);
      expect(cache().stats.misses).toBe(stats.misses);
      expect(after).toEqual(before);
      expect(statusOf(after, u!, 'VOICEMAIL')).toBe('GRANTED');
      expect(statusOf(after, u!, 'OFFICE')).toBeUndefined();
      expect(await page(org)).toEqual(before);

      // The real move afterwards is published and read as SQL has it.
      await publishes(() => moveUsers(gw, org, [u!, v!], office));
      const moved = await pageAfterWrite(org);
      expect(statusOf(moved, u!, 'OFFICE')).toBe('GRANTED');
      expect(statusOf(moved, u!, 'VOICEMAIL')).toBeUndefined();
    });

    it('[R-PERF-2] [R-KEY-4] [R-LIFE-5] key activation and the state sweep put their allocation in the cache at commit', async () => {
      const org = await licensedOrg(gw, XPHONE, null);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const [a, b] = await createUsers(gw, org, 2, { configurationGroupId: office, stepMs: 1000 });
      let p = await page(org);
      expect(statusOf(p, a!, 'OFFICE')).not.toBe('GRANTED');

      await publishes(() =>
        activateKey(
          gw,
          org,
          issueLicenseKey(
            XPHONE,
            [
              { product: 'SERVER', quantity: 1 },
              { product: 'OFFICE', quantity: 1 },
            ],
            { org, termMonths: 2, keyId: `K-PUB-${kind}` },
          ),
        ),
      );
      p = await pageAfterWrite(org);
      expect(statusOf(p, a!, 'OFFICE')).toBe('GRANTED');
      expect(statusOf(p, b!, 'OFFICE')).toBe('UNLICENSED');

      await publishes(() =>
        activateKey(
          gw,
          org,
          issueLicenseKey(
            XPHONE,
            [
              { product: 'SERVER', quantity: 1 },
              { product: 'OFFICE', quantity: 2 },
            ],
            { org, termMonths: 2, keyId: `K-PUB2-${kind}` },
          ),
        ),
      );
      p = await pageAfterWrite(org);
      expect(statusOf(p, b!, 'OFFICE')).toBe('GRANTED');

      // Past the term and its grace: the sweep records DEMO and withdraws the named licences.
      gw.clock.set(new Date('2027-01-20T00:00:00.000Z'));
      const published = cache().stats.published;
      expect(
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs(), { allocations: gw.app.caches.allocation }),
      ).toBeGreaterThanOrEqual(1);
      // Other organizations of this file whose keys ran out as well are published by the same sweep.
      expect(cache().stats.published).toBeGreaterThan(published);
      // The sweep's catalogs are other objects than the app's: allocate reruns on the cached inputs, without SQL.
      p = await pageAfterWrite(org, { sameCatalogs: false });
      expect(p.warnings.map((w) => w.code)).toContain('DEMO_MODE');
      expect(statusOf(p, a!, 'OFFICE')).toBe('UNLICENSED');
    });

    it('[R-PERF-2] explanations read through the cache equal those computed from SQL, for granted, queued, covered and unconfigured licences', async () => {
      const org = await licensedOrg(gw, XPHONE, [
        { product: 'SERVER', quantity: 1 },
        { product: 'OFFICE', quantity: 1 },
        { product: 'OFFICE_PLUS', quantity: 1 },
        { product: 'TEAMDESK', quantity: 1 },
      ]);
      const office = await createGroup(gw, org, 'Office', ['OFFICE']);
      const plus = await createGroup(gw, org, 'Plus', ['OFFICE_PLUS', 'TEAMDESK']);
      const [a, b] = await createUsers(gw, org, 2, { configurationGroupId: office, stepMs: 1000 });
      const [c, d] = await createUsers(gw, org, 2, { configurationGroupId: plus, stepMs: 1000 });
      const cases = [a, b, c, d].flatMap((id) => ['OFFICE', 'OFFICE_PLUS', 'TEAMDESK'].map((product) => ({ id: id!, product })));
      await read(org);
      const cached = [];
      for (const x of cases) cached.push(await explain(org, x.id, x.product));
      cache().clear();
      const computed = [];
      for (const x of cases) computed.push(await explain(org, x.id, x.product));
      expect(cached).toEqual(computed);
      expect(JSON.stringify(cached)).toContain('not granted');
      expect(JSON.stringify(cached)).toContain('not configured for the user');
    });

    it('[R-PERF-2] the cache is bounded by users: an organization beyond the bound is not kept, and 0 disables it', async () => {
      const org = await licensedOrg(gw, STORM, [{ product: 'BASE', quantity: 5 }]);
      await createUsers(gw, org, 3);
      const c = cache();
      try {
        c.setMaxUsers(2);
        await read(org);
        const misses = c.stats.misses;
        await read(org);
        expect(c.stats.misses).toBe(misses + 1);
        expect(c.cachedUsers).toBe(0);
        c.setMaxUsers(3);
        await read(org);
        await read(org);
        expect(c.stats.misses).toBe(misses + 2);
        expect(c.cachedUsers).toBe(3);
        c.setMaxUsers(0);
        expect(c.cachedUsers).toBe(0);
        await page(org);
      } finally {
        c.setMaxUsers(250_000);
      }
    });
  });
}
