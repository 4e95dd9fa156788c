import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATABASES } from '../support/databases.ts';
import { type OrgFixture, type Result, startGateway, type TestGateway } from '../support/gateway.ts';
import { createGroup, createUsers, issueLicenseKey, licensedOrg, TRUSTED_KEYS } from '../support/licensing.ts';
import { poolCounter, startSession } from '../support/sessions.ts';

/*
 * What-if for every change (R-WHATIF-1): each mutation with dryRun reports
 * the consequences (licences gained and lost, pools resized, sessions ended)
 * and changes nothing; the real call made right after, from the same state,
 * reports exactly the same. fast-check draws the sequences of changes.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const CHANGES = `changes { applied licencesGained { userId product } licencesLost { userId product }
  pools { product capacityBefore capacityAfter emergencyCapacityBefore emergencyCapacityAfter inUse sessionsBeyond }
  sessionsEnded { sessionId userId } }`;
const MUTATIONS = {
  status: `mutation($input: UpdateUserStatusInput!) { updateUserStatus(input: $input) { user { status } ${CHANGES} } }`,
  delete: `mutation($input: DeleteUserInput!) { deleteUser(input: $input) { deletedUserId ${CHANGES} } }`,
  assign: `mutation($input: AssignLicenseInput!) { assignLicense(input: $input) { license { status } ${CHANGES} } }`,
  unassign: `mutation($input: UnassignLicenseInput!) { unassignLicense(input: $input) { user { id } ${CHANGES} } }`,
  group: `mutation($input: UpdateConfigurationGroupInput!) { updateConfigurationGroup(input: $input) { configurationGroup { functions } ${CHANGES} } }`,
  activate: `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state } ${CHANGES} } }`,
  bound: `mutation($input: SetSeatBoundInput!) { setSeatBound(input: $input) { applied reserved cap inUse overCap } }`,
} as const;

type Op =
  | { kind: 'status'; user: number; status: 'ACTIVE' | 'INACTIVE' | 'PREPARING' }
  | { kind: 'delete'; user: number }
  | { kind: 'assign' | 'unassign'; user: number; product: 'SUPERVISOR_SEAT' | 'VOICE' | 'AGENT_SEAT' }
  | { kind: 'group'; functions: string[] }
  | { kind: 'activate'; base: number; seats: number; emergency: number }
  | { kind: 'bound'; reserved: number; cap: number | null }
  | { kind: 'start'; user: number };

const USERS = 5;
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('status' as const), user: fc.nat(USERS - 1), status: fc.constantFrom('ACTIVE', 'INACTIVE', 'PREPARING') }),
  fc.record({ kind: fc.constant('delete' as const), user: fc.nat(USERS - 1) }),
  fc.record({
    kind: fc.constantFrom('assign' as const, 'unassign' as const),
    user: fc.nat(USERS - 1),
    product: fc.constantFrom('SUPERVISOR_SEAT', 'VOICE', 'AGENT_SEAT'),
  }),
  fc.record({
    kind: fc.constant('group' as const),
    functions: fc.subarray(['AGENT_SEAT', 'VOICE', 'EMAIL'], { minLength: 0 }).map((f) => ['BASE', ...f]),
  }),
  fc.record({
    kind: fc.constant('activate' as const),
    base: fc.integer({ min: 1, max: 6 }),
    seats: fc.integer({ min: 0, max: 4 }),
    emergency: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({
    kind: fc.constant('bound' as const),
    reserved: fc.integer({ min: 0, max: 3 }),
    cap: fc.option(fc.integer({ min: 3, max: 5 })),
  }),
  fc.record({ kind: fc.constant('start' as const), user: fc.nat(USERS - 1) }),
);

/** What a call answered, comparable between the dry run and the real call: the error, or the data without `applied`. */
function outcome(result: Result): unknown {
  if (result.errors?.length) return { error: result.errors.map((e) => [e.extensions?.code, e.message]) };
  const payload = Object.values(result.data ?? {})[0] as Record<string, unknown>;
  const { changes, ...rest } = payload;
  const report = changes as Record<string, unknown> | undefined;
  if (report) {
    const { applied: _applied, ...consequences } = report;
    return { consequences, rest: payload.applied === undefined ? (payload.deletedUserId ?? null) : null };
  }
  const { applied: _applied, ...bound } = rest;
  return { bound };
}
const appliedOf = (result: Result) => {
  const payload = Object.values(result.data ?? {})[0] as { applied?: boolean; changes?: { applied: boolean } };
  return payload.changes?.applied ?? payload.applied;
};

