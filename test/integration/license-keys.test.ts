import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair, issueKey, parseTrustedKeys, type GeneratedKeyPair } from '../../src/keys/codec.ts';
import { orderToPayload } from '../../src/keys/order.ts';
import type { LicenseKeyPayload } from '../../src/keys/payload.ts';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { DATABASES } from '../support/databases.ts';
import { codeOf, createOrg, startGateway, uniqueCustomerRef, type OrgFixture, type Result, type TestGateway } from '../support/gateway.ts';

const DAY = 86_400_000;
const START = new Date('2026-01-15T00:00:00.000Z');
// 12 months from START; renewal window 28 days before; grace 14 days after (seeds 000/001).
const END = new Date('2027-01-15T00:00:00.000Z');
const RENEWAL_DUE_AT = new Date(END.getTime() - 28 * DAY);
const GRACE_END = new Date(END.getTime() + 14 * DAY);

const vendor: GeneratedKeyPair = generateKeyPair();
const rotated: GeneratedKeyPair = generateKeyPair();
const stranger: GeneratedKeyPair = generateKeyPair();

const ORDERS = ['innoacd', 'xphone-connect', 'zoom-contact-center', 'connect-storm'].map((code) => ({
  code,
  order: JSON.parse(readFileSync(new URL(`../../docs/orders/${code}.json`, import.meta.url), 'utf8')) as Record<string, unknown>,
}));

/** Customer references are unique per organization: payload() is for the organization freshOrg made last, unless told otherwise. */
let lastCustomerRef = 'CUST-1';

function payload(overrides: Partial<LicenseKeyPayload> & { catalog?: string } = {}): LicenseKeyPayload {
  return orderToPayload(
    {
      customerRef: lastCustomerRef,
      catalog: 'innoacd',
      validFrom: START.toISOString(),
      entitlements: [{ product: 'ACD_AGENT', quantity: 50 }],
      ...overrides,
    },
    START,
  );
}

const LICENSE = `
  state keyId validFrom validUntil graceUntil renewalDueAt cancellationDeadline autoRenew demoAgentLimit fullUse
  pendingKeyId pendingKeyValidFrom
  entitlements { product { code } quantity total allocation unitsTotal emergencyQuantity overageAllowed overageGraceMinutes }
  units { unit total }`;

const ACTIVATE = `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { ${LICENSE} } organization { id customerRef } } }`;
const STATUS = `query($id: ID!) { organization(id: $id) { license { ${LICENSE} } warnings { code message product { code } } } }`;

