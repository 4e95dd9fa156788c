import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES, freshDatabase, type TestDatabase } from '../support/databases.ts';
import { OPERATOR_TOKEN, uniqueCustomerRef } from '../support/gateway.ts';
import {
  ensureStopped,
  type GatewayProcess,
  instanceGql as gql,
  instanceOk as ok,
  listeningBase,
  type NamedInstance,
  spawnGateway,
} from '../support/launch.ts';
import { VENDOR, issueLicenseKey } from '../support/licensing.ts';
import { END_SESSION, START_SESSION, type StartView } from '../support/sessions.ts';

/*
 * R-RES-3 … R-RES-5 under a login storm across two real gateway processes on
 * one PostgreSQL: 300 agents of three units start at once against 100 + 10
 * emergency seats with reservations and caps, and every bound holds exactly.
 * Both processes have their start cache warm, so their starts try the one
 * statement first, which must leave bounded pools to the transactional path.
 */

const DAY = 86_400_000;

type Instance = NamedInstance;

const children: GatewayProcess[] = [];

async function launch(name: string, databaseUrl: string): Promise<Instance> {
  const gateway = spawnGateway({ DATABASE_URL: databaseUrl, OPERATOR_TOKEN, LICENSE_PUBLIC_KEYS: VENDOR.publicKey });
  children.push(gateway);
  const base = await listeningBase(gateway).catch((error: Error) => {
    throw new Error(`${name}: ${error.message}`);
  });
  return Object.assign(gateway, { name, url: `${base}/graphql` });
}

