import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { createApp } from '../../src/app.ts';
import { ManualClock } from '../../src/clock.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { DATABASES } from '../support/databases.ts';
import { OPERATOR_TOKEN, codeOf, createOrg, startGateway, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';
import { MAPPING_COLUMNS, TRUSTED_KEYS, signPayloadText } from '../support/licensing.ts';

/*
 * Findings of the key review: unbounded numbers, duplicate JSON members,
 * stale keys taking over, one key or customer reference on two
 * organizations, and a sweep that one organization's bad data stopped for all.
 */

const NOW = new Date('2026-11-22T10:00:00.000Z');
const DAY = 86_400_000;

let refs = 0;
const uniqueRef = (kind: string) => `CUST-BOUNDS-${kind}-${++refs}`;

/** A payload object as a vendor would sign it; tests break one field at a time. */
function payloadObject(
  customerRef: string,
  overrides: Record<string, unknown> = {},
  entitlement: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    v: 1,
    keyId: `K-${customerRef}-${Math.random().toString(36).slice(2)}`,
    customerRef,
    catalog: 'innoacd',
    validFrom: '2026-11-01T00:00:00.000Z',
    termMonths: 12,
    graceDays: 14,
    demoAgentLimit: 2,
    autoRenew: true,
    noticeMonths: 3,
    issuedAt: '2026-10-01T00:00:00.000Z',
    entitlements: [
      {
        product: 'ACD_AGENT',
        quantity: 5,
        allocation: null,
        emergencyQuantity: 0,
        overageAllowed: null,
        overageGraceMinutes: null,
        ...entitlement,
      },
    ],
    ...overrides,
  };
}

const signed = (payload: Record<string, unknown>) => signPayloadText(JSON.stringify(payload));

const LICENSE =
  'state keyId validFrom validUntil graceUntil renewalDueAt cancellationDeadline demoAgentLimit entitlements { product { code } quantity total unitsTotal emergencyQuantity overageGraceMinutes } units { unit total }';
const ACTIVATE = `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { ${LICENSE} } organization { id customerRef } } }`;
const READ = `query($id: ID!) { organization(id: $id) { customerRef license { ${LICENSE} } licenseMapping { ${MAPPING_COLUMNS} } warnings { code } } }`;

