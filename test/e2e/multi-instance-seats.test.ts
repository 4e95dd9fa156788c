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
import { VENDOR, issueLicenseKey, type Bought } from '../support/licensing.ts';
import { START_SESSION, type StartView } from '../support/sessions.ts';

/*
 * R-CONC-4 and R-CONC-3 across real gateway processes (`node --import tsx
 * src/main.ts`) on one PostgreSQL database: seat accounting is exact whichever
 * instance a request lands on, and the seats of an instance killed with
 * SIGKILL come back once its sessions' TTL has run out. Real time here: the
 * victim runs with SESSION_TTL_SECONDS=5 and the test polls in a bounded loop;
 * nothing is asserted about how long anything takes.
 */

const DAY = 86_400_000;

/** A gateway process of this test, with its name for messages and its GraphQL URL. */
type Instance = NamedInstance;

const children: GatewayProcess[] = [];

/** Starts a gateway process and resolves once it logs its GraphQL address. */
async function launch(name: string, databaseUrl: string, sessionTtlSeconds: number): Promise<Instance> {
  const gateway = spawnGateway({
    DATABASE_URL: databaseUrl,
    OPERATOR_TOKEN,
    LICENSE_PUBLIC_KEYS: VENDOR.publicKey,
    SESSION_TTL_SECONDS: String(sessionTtlSeconds),
  });
  children.push(gateway);
  const base = await listeningBase(gateway).catch((error: Error) => {
    throw new Error(`${name}: ${error.message}`);
  });
  return Object.assign(gateway, { name, url: `${base}/graphql` });
}

interface Org {
  id: string;
  admin: string;
  agentClient: string;
  users: string[];
}

