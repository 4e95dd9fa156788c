import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN } from '../support/gateway.ts';
import {
  ensureStopped,
  FAKETIME,
  type GatewayProcess,
  instanceGql as gql,
  instanceOk as ok,
  listeningBase,
  type NamedInstance,
  spawnGateway,
} from '../support/launch.ts';
import { VENDOR, issueLicenseKey } from '../support/licensing.ts';
import { HEARTBEAT, START_SESSION } from '../support/sessions.ts';

/*
 * R-LIFE-6, the clock of record: real gateway processes (`node --import tsx
 * src/main.ts`) on one PostgreSQL database, one of them under Debian's
 * `faketime` with its OS clock 800 days ahead (or 2 days behind). The
 * PostgreSQL server is not faked: its now() is the real time. The skewed
 * instance must change no organization's state, high-water mark or session,
 * say so on /readyz and refuse mutations with CLOCK_SKEW; a correct instance
 * still reads ACTIVE afterwards.
 *
 * PGlite is not run here: the embedded database lives in the gateway's own
 * process and reads the same (faked) clock, so there is no second clock to
 * compare with (README, "Clock of record"; the database-side cap of the
 * high-water mark is tested on PGlite in test/integration/clock-of-record.test.ts).
 */

const DAY = 86_400_000;

/** A gateway process of this test, with its name for messages and its GraphQL URL. */
interface Instance extends NamedInstance {
  base: string;
}

const children: GatewayProcess[] = [];

/** Starts a gateway process (under `faketime -f <offset>` when given) and resolves once it logs its address. */
async function launch(
  name: string,
  databaseUrl: string,
  options: { faketime?: string; env?: Record<string, string> } = {},
): Promise<Instance> {
  const gateway = spawnGateway(
    {
      DATABASE_URL: databaseUrl,
      OPERATOR_TOKEN,
      LICENSE_PUBLIC_KEYS: VENDOR.publicKey,
      // Nothing expires while the test runs: a session changed is a session the skewed instance touched.
      SESSION_TTL_SECONDS: '86400',
      ...options.env,
    },
    options.faketime ? { faketime: options.faketime } : {},
  );
  children.push(gateway);
  const base = await listeningBase(gateway).catch((error: Error) => {
    throw new Error(`${name}: ${error.message}`);
  });
  return Object.assign(gateway, { name, base, url: `${base}/graphql` });
}

async function stop(instance: Instance): Promise<void> {
  await instance.stop('SIGTERM');
}

interface Org {
  id: string;
  admin: string;
  agentClient: string;
  userId: string;
}