for (const kind of DATABASES) {
  describe(`licence key bounds and uniqueness on ${kind}`, () => {
    let gw: TestGateway;
    const activate = (org: OrgFixture | string, key: string): Promise<Result> =>
      gw.gql(
        ACTIVATE,
        { input: { organizationId: typeof org === 'string' ? org : org.organizationId, key } },
        typeof org === 'string' ? OPERATOR_TOKEN : org.admin,
      );
    const read = (organizationId: string) => gw.gql(READ, { id: organizationId });
    const org = async (catalog = 'innoacd', ref: string | null = uniqueRef(kind)) => createOrg(gw, catalog, `Bounds ${++refs}`, ref);
    const refOf = async (organizationId: string) =>
      (await gw.ok(`query($id: ID!) { organization(id: $id) { customerRef } }`, { id: organizationId })).organization.customerRef as
        | string
        | null;
    const keyRows = (organizationId: string) =>
      gw.database.db.selectFrom('license_keys').select('key_id').where('organization_id', '=', organizationId).execute();

    /** The key is refused with INVALID_LICENSE_KEY `rule`, nothing is stored, and the organization still renders. */
    async function expectRefused(o: OrgFixture, key: string, rule: string, message: RegExp): Promise<void> {
      const result = await activate(o, key);
      expect(codeOf(result), JSON.stringify(result.errors)).toBe('INVALID_LICENSE_KEY');
      expect(result.errors?.[0]?.extensions?.rule).toBe(rule);
      expect(result.errors?.[0]?.message).toMatch(message);
      expect(await keyRows(o.organizationId)).toEqual([]);
      const after = await read(o.organizationId);
      expect(after.errors).toBeUndefined();
      expect(after.data?.organization.license.state).toBe('NONE');
    }

    beforeAll(async () => {
      gw = await startGateway(kind, { now: NOW, trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw?.close());

    describe('[R-KEY-1] every number, string, list and date of a payload has a bound; beyond it the key is refused naming the field and the bound', () => {
      const cases: [string, Record<string, unknown>, Record<string, unknown>, RegExp][] = [
        ['quantity 3,000,000,000', {}, { quantity: 3_000_000_000 }, /entitlements\[0\]\.quantity must be a whole number from 0 to 1000000/],
        [
          'emergencyQuantity 2^31',
          {},
          { emergencyQuantity: 2 ** 31 },
          /entitlements\[0\]\.emergencyQuantity must be a whole number from 0 to 1000000/,
        ],
        [
          'overageGraceMinutes 1e9',
          {},
          { overageGraceMinutes: 1e9 },
          /entitlements\[0\]\.overageGraceMinutes must be a whole number from 0 to 10080/,
        ],
        ['graceDays 1e12', { graceDays: 1e12 }, {}, /graceDays must be a whole number from 0 to 3650/],
        ['graceDays 3,651', { graceDays: 3651 }, {}, /graceDays must be a whole number from 0 to 3650/],
        ['termMonths 121', { termMonths: 121 }, {}, /termMonths must be a whole number from 1 to 120/],
        ['termMonths 1e15', { termMonths: 1e15 }, {}, /termMonths must be a whole number from 1 to 120/],
        ['noticeMonths 1e6', { noticeMonths: 1e6 }, {}, /noticeMonths must be a whole number from 0 to 120/],
        ['demoAgentLimit 1e10', { demoAgentLimit: 1e10 }, {}, /demoAgentLimit must be a whole number from 0 to 10000/],
        [
          'validFrom in year 9999',
          { validFrom: '9999-12-31T00:00:00.000Z' },
          {},
          /validFrom must be an ISO 8601 UTC instant .* from 2000-01-01T00:00:00\.000Z to before 2100-01-01T00:00:00\.000Z/,
        ],
        ['issuedAt in 1970', { issuedAt: '1970-01-01T00:00:00.000Z' }, {}, /issuedAt must be an ISO 8601 UTC instant .* from 2000-01-01/],
        ['keyId of 201 characters', { keyId: 'K'.repeat(201) }, {}, /keyId must be a non-empty string of at most 200 characters/],
        [
          'customerRef of 201 characters',
          { customerRef: 'C'.repeat(201) },
          {},
          /customerRef must be a non-empty string of at most 200 characters/,
        ],
        [
          'product of 65 characters',
          {},
          { product: 'P'.repeat(65) },
          /entitlements\[0\]\.product must be a non-empty string of at most 64 characters/,
        ],
        // No column can store these as sent (PostgreSQL refuses NUL; an unpaired surrogate is not Unicode): refused, never "Unexpected error."
        [
          'keyId with a NUL character',
          { keyId: 'K\u0000X' },
          {},
          /keyId must be a non-empty string of at most 200 characters without control characters or unpaired surrogates/,
        ],
        [
          'keyId with an unpaired surrogate',
          { keyId: 'K\ud800X' },
          {},
          /keyId must be .* without control characters or unpaired surrogates/,
        ],
        [
          'product with a NUL character',
          {},
          { product: 'ACD_AGENT\u0000' },
          /entitlements\[0\]\.product must be .* without control characters or unpaired surrogates/,
        ],
      ];
      for (const [name, top, entitlement, message] of cases) {
        it(`${name}: INVALID_PAYLOAD`, async () => {
          const o = await org();
          const ref = await refOf(o.organizationId);
          await expectRefused(o, signed(payloadObject(ref!, top, entitlement)), 'INVALID_PAYLOAD', message);
        });
      }

      it('201 entitlements: INVALID_PAYLOAD naming the list and its bound', async () => {
        const o = await org();
        const ref = (await refOf(o.organizationId))!;
        const entitlements = Array.from({ length: 201 }, (_, i) => ({ product: `P${i}`, quantity: 1 }));
        await expectRefused(
          o,
          signed(payloadObject(ref, { entitlements })),
          'INVALID_PAYLOAD',
          /entitlements must list at most 200 item\(s\)/,
        );
      });

      it('the quantities of one key sum beyond 10,000,000 (each within its own bound): INVALID_PAYLOAD naming the sum', async () => {
        const o = await org('connect-storm');
        const ref = (await refOf(o.organizationId))!;
        const products = [
          'BASE',
          'AGENT_SEAT',
          'SUPERVISOR_SEAT',
          'VOICE',
          'EMAIL',
          'WEBCHAT',
          'SMS',
          'ADMINISTRATOR',
          'PADLOCK',
          'CTI_INTEGRATION',
          'CALL_RECORDING',
        ];
        const entitlements = products.map((product) => ({ product, quantity: 1_000_000 }));
        await expectRefused(
          o,
          signed(payloadObject(ref, { catalog: 'connect-storm', entitlements })),
          'INVALID_PAYLOAD',
          /entitlements: the quantities .* add up to 11000000; at most 10000000/,
        );
      });

      it('a key at every bound activates, and its licence and mapping render', async () => {
        const o = await org();
        const ref = (await refOf(o.organizationId))!;
        const key = signed(
          payloadObject(
            ref,
            {
              keyId: 'K'.repeat(200),
              termMonths: 120,
              graceDays: 3650,
              noticeMonths: 120,
              demoAgentLimit: 10_000,
              validFrom: '2026-11-01T00:00:00.000Z',
            },
            { quantity: 1_000_000, emergencyQuantity: 0, overageGraceMinutes: 10_080 },
          ),
        );
        const result = await activate(o, key);
        expect(result.errors).toBeUndefined();
        expect(result.data?.activateLicenseKey.license).toMatchObject({
          state: 'ACTIVE',
          validUntil: '2036-11-01T00:00:00.000Z',
          demoAgentLimit: 10_000,
        });
        const after = await read(o.organizationId);
        expect(after.errors).toBeUndefined();
        expect(
          after.data?.organization.licenseMapping.find((r: { product: { code: string } }) => r.product.code === 'ACD_AGENT'),
        ).toMatchObject({ total: 1_000_000 });
      });
    });

    describe('[R-KEY-3] duplicate JSON members anywhere in the payload are MALFORMED (JSON.parse would keep the last one)', () => {
      const cases: [string, (json: string) => string, RegExp][] = [
        [
          'in an entitlement ("quantity":10,"quantity":100000)',
          (json) => json.replace('"quantity":5', '"quantity":10,"quantity":100000'),
          /duplicate member "quantity" in entitlements\[0\]/,
        ],
        [
          'at the top level (customerRef twice)',
          (json) => json.replace('"catalog"', '"customerRef":"CUST-OTHER","catalog"'),
          /duplicate member "customerRef" in the payload/,
        ],
        [
          'spelt with an escape ("quantit\\u0079")',
          (json) => json.replace('"quantity":5', '"quantity":5,"quantit\\u0079":100000'),
          /duplicate member "quantity"/,
        ],
      ];
      for (const [name, mutate, message] of cases) {
        it(name, async () => {
          const o = await org();
          const ref = (await refOf(o.organizationId))!;
          await expectRefused(o, signPayloadText(mutate(JSON.stringify(payloadObject(ref)))), 'MALFORMED', message);
        });
      }
    });

    it('[R-KEY-4] a never-activated key issued before the governing key is SUPERSEDED, and does not take over (5 stays 5, not 900)', async () => {
      const o = await org();
      const ref = (await refOf(o.organizationId))!;
      const current = signed(payloadObject(ref, { keyId: 'K-NEWER', issuedAt: '2026-10-01T00:00:00.000Z' }, { quantity: 5 }));
      expect((await activate(o, current)).errors).toBeUndefined();
      const stale = signed(payloadObject(ref, { keyId: 'K-2024', issuedAt: '2024-03-01T00:00:00.000Z' }, { quantity: 900 }));
      const result = await activate(o, stale);
      expect(codeOf(result)).toBe('INVALID_LICENSE_KEY');
      expect(result.errors?.[0]?.extensions?.rule).toBe('SUPERSEDED');
      expect(result.errors?.[0]?.message).toMatch(
        /issued at 2024-03-01T00:00:00\.000Z, before the governing key K-NEWER \(issued 2026-10-01T00:00:00\.000Z\)/,
      );
      const after = (await read(o.organizationId)).data?.organization;
      expect(after.license).toMatchObject({ keyId: 'K-NEWER', entitlements: [{ quantity: 5 }] });
      expect((await keyRows(o.organizationId)).map((k) => k.key_id)).toEqual(['K-NEWER']);
      // A key issued at the same instant or later still replaces it.
      const later = signed(payloadObject(ref, { keyId: 'K-LATER', issuedAt: '2026-10-01T00:00:00.000Z' }, { quantity: 7 }));
      expect((await activate(o, later)).data?.activateLicenseKey.license).toMatchObject({
        keyId: 'K-LATER',
        entitlements: [{ quantity: 7 }],
      });
    });

    it("[R-KEY-3] a key activates on one organization only: an organization without a customer reference cannot take another's key", async () => {
      const a = await org();
      const ref = (await refOf(a.organizationId))!;
      const key = signed(payloadObject(ref, { keyId: `K-ONCE-${kind}` }));
      expect((await activate(a, key)).errors).toBeUndefined();
      const b = await org('innoacd', null);
      const result = await activate(b, key);
      expect(codeOf(result)).toBe('INVALID_LICENSE_KEY');
      expect(result.errors?.[0]?.extensions?.rule).toBe('CUSTOMER_MISMATCH');
      expect(result.errors?.[0]?.message).toMatch(/already activated by another organization/);
      expect(await keyRows(b.organizationId)).toEqual([]);
      expect(await refOf(b.organizationId)).toBeNull();
      // Another key of that customer (new key id) is refused too: the reference belongs to another organization.
      const second = await activate(b, signed(payloadObject(ref, { keyId: `K-ONCE-2-${kind}` })));
      expect(second.errors?.[0]?.extensions?.rule).toBe('CUSTOMER_MISMATCH');
      expect(second.errors?.[0]?.message).toMatch(/customer reference .* is held by another organization/);
      expect(await refOf(b.organizationId)).toBeNull();
    });

    it('[R-KEY-3] two organizations without a customer reference activating one key at the same time: exactly one wins, the other gets a coded refusal', async () => {
      const a = await org('innoacd', null);
      const b = await org('innoacd', null);
      const ref = uniqueRef(kind);
      const key = signed(payloadObject(ref, { keyId: `K-RACE-${kind}` }));
      const results = await Promise.all([activate(a, key), activate(b, key)]);
      expect(results.filter((r) => r.errors === undefined)).toHaveLength(1);
      const refused = results.find((r) => r.errors !== undefined)!;
      expect(codeOf(refused), JSON.stringify(refused.errors)).toBe('INVALID_LICENSE_KEY');
      expect(refused.errors?.[0]?.extensions?.rule).toBe('CUSTOMER_MISMATCH');
      const holders = await gw.database.db
        .selectFrom('license_keys')
        .select('organization_id')
        .where('key_id', '=', `K-RACE-${kind}`)
        .execute();
      expect(holders).toHaveLength(1);
      const withRef = await gw.database.db.selectFrom('organizations').select('id').where('customer_ref', '=', ref).execute();
      expect(withRef).toEqual([{ id: holders[0]!.organization_id }]);
    });

    it('[R-KEY-3] the database itself refuses a second row of one key id, whatever the organization (a unique index, so two instances cannot both win)', async () => {
      const a = await org();
      const b = await org();
      const ref = (await refOf(a.organizationId))!;
      const key = signed(payloadObject(ref, { keyId: `K-DB-${kind}` }));
      expect((await activate(a, key)).errors).toBeUndefined();
      const row = await gw.database.db
        .selectFrom('license_keys')
        .selectAll()
        .where('key_id', '=', `K-DB-${kind}`)
        .executeTakeFirstOrThrow();
      await expect(
        gw.database.db
          .insertInto('license_keys')
          .values({
            organization_id: b.organizationId,
            key_id: row.key_id,
            kid: row.kid,
            payload: JSON.stringify(row.payload),
            raw: row.raw,
            activated_at: row.activated_at,
            activated_by: 'test',
          })
          .execute(),
      ).rejects.toThrow(/unique|duplicate/i);
    });

    it('[R-KEY-3] no two organizations hold one customer reference: creating a second is refused naming input.customerRef', async () => {
      const ref = uniqueRef(kind);
      await org('innoacd', ref);
      const result = await gw.gql(
        `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
        { input: { name: `Twin ${ref}`, catalog: 'xphone-connect', customerRef: ref } },
      );
      expect(codeOf(result)).toBe('BAD_USER_INPUT');
      expect(result.errors?.[0]?.extensions?.field).toBe('input.customerRef');
      expect(result.errors?.[0]?.message).toMatch(/held by another organization/);
      const holders = await gw.database.db.selectFrom('organizations').select('id').where('customer_ref', '=', ref).execute();
      expect(holders).toHaveLength(1);
      await expect(
        sql`insert into organizations (id, name, catalog_code, customer_ref, created_at) values (gen_random_uuid(), 'raw twin', 'innoacd', ${ref}, now())`.execute(
          gw.database.db,
        ),
      ).rejects.toThrow(/unique|duplicate/i);
    });

    it('[R-AVAIL-4][R-LIFE-5] the licence sweep goes on for every other organization when one has a stored key an old gateway accepted (graceDays 1e12); the failure is logged, counted and read as a coded error', async () => {
      const good = await org();
      const bad = await org();
      const goodRef = (await refOf(good.organizationId))!;
      const badRef = (await refOf(bad.organizationId))!;
      // Activated on 2026-11-10, a term ending 2026-12-12: RENEWAL_DUE from 2026-11-14, so the sweep at NOW changes the state.
      const validFrom = new Date(Date.UTC(2025, 11, 12)).toISOString();
      gw.clock.set(new Date('2026-11-10T00:00:00.000Z'));
      try {
        expect(
          (await activate(good, signed(payloadObject(goodRef, { validFrom, issuedAt: validFrom })))).data?.activateLicenseKey.license.state,
        ).toBe('ACTIVE');
        expect(
          (await activate(bad, signed(payloadObject(badRef, { validFrom, issuedAt: validFrom })))).data?.activateLicenseKey.license.state,
        ).toBe('ACTIVE');
      } finally {
        gw.clock.set(NOW);
      }
      // What an older gateway stored: absurd numbers, straight into the table; both organizations are due now.
      const absurd = payloadObject(
        badRef,
        { keyId: `K-ABSURD-${kind}`, graceDays: 1e12, validFrom: '2026-11-21T00:00:00.000Z', issuedAt: '2026-11-21T00:00:00.000Z' },
        { quantity: 3_000_000_000 },
      );
      await sql`insert into license_keys (organization_id, key_id, kid, payload, raw, activated_at, activated_by)
                values (${bad.organizationId}, ${`K-ABSURD-${kind}`}, 'old-gateway', ${JSON.stringify(absurd)}::jsonb, 'LK1.old', ${NOW}, 'old gateway')`.execute(
        gw.database.db,
      );
      await sql`update organizations set license_check_at = ${new Date(NOW.getTime() - DAY)} where id in (${good.organizationId}, ${bad.organizationId})`.execute(
        gw.database.db,
      );

      const failures: string[] = [];
      const changed = await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs(), {
        onFailure: (organizationId) => failures.push(organizationId),
      });
      expect(failures).toEqual([bad.organizationId]);
      expect(changed).toBeGreaterThanOrEqual(1);
      const goodRow = await gw.database.db
        .selectFrom('organizations')
        .select(['license_state'])
        .where('id', '=', good.organizationId)
        .executeTakeFirstOrThrow();
      expect(goodRow.license_state).toBe('RENEWAL_DUE');

      // The organization's own reads answer a coded error that names the stored key, never "Unexpected error.".
      const badRead = await read(bad.organizationId);
      expect(codeOf(badRead), JSON.stringify(badRead.errors)).toBe('INVALID_LICENSE_KEY');
      expect(badRead.errors?.[0]?.message).toMatch(new RegExp(`stored licence key K-ABSURD-${kind}.*(graceDays|quantity)`));
      expect(JSON.stringify(badRead)).not.toMatch(/Unexpected error/);
      const goodRead = await read(good.organizationId);
      expect(goodRead.errors).toBeUndefined();
      expect(goodRead.data?.organization.license.state).toBe('RENEWAL_DUE');

      // The background sweep of a running gateway counts the failure in gateway_sweep_failures_total{sweep="license"}.
      await sql`update organizations set license_check_at = ${new Date(NOW.getTime() - DAY)} where id = ${bad.organizationId}`.execute(
        gw.database.db,
      );
      const app = createApp({
        database: gw.database,
        clock: new ManualClock(NOW),
        operatorToken: OPERATOR_TOKEN,
        trustedKeys: TRUSTED_KEYS,
        sweepIntervalMs: 3_600_000,
      });
      await app.start(0, '127.0.0.1');
      // stop() waits for the sweep that start() ran.
      await app.stop();
      const metric = await app.metrics.registry.getSingleMetricAsString('gateway_sweep_failures_total');
      expect(metric).toMatch(/gateway_sweep_failures_total\{sweep="license"\} 1\b/);
    });
  });
}