describe.skipIf(!DATABASES.includes('postgres'))('reservations and caps across two gateway processes', { timeout: 300_000 }, () => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    [a, b] = await Promise.all([launch('gateway A', database.url!), launch('gateway B', database.url!)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(children.map((instance) => ensureStopped(instance)));
    await database?.dispose();
  }, 60_000);

  it('[R-RES-3][R-RES-4][R-RES-5] 300 logins (60 at once) on two processes against 100 + 10 seats with reservations and caps: every bound exact', async () => {
    const customerRef = uniqueCustomerRef();
    const id = (
      await ok(
        a,
        `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
        { input: { name: 'storm with sites', catalog: 'connect-storm', customerRef } },
        OPERATOR_TOKEN,
      )
    ).createOrganization.organization.id as string;
    const token = async (role: string) =>
      (
        await ok(
          a,
          `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { token } }`,
          { input: { organizationId: id, role } },
          OPERATOR_TOKEN,
        )
      ).createApiToken.token as string;
    const admin = await token('ADMIN');
    const agentClient = await token('AGENT_CLIENT');
    const key = issueLicenseKey(
      'connect-storm',
      [
        { product: 'BASE', quantity: 300 },
        { product: 'AGENT_SEAT', quantity: 100, emergencyQuantity: 10 },
      ],
      { customerRef, validFrom: new Date(Date.now() - DAY).toISOString() },
    );
    await ok(
      a,
      `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
      { input: { organizationId: id, key } },
      admin,
    );
    const site = async (name: string) =>
      (
        await ok(
          a,
          `mutation($input: CreateSiteInput!) { createSite(input: $input) { site { id } } }`,
          { input: { organizationId: id, name } },
          admin,
        )
      ).createSite.site.id as string;
    const group = async (siteId: string, name: string) =>
      (
        await ok(
          a,
          `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
          { input: { siteId, name, functions: ['BASE', 'AGENT_SEAT'] } },
          admin,
        )
      ).createConfigurationGroup.configurationGroup.id as string;
    const munich = await site('Munich');
    const berlin = await site('Berlin');
    const units = {
      agents: await group(munich, 'Agents'),
      temps: await group(munich, 'Temps'),
      berlin: await group(berlin, 'Berlin agents'),
    };
    const members: Record<keyof typeof units, string[]> = { agents: [], temps: [], berlin: [] };
    for (const [unit, groupId] of Object.entries(units) as [keyof typeof units, string][]) {
      for (let i = 0; i < 100; i++) {
        const { createUser } = await ok(
          a,
          `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
          {
            input: { siteId: unit === 'berlin' ? berlin : munich, name: `${unit} ${i + 1}`, role: 'AGENT', configurationGroupId: groupId },
          },
          admin,
        );
        members[unit].push(createUser.user.id);
      }
    }
    // Warm both processes' start caches (the next starts try the one statement), then set the bounds.
    for (const instance of [a, b]) {
      const warm = (await ok(instance, START_SESSION, { input: { userId: members.agents[0] } }, agentClient)).startSession as StartView;
      await ok(instance, END_SESSION, { input: { sessionId: warm.session!.id } }, agentClient);
    }
    const bound = (input: Record<string, unknown>) =>
      ok(
        a,
        `mutation($input: SetSeatBoundInput!) { setSeatBound(input: $input) { applied } }`,
        { input: { product: 'AGENT_SEAT', ...input } },
        admin,
      );
    await bound({ siteId: berlin, reserved: 20, cap: 40 });
    await bound({ siteId: munich, reserved: 10 });
    await bound({ configurationGroupId: units.temps, cap: 30 });

    const everyone = [...members.agents, ...members.temps, ...members.berlin].sort();
    // 300 logins, 60 in flight at a time (30 per process: a storm the shared test machine's pools can queue), in random order.
    const order = everyone.map((userId, i) => ({ userId, i, at: Math.random() })).sort((x, y) => x.at - y.at);
    const results: (StartView & { userId: string })[] = [];
    const worker = async () => {
      for (let next = order.shift(); next; next = order.shift()) {
        const result = await gql(next.i % 2 === 0 ? a : b, START_SESSION, { input: { userId: next.userId } }, agentClient);
        expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
        results.push({ userId: next.userId, ...(result.data.startSession as StartView) });
      }
    };
    await Promise.all(Array.from({ length: 60 }, worker));
    expect(results).toHaveLength(300);
    const unitOf = (userId: string) => (Object.keys(members) as (keyof typeof units)[]).find((u) => members[u].includes(userId))!;
    const granted = (unit: keyof typeof units) => results.filter((r) => r.granted && unitOf(r.userId) === unit).length;

    // The pool: full, exactly (demand exceeds it whatever the order), 100 regular + 10 emergency.
    expect(results.filter((r) => r.granted)).toHaveLength(110);
    expect(results.filter((r) => r.session?.seatKind === 'EMERGENCY')).toHaveLength(10);
    // Caps: Temps at most 30, Berlin at most 40. Reservations: Berlin at least 20, Munich at least 10.
    expect(granted('temps')).toBeLessThanOrEqual(30);
    expect(granted('berlin')).toBeLessThanOrEqual(40);
    expect(granted('berlin')).toBeGreaterThanOrEqual(20);
    expect(granted('agents') + granted('temps')).toBeGreaterThanOrEqual(10);
    const codes = new Set(results.filter((r) => !r.granted).map((r) => r.denial?.code));
    for (const code of codes) expect(['CAP_REACHED', 'SEATS_RESERVED', 'NO_SEAT_AVAILABLE']).toContain(code);
    // A cap refusal only where the unit holds its cap at the end (seats are never given back here).
    for (const r of results.filter((x) => x.denial?.code === 'CAP_REACHED'))
      expect(r.denial?.message).toMatch(
        unitOf(r.userId) === 'temps' ? /group Temps holds its cap of 30/ : /site Berlin holds its cap of 40/,
      );
    if (results.some((r) => unitOf(r.userId) === 'temps' && r.denial?.code === 'CAP_REACHED')) expect(granted('temps')).toBe(30);
    if (results.some((r) => unitOf(r.userId) === 'berlin' && r.denial?.code === 'CAP_REACHED')) expect(granted('berlin')).toBe(40);

    // The stored state agrees: the counter, the open sessions' seats by unit, and either process's seatUsage.
    const counter = await database.db
      .selectFrom('seat_pools')
      .select('in_use')
      .where('organization_id', '=', id)
      .where('product_code', '=', 'AGENT_SEAT')
      .executeTakeFirstOrThrow();
    expect(counter.in_use).toBe(110);
    for (const instance of [a, b]) {
      const usage = await ok(
        instance,
        `query($id: ID!) { organization(id: $id) { seatUsage { pools { inUse emergencyInUse units { siteName configurationGroupName reserved cap inUse } } } } }`,
        { id },
        admin,
      );
      expect(usage.organization.seatUsage.pools).toEqual([
        {
          inUse: 100,
          emergencyInUse: 10,
          units: [
            { siteName: 'Berlin', configurationGroupName: null, reserved: 20, cap: 40, inUse: granted('berlin') },
            { siteName: 'Munich', configurationGroupName: null, reserved: 10, cap: null, inUse: granted('agents') + granted('temps') },
            { siteName: 'Munich', configurationGroupName: 'Temps', reserved: 0, cap: 30, inUse: granted('temps') },
          ],
        },
      ]);
    }
  });
});