/** An ACTIVE innoACD organization (key valid from yesterday, real time) with one agent in a group with ACD_AGENT. */
async function setUpOrg(instance: Instance, n: number): Promise<Org> {
  // Customer references are unique per organization.
  const customerRef = `CUST-CLOCK-${n}`;
  const { createOrganization } = await ok(
    instance,
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
    { input: { name: `Clock ${n}`, catalog: 'innoacd', customerRef } },
    OPERATOR_TOKEN,
  );
  const id = createOrganization.organization.id as string;
  const { createSite } = await ok(
    instance,
    `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
    { input: { organizationId: id, name: 'HQ' } },
    OPERATOR_TOKEN,
  );
  const token = async (role: string) =>
    (
      await ok(
        instance,
        `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
        { input: { organizationId: id, role } },
        OPERATOR_TOKEN,
      )
    ).createApiToken.token as string;
  const admin = await token('ADMIN');
  const agentClient = await token('AGENT_CLIENT');
  const key = issueLicenseKey('innoacd', [{ product: 'ACD_AGENT', quantity: 5 }], {
    customerRef,
    validFrom: new Date(Date.now() - DAY).toISOString(),
  });
  await ok(
    instance,
    `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
    { input: { organizationId: id, key } },
    admin,
  );
  const { createConfigurationGroup } = await ok(
    instance,
    `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
    { input: { siteId: createSite.site.id, name: 'Agents', functions: ['ACD_AGENT'] } },
    admin,
  );
  const { createUser } = await ok(
    instance,
    `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
    {
      input: {
        siteId: createSite.site.id,
        name: `Agent ${n}`,
        role: 'AGENT',
        configurationGroupId: createConfigurationGroup.configurationGroup.id,
      },
    },
    admin,
  );
  return { id, admin, agentClient, userId: createUser.user.id as string };
}

const LICENSE = `query($id: ID!) { organization(id: $id) { license { state } warnings { code } } }`;

if (!FAKETIME) {
  console.warn('test/e2e/clock-skew.test.ts skipped: faketime is not installed (apt-get install faketime; .ci/run installs it as root)');
}

describe.skipIf(!DATABASES.includes('postgres') || !FAKETIME)(
  `[R-LIFE-6] clock of record across gateway processes on PostgreSQL (one under faketime${FAKETIME ? '' : ': SKIPPED, faketime is not installed'})`,
  { timeout: 180_000 },
  () => {
    let database: TestDatabase;
    let orgs: Org[];
    let sessionId: string;

    /** Everything a skewed instance must leave alone: each organization's recorded state and high-water mark, sessions, events. */
    const snapshot = async () => ({
      organizations: await database.db
        .selectFrom('organizations')
        .select(['id', 'license_state', 'license_key_id', 'license_check_at', 'clock_high_water'])
        .orderBy('id')
        .execute(),
      sessions: await database.db.selectFrom('sessions').select(['id', 'expires_at', 'ended_at']).orderBy('id').execute(),
      events: (
        await database.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    });

    beforeAll(async () => {
      database = await freshDatabase('postgres');
      const correct = await launch('correct instance', database.url!);
      orgs = [];
      for (let n = 1; n <= 3; n++) orgs.push(await setUpOrg(correct, n));
      const started = await ok(correct, START_SESSION, { input: { userId: orgs[0]!.userId } }, orgs[0]!.agentClient);
      expect(started.startSession.granted).toBe(true);
      sessionId = started.startSession.session.id as string;
      // Stopped while a skewed instance runs: its own (correct) sweep would legitimately move the marks.
      await stop(correct);
    }, 120_000);

    afterAll(async () => {
      await Promise.all(children.map((instance) => ensureStopped(instance)));
      await database?.dispose();
    }, 60_000);

    it('[R-LIFE-6] a gateway 800 days ahead changes no state, high-water mark or session: /readyz 503 with the skew, mutations CLOCK_SKEW, no sweep; a correct instance still reads ACTIVE', async () => {
      const before = await snapshot();
      expect(before.organizations).toHaveLength(3);
      const skewed = await launch('gateway 800 days ahead', database.url!, { faketime: '+800d' });

      // Not ready, naming the measured skew and the bound.
      const readyz = await fetch(`${skewed.base}/readyz`);
      const ready = (await readyz.json()) as {
        ready: boolean;
        clock: { ok: boolean; skewSeconds: number; maxSkewSeconds: number; message: string } | null;
      };
      expect.soft(readyz.status).toBe(503);
      expect.soft(ready.ready).toBe(false);
      expect.soft(ready.clock?.ok).toBe(false);
      expect.soft(ready.clock?.skewSeconds).toBeGreaterThan(799 * 86_400);
      expect.soft(ready.clock?.skewSeconds).toBeLessThan(801 * 86_400);
      expect.soft(ready.clock?.maxSkewSeconds).toBe(60);

      // Every kind of write is refused before it runs: starts, heartbeats, key activations, operator mutations.
      const refusals = [
        await gql(skewed, START_SESSION, { input: { userId: orgs[1]!.userId } }, orgs[1]!.agentClient),
        await gql(skewed, HEARTBEAT, { input: { sessionId } }, orgs[0]!.agentClient),
        await gql(
          skewed,
          `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
          {
            input: {
              organizationId: orgs[2]!.id,
              key: issueLicenseKey('innoacd', [{ product: 'ACD_AGENT', quantity: 9 }], {
                validFrom: new Date(Date.now() - DAY).toISOString(),
              }),
            },
          },
          orgs[2]!.admin,
        ),
        await gql(
          skewed,
          `mutation { createOrganization(input: { name: "Later", catalog: "innoacd" }) { organization { id } } }`,
          {},
          OPERATOR_TOKEN,
        ),
      ];
      for (const refused of refusals) {
        expect.soft(refused.status).toBe(503);
        expect.soft(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CLOCK_SKEW', maxSkewSeconds: 60 });
        expect.soft(refused.errors?.[0]?.message).toMatch(/800d 0h 0m \d+s ahead of the database's \(bound CLOCK_SKEW_MAX_SECONDS=60\)/);
      }
      // Reads are served, on the database's time: the skewed instance itself reads ACTIVE.
      for (const org of orgs) {
        expect.soft((await ok(skewed, LICENSE, { id: org.id }, org.admin)).organization.license.state).toBe('ACTIVE');
      }

      // SIGTERM waits for a running sweep: whatever the instance would have swept is in the database now.
      await stop(skewed);
      expect.soft(skewed.output().includes('background sweeps skipped')).toBe(true);
      const after = await snapshot();
      expect(after).toEqual(before);
      const { now } = await sql<{ now: Date }>`select now()`.execute(database.db).then((r) => r.rows[0]!);
      for (const org of after.organizations) expect(org.clock_high_water!.getTime()).toBeLessThanOrEqual(now.getTime() + 60_000);

      const correct = await launch('correct instance', database.url!);
      for (const org of orgs) {
        const read = await ok(correct, LICENSE, { id: org.id }, org.admin);
        expect(read.organization.license.state).toBe('ACTIVE');
        expect(read.organization.warnings).toEqual([]);
      }
      // The correct instance still writes: the session the skewed one could not start.
      expect((await ok(correct, START_SESSION, { input: { userId: orgs[1]!.userId } }, orgs[1]!.agentClient)).startSession.granted).toBe(
        true,
      );
      await stop(correct);
    });

    it('[R-LIFE-6] a gateway set back 2 days is detected too (negative skew; CLOCK_SKEW_MAX_SECONDS configurable) and changes nothing', async () => {
      const before = await snapshot();
      const behind = await launch('gateway 2 days behind', database.url!, { faketime: '-2d', env: { CLOCK_SKEW_MAX_SECONDS: '30' } });
      const readyz = await fetch(`${behind.base}/readyz`);
      const ready = (await readyz.json()) as {
        clock: { ok: boolean; skewSeconds: number; maxSkewSeconds: number; message: string } | null;
      };
      expect.soft(readyz.status).toBe(503);
      expect.soft(ready.clock?.ok).toBe(false);
      expect.soft(ready.clock?.skewSeconds).toBeLessThan(-1.9 * 86_400);
      expect.soft(ready.clock?.skewSeconds).toBeGreaterThan(-2.1 * 86_400);
      expect.soft(ready.clock?.maxSkewSeconds).toBe(30);
      expect.soft(ready.clock?.message).toMatch(/2d 0h 0m \d+s behind the database's/);
      const refused = await gql(behind, HEARTBEAT, { input: { sessionId } }, orgs[0]!.agentClient);
      expect.soft(refused.status).toBe(503);
      expect.soft(refused.errors?.[0]?.extensions).toMatchObject({ code: 'CLOCK_SKEW', maxSkewSeconds: 30 });
      await stop(behind);
      expect(await snapshot()).toEqual(before);
      const correct = await launch('correct instance', database.url!);
      const read = await ok(correct, LICENSE, { id: orgs[0]!.id }, orgs[0]!.admin);
      expect(read.organization.license.state).toBe('ACTIVE');
      await stop(correct);
    });

    it('[R-LIFE-6] a correct instance is ready and reports its measured skew within the bound', async () => {
      const correct = await launch('correct instance', database.url!);
      const readyz = await fetch(`${correct.base}/readyz`);
      const ready = (await readyz.json()) as { ready: boolean; clock: { ok: boolean; skewSeconds: number; maxSkewSeconds: number } | null };
      expect(readyz.status).toBe(200);
      expect(ready.ready).toBe(true);
      expect(ready.clock?.ok).toBe(true);
      expect(Math.abs(ready.clock!.skewSeconds)).toBeLessThanOrEqual(60);
      await stop(correct);
    });
  },
);