for (const kind of DATABASES) {
  describe(kind, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw.close());

    it('[R-WHATIF-1] every change with dryRun reports what the real call then does, and changes nothing', {
      timeout: 600_000,
    }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 3, maxLength: 7 }), async (ops) => {
          const org: OrgFixture = await licensedOrg(gw, 'connect-storm', [
            { product: 'BASE', quantity: 6 },
            { product: 'AGENT_SEAT', quantity: 2, emergencyQuantity: 1 },
            { product: 'SUPERVISOR_SEAT', quantity: 1 },
            { product: 'VOICE', quantity: 1 },
          ]);
          const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT', 'VOICE']);
          const users = await createUsers(gw, org, USERS, { configurationGroupId: group });
          for (const u of users.slice(0, 2)) await startSession(gw, org, u);
          let keys = 0;
          for (const o of ops) {
            if (o.kind === 'start') {
              await startSession(gw, org, users[o.user]!).catch(() => undefined);
              continue;
            }
            const call = (dryRun: boolean): [string, Record<string, unknown>] => {
              switch (o.kind) {
                case 'status':
                  return [MUTATIONS.status, { userId: users[o.user], status: o.status, dryRun }];
                case 'delete':
                  return [MUTATIONS.delete, { userId: users[o.user], dryRun }];
                case 'assign':
                case 'unassign':
                  return [MUTATIONS[o.kind], { userId: users[o.user], product: o.product, dryRun }];
                case 'group':
                  return [MUTATIONS.group, { configurationGroupId: group, functions: o.functions, dryRun }];
                case 'activate':
                  return [MUTATIONS.activate, { organizationId: org.organizationId, key: activationKey, dryRun }];
                case 'bound':
                  return [MUTATIONS.bound, { product: 'AGENT_SEAT', siteId: org.siteId, reserved: o.reserved, cap: o.cap, dryRun }];
              }
            };
            const activationKey =
              o.kind === 'activate'
                ? issueLicenseKey(
                    'connect-storm',
                    [
                      { product: 'BASE', quantity: o.base },
                      { product: 'AGENT_SEAT', quantity: o.seats, emergencyQuantity: o.emergency },
                      { product: 'VOICE', quantity: 1 },
                    ],
                    { org, keyId: `K-${org.organizationId.slice(0, 8)}-${++keys}` },
                  )
                : '';
            const seatsBefore = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
            const [query, dryInput] = call(true);
            const dry = await gw.gql(query, { input: dryInput }, org.admin);
            const [, realInput] = call(false);
            const seatsAfterDry = await poolCounter(gw, org.organizationId, 'AGENT_SEAT');
            const twice = await gw.gql(query, { input: dryInput }, org.admin);
            const real = await gw.gql(query, { input: realInput }, org.admin);
            expect(seatsAfterDry).toBe(seatsBefore);
            expect(outcome(twice)).toEqual(outcome(dry));
            expect(outcome(real)).toEqual(outcome(dry));
            if (!dry.errors) {
              expect(appliedOf(dry)).toBe(false);
              expect(appliedOf(real)).toBe(true);
            }
          }
        }),
        { numRuns: 6 },
      );
    });

    it('[R-WHATIF-1] a dry-run activation names the users losing a licence, the new pool sizes and the seats beyond them', async () => {
      const org = await licensedOrg(gw, 'connect-storm', [
        { product: 'BASE', quantity: 4 },
        { product: 'AGENT_SEAT', quantity: 3 },
      ]);
      const group = await createGroup(gw, org, 'Agents', ['BASE', 'AGENT_SEAT']);
      const users = await createUsers(gw, org, 4, { configurationGroupId: group, stepMs: 1000 });
      for (const u of users.slice(0, 3)) await startSession(gw, org, u);
      const key = issueLicenseKey(
        'connect-storm',
        [
          { product: 'BASE', quantity: 3 },
          { product: 'AGENT_SEAT', quantity: 1 },
        ],
        { org, keyId: `SMALLER-${org.organizationId.slice(0, 8)}` },
      );
      const dry = await gw.ok<{ activateLicenseKey: { changes: Record<string, unknown> } }>(
        MUTATIONS.activate,
        { input: { organizationId: org.organizationId, key, dryRun: true } },
        org.admin,
      );
      expect(dry.activateLicenseKey.changes).toMatchObject({
        applied: false,
        licencesGained: [],
        // The fixed order (R-UNDER-1): the last configured user loses BASE, and with it AGENT_SEAT (its prerequisite).
        licencesLost: expect.arrayContaining([{ userId: users[3], product: 'BASE' }]),
        pools: [expect.objectContaining({ product: 'AGENT_SEAT', capacityBefore: 3, capacityAfter: 1, inUse: 3, sessionsBeyond: 2 })],
        sessionsEnded: [],
      });
      // Nothing changed: the pool still has 3 seats.
      const real = await gw.ok<{ activateLicenseKey: { changes: Record<string, unknown> } }>(
        MUTATIONS.activate,
        { input: { organizationId: org.organizationId, key } },
        org.admin,
      );
      expect(real.activateLicenseKey.changes).toEqual({ ...dry.activateLicenseKey.changes, applied: true });
    });
  });
}