for (const kind of DATABASES) {
  describe(`licence keys on ${kind}`, () => {
    let gw: TestGateway;
    let org: OrgFixture;
    let counter = 0;

    /** Activates with the organization's own ADMIN token unless another token is given. */
    const admins = new Map<string, string>();
    const activate = (organizationId: string, key: string, token?: string | null): Promise<Result> =>
      gw.gql(ACTIVATE, { input: { organizationId, key } }, token === undefined ? (admins.get(organizationId) ?? null) : token);
    const status = async (organizationId = org.organizationId) =>
      (await gw.ok(STATUS, { id: organizationId })).organization as {
        license: Record<string, any>;
        warnings: { code: string; message: string; product: { code: string } | null }[];
      };
    const eventsOf = (organizationId: string) =>
      gw.database.db
        .selectFrom('events')
        .select(['type', 'detail', 'actor'])
        .where('organization_id', '=', organizationId)
        .orderBy('id')
        .execute();
    /** A fresh organization (own customer reference) so that tests do not share key history. */
    const freshOrg = async (catalog = 'innoacd', customerRef = uniqueCustomerRef()) => {
      const created = await createOrg(gw, catalog, `Org ${catalog} ${++counter}`, customerRef);
      lastCustomerRef = customerRef;
      admins.set(created.organizationId, created.admin);
      return created;
    };

    beforeAll(async () => {
      gw = await startGateway(kind, {
        now: new Date(START.getTime() + DAY),
        trustedKeys: parseTrustedKeys(`${vendor.publicKey}, ${rotated.publicKeyPem}`),
      });
      org = await freshOrg();
    });
    afterAll(() => gw.close());

    it('[R-LIFE-5] with no key ever activated the state is NONE with demo limits and a DEMO_MODE warning', async () => {
      const { license, warnings } = await status();
      expect(license).toMatchObject({ state: 'NONE', keyId: null, demoAgentLimit: 2, fullUse: false, entitlements: [] });
      expect(warnings.map((w) => w.code)).toEqual(['DEMO_MODE']);
    });

    it('[R-KEY-3] [R-KEY-4] a valid key activates at once, records KEY_ACTIVATED and STATE_CHANGED, and shows its terms', async () => {
      const o = await freshOrg();
      gw.clock.set(new Date(START.getTime() + DAY));
      const result = await activate(o.organizationId, issueKey(payload({ keyId: 'K-ACTIVE' }), vendor.privateKeyPem));
      expect(result.errors).toBeUndefined();
      expect(result.data?.activateLicenseKey.license).toMatchObject({
        state: 'ACTIVE',
        keyId: 'K-ACTIVE',
        validFrom: START.toISOString(),
        validUntil: END.toISOString(),
        graceUntil: GRACE_END.toISOString(),
        renewalDueAt: RENEWAL_DUE_AT.toISOString(),
        cancellationDeadline: '2026-10-15T00:00:00.000Z',
        autoRenew: true,
        demoAgentLimit: 2,
        fullUse: true,
        entitlements: [{ product: { code: 'ACD_AGENT' }, quantity: 50, total: 50, allocation: 'CONCURRENT' }],
      });
      // Another reader (a new request, as another instance would be) sees it immediately.
      expect((await status(o.organizationId)).license.state).toBe('ACTIVE');
      const events = await eventsOf(o.organizationId);
      expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['KEY_ACTIVATED', 'STATE_CHANGED']));
      expect(events.find((e) => e.type === 'STATE_CHANGED')?.detail).toBe('NONE -> ACTIVE; key (none) -> K-ACTIVE');
      expect(events.find((e) => e.type === 'KEY_ACTIVATED')?.actor).toMatch(/^token:/);
    });

    it('[R-LIFE-3] cancellationDeadline is the end of term minus the 3 months notice; auto-renew is the key flag', async () => {
      const o = await freshOrg();
      const result = await activate(
        o.organizationId,
        issueKey(payload({ keyId: 'K-NOTICE', autoRenew: false, noticeMonths: 3 }), vendor.privateKeyPem),
      );
      expect(result.data?.activateLicenseKey.license).toMatchObject({ cancellationDeadline: '2026-10-15T00:00:00.000Z', autoRenew: false });
    });

    describe('[R-KEY-3] refusals name the failed check and change nothing', () => {
      const good = () => issueKey(payload({ keyId: `K-GOOD-${++counter}` }), vendor.privateKeyPem);
      const cases: [string, string, () => string][] = [
        [
          'tampered payload',
          'BAD_SIGNATURE',
          () => {
            const [p, kid, body, sig] = good().split('.');
            const json = JSON.parse(Buffer.from(body!, 'base64url').toString());
            json.entitlements[0].quantity = 5000;
            return [p, kid, Buffer.from(JSON.stringify(json)).toString('base64url'), sig].join('.');
          },
        ],
        [
          'tampered signature',
          'BAD_SIGNATURE',
          () => {
            const key = good();
            const last = key.at(-2) === 'A' ? 'B' : 'A';
            return `${key.slice(0, -2)}${last}${key.at(-1)}`;
          },
        ],
        ['unknown signer', 'UNKNOWN_SIGNER', () => issueKey(payload(), stranger.privateKeyPem)],
        ['other customer', 'CUSTOMER_MISMATCH', () => issueKey(payload({ customerRef: 'CUST-2' }), vendor.privateKeyPem)],
        [
          'other catalog',
          'CATALOG_MISMATCH',
          () =>
            issueKey(
              orderToPayload(
                {
                  customerRef: lastCustomerRef,
                  catalog: 'connect-storm',
                  validFrom: START.toISOString(),
                  entitlements: [{ product: 'BASE', quantity: 5 }],
                },
                START,
              ),
              vendor.privateKeyPem,
            ),
        ],
        ['malformed base64', 'MALFORMED', () => good().replace(/\.([^.]+)\./, '.$1!*.')],
        ['truncated key', 'MALFORMED', () => good().slice(0, 40)],
        ['not a key at all', 'MALFORMED', () => 'hello'],
        ['expired key', 'EXPIRED', () => issueKey(payload({ validFrom: '2024-01-01T00:00:00.000Z' }), vendor.privateKeyPem)],
        [
          'unknown product',
          'CATALOG_PRODUCTS',
          () =>
            issueKey(
              {
                ...payload(),
                entitlements: [
                  { product: 'NOPE', quantity: 1, allocation: null, emergencyQuantity: 0, overageAllowed: null, overageGraceMinutes: null },
                ],
              },
              vendor.privateKeyPem,
            ),
        ],
      ];
      for (const [name, check, make] of cases) {
        it(`${name}: INVALID_LICENSE_KEY (${check})`, async () => {
          const o = await freshOrg();
          const before = await eventsOf(o.organizationId);
          const result = await activate(o.organizationId, make());
          expect(codeOf(result)).toBe('INVALID_LICENSE_KEY');
          expect(result.errors?.[0]?.extensions?.rule).toBe(check);
          expect(result.errors?.[0]?.message).toMatch(/^licence key refused: /);
          expect(JSON.stringify(result)).not.toMatch(/\.ts:\d+|stack/);
          expect((await status(o.organizationId)).license.state).toBe('NONE');
          expect(await eventsOf(o.organizationId)).toEqual(before);
          const keys = await gw.database.db
            .selectFrom('license_keys')
            .select('key_id')
            .where('organization_id', '=', o.organizationId)
            .execute();
          expect(keys).toEqual([]);
        });
      }
    });

    it('[R-KEY-3] only ADMIN (or the operator) may activate; other roles are FORBIDDEN, other organizations NOT_FOUND', async () => {
      const o = await freshOrg();
      const key = issueKey(payload({ keyId: 'K-ROLE' }), vendor.privateKeyPem);
      expect(codeOf(await activate(o.organizationId, key, o.tokens.SUPERVISOR))).toBe('FORBIDDEN');
      expect(codeOf(await activate(o.organizationId, key, org.admin))).toBe('NOT_FOUND');
      expect(codeOf(await activate(o.organizationId, key, null))).toBe('UNAUTHENTICATED');
    });

    it('[R-KEY-1] rotated public keys: keys signed by either trusted key activate', async () => {
      const o = await freshOrg();
      expect((await activate(o.organizationId, issueKey(payload({ keyId: 'K-ROT-1' }), vendor.privateKeyPem))).errors).toBeUndefined();
      const second = await activate(
        o.organizationId,
        issueKey(payload({ keyId: 'K-ROT-2', validFrom: new Date(START.getTime() + DAY / 2).toISOString() }), rotated.privateKeyPem),
      );
      expect(second.errors).toBeUndefined();
      expect(second.data?.activateLicenseKey.license.keyId).toBe('K-ROT-2');
    });

    it('[R-KEY-4] a replacing key takes over at once with its entitlements; re-pasting it is harmless; the older one cannot come back', async () => {
      const o = await freshOrg();
      const first = issueKey(payload({ keyId: 'K-OLD' }), vendor.privateKeyPem);
      await activate(o.organizationId, first);
      const replacing = issueKey(
        payload({
          keyId: 'K-NEW',
          entitlements: [
            { product: 'ACD_AGENT', quantity: 80, allocation: null, emergencyQuantity: 0, overageAllowed: null, overageGraceMinutes: null },
          ],
        }),
        vendor.privateKeyPem,
      );
      const result = await activate(o.organizationId, replacing);
      expect(result.data?.activateLicenseKey.license).toMatchObject({ keyId: 'K-NEW', entitlements: [{ total: 80 }] });
      expect((await activate(o.organizationId, replacing)).errors).toBeUndefined();
      const back = await activate(o.organizationId, first);
      expect(result.errors).toBeUndefined();
      expect(codeOf(back)).toBe('INVALID_LICENSE_KEY');
      expect(back.errors?.[0]?.extensions?.rule).toBe('SUPERSEDED');
      expect((await status(o.organizationId)).license.keyId).toBe('K-NEW');
    });

    it('[R-KEY-4] a future-dated key is PENDING without a current key, and takes over on its start date', async () => {
      const o = await freshOrg();
      const from = new Date(gw.clock.now().getTime() + 10 * DAY);
      const result = await activate(
        o.organizationId,
        issueKey(payload({ keyId: 'K-FUTURE', validFrom: from.toISOString() }), vendor.privateKeyPem),
      );
      expect(result.data?.activateLicenseKey.license).toMatchObject({
        state: 'PENDING',
        keyId: 'K-FUTURE',
        fullUse: false,
        entitlements: [],
      });
      const now = gw.clock.now();
      try {
        gw.clock.set(new Date(from.getTime() - 1));
        expect((await status(o.organizationId)).license.state).toBe('PENDING');
        gw.clock.set(from);
        expect((await status(o.organizationId)).license).toMatchObject({ state: 'ACTIVE', keyId: 'K-FUTURE' });
        expect(await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs())).toBeGreaterThanOrEqual(1);
        expect((await eventsOf(o.organizationId)).filter((e) => e.type === 'STATE_CHANGED').map((e) => e.detail)).toEqual([
          'NONE -> PENDING; key (none) -> K-FUTURE',
          'PENDING -> ACTIVE',
        ]);
      } finally {
        gw.clock.set(now);
      }
    });

    it('[R-LIFE-1] [R-LIFE-2] [R-LIFE-4] [R-LIFE-5] every state boundary at the exact millisecond, with STATE_CHANGED from the sweeper', async () => {
      const o = await freshOrg();
      const saved = gw.clock.now();
      gw.clock.set(new Date(START.getTime() + DAY));
      await activate(o.organizationId, issueKey(payload({ keyId: 'K-LIFE' }), vendor.privateKeyPem));
      const at = async (ms: number) => {
        gw.clock.set(new Date(ms));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        return (await status(o.organizationId)).license.state as string;
      };
      try {
        expect(await at(RENEWAL_DUE_AT.getTime() - 1)).toBe('ACTIVE');
        expect(await at(RENEWAL_DUE_AT.getTime())).toBe('RENEWAL_DUE');
        expect((await status(o.organizationId)).warnings.map((w) => w.code)).toContain('RENEWAL_DUE');
        expect(await at(END.getTime() - 1)).toBe('RENEWAL_DUE');
        expect(await at(END.getTime())).toBe('GRACE');
        const grace = await status(o.organizationId);
        expect(grace.license.fullUse).toBe(true);
        expect(grace.warnings.map((w) => w.code)).toContain('LICENSE_IN_GRACE');
        // 14 days' grace (seed 000/001): still GRACE a millisecond before, DEMO at the end.
        expect(await at(GRACE_END.getTime() - 1)).toBe('GRACE');
        expect(await at(GRACE_END.getTime())).toBe('DEMO');
        const demo = await status(o.organizationId);
        expect(demo.license).toMatchObject({ fullUse: false, demoAgentLimit: 2 });
        expect(demo.warnings.map((w) => w.code)).toContain('DEMO_MODE');
        const changes = (await eventsOf(o.organizationId)).filter((e) => e.type === 'STATE_CHANGED').map((e) => e.detail);
        expect(changes).toEqual(['NONE -> ACTIVE; key (none) -> K-LIFE', 'ACTIVE -> RENEWAL_DUE', 'RENEWAL_DUE -> GRACE', 'GRACE -> DEMO']);

        // [R-LIFE-5] A new valid key restores full use at once.
        const renewal = await activate(
          o.organizationId,
          issueKey(payload({ keyId: 'K-LIFE-2', validFrom: END.toISOString() }), vendor.privateKeyPem),
        );
        expect(renewal.data?.activateLicenseKey.license).toMatchObject({ state: 'ACTIVE', keyId: 'K-LIFE-2', fullUse: true });
      } finally {
        gw.clock.set(saved);
      }
    });

    it('[R-LIFE-2] a follow-up key activated before the renewal window keeps the state ACTIVE and takes over at its start', async () => {
      const o = await freshOrg();
      const saved = gw.clock.now();
      try {
        gw.clock.set(new Date(START.getTime() + DAY));
        await activate(o.organizationId, issueKey(payload({ keyId: 'K-CUR' }), vendor.privateKeyPem));
        await activate(o.organizationId, issueKey(payload({ keyId: 'K-FOLLOW', validFrom: END.toISOString() }), vendor.privateKeyPem));
        gw.clock.set(RENEWAL_DUE_AT);
        expect((await status(o.organizationId)).license).toMatchObject({ state: 'ACTIVE', keyId: 'K-CUR', pendingKeyId: 'K-FOLLOW' });
        gw.clock.set(END);
        expect((await status(o.organizationId)).license).toMatchObject({
          state: 'ACTIVE',
          keyId: 'K-FOLLOW',
          validUntil: '2028-01-15T00:00:00.000Z',
        });
      } finally {
        gw.clock.set(saved);
      }
    });

    it('[R-LIFE-6] a clock set back more than 24 hours is reported and does not extend the term', async () => {
      const o = await freshOrg();
      const saved = gw.clock.now();
      try {
        gw.clock.set(new Date(START.getTime() + DAY));
        await activate(o.organizationId, issueKey(payload({ keyId: 'K-CLOCK' }), vendor.privateKeyPem));
        // Time runs into grace; the gateway sees it.
        gw.clock.set(new Date(END.getTime() + DAY));
        await sweepLicenseStates(gw.database.db, gw.clock, loadPresetCatalogs());
        // Someone sets the system clock back a month.
        gw.clock.set(new Date(END.getTime() - 30 * DAY));
        const back = await status(o.organizationId);
        expect(back.license.state).toBe('GRACE');
        expect(back.warnings.map((w) => w.code)).toContain('CLOCK_ROLLBACK');
        // 23 hours back is within tolerance: no warning, still no extension.
        gw.clock.set(new Date(END.getTime() + DAY - 23 * 3_600_000));
        const slight = await status(o.organizationId);
        expect(slight.license.state).toBe('GRACE');
        expect(slight.warnings.map((w) => w.code)).not.toContain('CLOCK_ROLLBACK');
      } finally {
        gw.clock.set(saved);
      }
    });

    it('[R-BUNDLE-1] 100 Office + 50 Office Plus make 150 Office (50 with Office Plus); units and organization prerequisites', async () => {
      const o = await freshOrg('xphone-connect');
      const order = ORDERS.find((x) => x.code === 'xphone-connect')!.order;
      const key = issueKey(
        orderToPayload({ ...order, customerRef: o.customerRef, validFrom: START.toISOString() }, START),
        vendor.privateKeyPem,
      );
      const result = await activate(o.organizationId, key, o.admin);
      expect(result.errors).toBeUndefined();
      const license = result.data?.activateLicenseKey.license;
      const byCode = Object.fromEntries(license.entitlements.map((e: { product: { code: string } }) => [e.product.code, e]));
      expect(byCode.OFFICE).toMatchObject({ quantity: 100, total: 150 });
      expect(byCode.OFFICE_PLUS).toMatchObject({ quantity: 50, total: 50 });
      // AUTO_ATTENDANT: 2 licences = 40 channels; SERVER + 2 ADDITIONAL_DATABASES = 30 data sources.
      expect(byCode.AUTO_ATTENDANT).toMatchObject({ quantity: 2, unitsTotal: 40 });
      expect(byCode.SERVER).toMatchObject({ unitsTotal: 10 });
      expect(byCode.ADDITIONAL_DATABASES).toMatchObject({ unitsTotal: 20 });
      expect(license.units).toEqual(expect.arrayContaining([{ unit: 'DATA_SOURCE', total: 30 }]));
      expect((await status(o.organizationId)).warnings.filter((w) => w.code === 'MISSING_PREREQUISITE')).toEqual([]);
    });

    it('[R-NAMED-3] VOICEMAIL without 2 IP_CHANNEL gives an organization warning naming the product', async () => {
      const o = await freshOrg('xphone-connect', 'CUST-THIN');
      const key = issueKey(
        orderToPayload(
          {
            customerRef: 'CUST-THIN',
            catalog: 'xphone-connect',
            validFrom: START.toISOString(),
            entitlements: [
              { product: 'SERVER', quantity: 1 },
              { product: 'IP_CHANNEL', quantity: 1 },
              { product: 'VOICEMAIL', quantity: 10 },
            ],
          },
          START,
        ),
        vendor.privateKeyPem,
      );
      expect((await activate(o.organizationId, key, o.admin)).errors).toBeUndefined();
      const { warnings } = await status(o.organizationId);
      const gap = warnings.find((w) => w.code === 'MISSING_PREREQUISITE');
      expect(gap?.product?.code).toBe('VOICEMAIL');
      expect(gap?.message).toMatch(/at least 2 IP_CHANNEL/);
    });

    it('[R-KEY-2] a key issued from each documented order activates with the right catalog and entitlements', async () => {
      for (const { code, order } of ORDERS) {
        const o = await freshOrg(code);
        const key = issueKey(
          orderToPayload({ ...order, customerRef: o.customerRef, validFrom: START.toISOString() }, START),
          vendor.privateKeyPem,
        );
        const result = await activate(o.organizationId, key, o.admin);
        expect(result.errors, code).toBeUndefined();
        const license = result.data?.activateLicenseKey.license;
        expect(license.state).toBe('ACTIVE');
        const codes = license.entitlements
          .filter((e: { quantity: number }) => e.quantity > 0)
          .map((e: { product: { code: string } }) => e.product.code)
          .sort();
        const ordered = (order.entitlements as { product: string }[]).map((e) => e.product).sort();
        expect(codes).toEqual(ordered);
      }
    });

    it('binds the customer reference of an organization created without one to its first key', async () => {
      const created = await gw.ok(
        `mutation { createOrganization(input: {name: "No ref ${kind}", catalog: "innoacd"}) { organization { id customerRef } } }`,
      );
      const id = created.createOrganization.organization.id as string;
      const result = await gw.gql(ACTIVATE, {
        input: { organizationId: id, key: issueKey(payload({ keyId: 'K-BIND', customerRef: 'CUST-77' }), vendor.privateKeyPem) },
      });
      expect(result.data?.activateLicenseKey.organization.customerRef).toBe('CUST-77');
      const other = await gw.gql(ACTIVATE, {
        input: { organizationId: id, key: issueKey(payload({ keyId: 'K-BIND-2', customerRef: 'CUST-78' }), vendor.privateKeyPem) },
      });
      expect(other.errors?.[0]?.extensions?.rule).toBe('CUSTOMER_MISMATCH');
    });
  });
}