/** An organization set up through the public API of `instance`: site, tokens, an activated key, a group of `users` members. */
async function setUpOrg(instance: Instance, catalog: string, bought: readonly Bought[], functions: string[], users: number): Promise<Org> {
  // Customer references are unique per organization.
  const customerRef = uniqueCustomerRef();
  const { createOrganization } = await ok(
    instance,
    `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
    { input: { name: `${catalog} e2e`, catalog, customerRef } },
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
  // Real time in the processes: the key starts yesterday.
  const key = issueLicenseKey(catalog, bought, { customerRef, validFrom: new Date(Date.now() - DAY).toISOString() });
  const activated = await ok(
    instance,
    `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } } }`,
    { input: { organizationId: id, key } },
    admin,
  );
  expect(activated.activateLicenseKey.license.state).toBe('ACTIVE');
  const { createConfigurationGroup } = await ok(
    instance,
    `mutation($input: CreateConfigurationGroupInput!) { createConfigurationGroup(input: $input) { configurationGroup { id } } }`,
    { input: { siteId: createSite.site.id, name: 'Agents', functions } },
    admin,
  );
  const ids: string[] = [];
  for (let i = 0; i < users; i++) {
    const { createUser } = await ok(
      instance,
      `mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } } }`,
      { input: { siteId: createSite.site.id, name: `Agent ${i + 1}`, role: 'AGENT' } },
      admin,
    );
    ids.push(createUser.user.id);
  }
  const moved = await ok(
    instance,
    `mutation($input: MoveUsersInput!) { moveUsers(input: $input) { applied } }`,
    { input: { userIds: ids, configurationGroupId: createConfigurationGroup.configurationGroup.id } },
    admin,
  );
  expect(moved.moveUsers.applied).toBe(true);
  return { id, admin, agentClient, users: ids };
}

async function start(instance: Instance, org: Org, userId: string): Promise<StartView> {
  const result = await gql(instance, START_SESSION, { input: { userId } }, org.agentClient);
  expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
  return result.data.startSession as StartView;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!DATABASES.includes('postgres'))('gateway processes sharing one PostgreSQL', { timeout: 180_000 }, () => {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;
  let victim: Instance;

  const counter = async (org: Org, product: string) =>
    (
      await database.db
        .selectFrom('seat_pools')
        .select('in_use')
        .where('organization_id', '=', org.id)
        .where('product_code', '=', product)
        .executeTakeFirstOrThrow()
    ).in_use;
  const openSessions = (org: Org) =>
    database.db
      .selectFrom('sessions')
      .select(['id', 'user_id'])
      .where('organization_id', '=', org.id)
      .where('ended_at', 'is', null)
      .execute();

  beforeAll(async () => {
    database = await freshDatabase('postgres');
    // a and b: the default TTL, so nothing expires during the race; the victim: a 5-second TTL.
    [a, b, victim] = await Promise.all([
      launch('gateway A', database.url!, 120),
      launch('gateway B', database.url!, 120),
      launch('victim', database.url!, 5),
    ]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(children.map((instance) => ensureStopped(instance)));
    await database?.dispose();
  }, 60_000);

  it('[R-CONC-4][R-SCALE-1] 200 concurrent startSession calls split across two processes against 50 + 10 emergency seats: exactly 60 granted', async () => {
    const org = await setUpOrg(
      a,
      'connect-storm',
      [
        { product: 'BASE', quantity: 200 },
        { product: 'AGENT_SEAT', quantity: 50, emergencyQuantity: 10 },
      ],
      ['BASE', 'AGENT_SEAT'],
      200,
    );
    const results = await Promise.all(org.users.map((id, i) => start(i % 2 === 0 ? a : b, org, id)));
    const granted = results.filter((r) => r.granted);
    expect(granted).toHaveLength(60);
    expect(granted.filter((r) => r.session?.seatKind === 'REGULAR')).toHaveLength(50);
    expect(granted.filter((r) => r.session?.seatKind === 'EMERGENCY')).toHaveLength(10);
    expect(new Set(results.filter((r) => !r.granted).map((r) => r.denial?.code))).toEqual(new Set(['NO_SEAT_AVAILABLE']));

    expect(await counter(org, 'AGENT_SEAT')).toBe(60);
    expect(await openSessions(org)).toHaveLength(60);
    // Either instance reports the same pool.
    for (const instance of [a, b]) {
      const usage = await ok(
        instance,
        `query($id: ID!) { organization(id: $id) { seatUsage { pools { product { code } inUse emergencyInUse overageInUse maxPossible } } } }`,
        { id: org.id },
        org.admin,
      );
      expect(usage.organization.seatUsage.pools).toEqual([
        { product: { code: 'AGENT_SEAT' }, inUse: 50, emergencyInUse: 10, overageInUse: 0, maxPossible: 60 },
      ]);
    }
  });

  it('[R-CONC-3] an instance killed with SIGKILL while holding sessions: after their TTL its seats come back (SESSION_EXPIRED) and are granted again', async () => {
    const org = await setUpOrg(a, 'innoacd', [{ product: 'ACD_AGENT', quantity: 4 }], ['ACD_AGENT'], 9);
    const held = org.users.slice(0, 4);
    const waiting = org.users.slice(4, 8);
    const late = org.users[8]!;

    const victimSessions = await Promise.all(held.map((id) => start(victim, org, id)));
    expect(victimSessions.every((r) => r.granted && r.session?.seatKind === 'REGULAR')).toBe(true);
    const expiries = victimSessions.map((r) => new Date(r.session!.expiresAt).getTime()).sort((x, y) => x - y);
    for (const r of victimSessions) expect(new Date(r.session!.expiresAt).getTime() - new Date(r.session!.startedAt).getTime()).toBe(5000);
    const seenFull = await counter(org, 'ACD_AGENT');
    // Read before the first expiry, the pool is full (afterwards a sweep may already have freed seats).
    if (Date.now() < expiries[0]!) expect(seenFull).toBe(4);

    victim.child.kill('SIGKILL');
    await victim.exited;
    expect(victim.child.signalCode).toBe('SIGKILL');

    // The survivor grants the seats back once the dead instance's sessions are overdue: lazily on a full pool, or by its sweep.
    const regained = new Map<string, StartView>();
    for (let attempt = 0; attempt < 240 && regained.size < waiting.length; attempt++) {
      for (const id of waiting.filter((w) => !regained.has(w))) {
        const r = await start(a, org, id);
        if (r.granted) regained.set(id, r);
        else expect(r.denial?.code).toBe('NO_SEAT_AVAILABLE');
      }
      if (regained.size < waiting.length) await sleep(250);
    }
    expect([...regained.keys()].sort()).toEqual([...waiting].sort());
    // No seat came back before a dead session's TTL had run out: the k-th regained seat started after the k-th expiry.
    const starts = [...regained.values()].map((r) => new Date(r.session!.startedAt).getTime()).sort((x, y) => x - y);
    starts.forEach((startedAt, k) => expect(startedAt).toBeGreaterThanOrEqual(expiries[k]!));

    const expired = await database.db
      .selectFrom('events')
      .select(['user_id', 'actor'])
      .where('organization_id', '=', org.id)
      .where('type', '=', 'SESSION_EXPIRED')
      .execute();
    expect(expired.map((e) => e.user_id).sort()).toEqual([...held].sort());
    expect(new Set(expired.map((e) => e.actor))).toEqual(new Set(['system']));
    const open = await openSessions(org);
    expect(open.map((s) => s.user_id).sort()).toEqual([...waiting].sort());
    expect(await counter(org, 'ACD_AGENT')).toBe(4);

    // Capacity still holds: the survivor's own sessions are live, so a fifth agent is refused.
    expect((await start(a, org, late)).denial?.code).toBe('NO_SEAT_AVAILABLE');
    expect((await start(b, org, late)).denial?.code).toBe('NO_SEAT_AVAILABLE');
  });
});
