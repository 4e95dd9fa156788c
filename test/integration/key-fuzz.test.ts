import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { MalformedKeyError, decodeKey, verifyKey } from '../../src/keys/codec.ts';
import { KEY_BOUNDS, KeyFormatError, parsePayload } from '../../src/keys/payload.ts';
import { keyTerm } from '../../src/licensing/lifecycle.ts';
import { sweepLicenseStates } from '../../src/licenses/license.service.ts';
import { DATABASES } from '../support/databases.ts';
import { OPERATOR_TOKEN, startGateway, uniqueCustomerRef, type TestGateway } from '../support/gateway.ts';
import { MAPPING_COLUMNS, TRUSTED_KEYS, signPayloadText } from '../support/licensing.ts';

/*
 * Property-based: key payloads built from valid ones by arbitrary mutations
 * (extreme numbers, wrong types, odd dates, long strings, duplicate members,
 * broken JSON), signed by the trusted vendor so that they reach the payload
 * checks. Whatever happens, decoding and activation never throw, never answer
 * "Unexpected error.", and a key that is accepted renders its licence, its
 * licence mapping and the sweep without a RangeError.
 */

const CATALOGS = loadPresetCatalogs();
const CATALOG_CODES = [...CATALOGS.keys()];
const NUMBER_FIELDS = ['termMonths', 'graceDays', 'demoAgentLimit', 'noticeMonths'] as const;
const ENTITLEMENT_NUMBERS = ['quantity', 'emergencyQuantity', 'overageGraceMinutes'] as const;

/** Numbers near every bound, and the ones that broke things before: 3e9, 1e12, 2^31, MAX_SAFE_INTEGER, fractions, negatives. */
const numberish = fc.oneof(
  fc.integer({ min: -3, max: 130 }),
  fc.constantFrom(
    KEY_BOUNDS.quantity,
    KEY_BOUNDS.quantity + 1,
    KEY_BOUNDS.graceDays,
    KEY_BOUNDS.graceDays + 1,
    KEY_BOUNDS.overageGraceMinutes + 1,
    KEY_BOUNDS.demoAgentLimit + 1,
  ),
  fc.constantFrom(3_000_000_000, 1e12, 2 ** 31, 2 ** 31 - 1, Number.MAX_SAFE_INTEGER, 2 ** 53, 1e308, -1e12, 0.5, -0),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
);

/** Instants from year 0 to 9999 in several spellings, and things that are not instants. */
const instantish = fc.oneof(
  fc
    .date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc
    .date({ min: new Date('1999-06-01T00:00:00Z'), max: new Date('2101-06-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom('2026-02-30T00:00:00Z', '2026-11-01', '2026-11-01T00:00:00+01:00', '+275760-09-13T00:00:00.000Z', '', 'now'),
  fc.string(),
);

const anyJson = fc.jsonValue({ maxDepth: 3 });

interface Mutation {
  apply(payload: Record<string, unknown>): void;
}

type Payload = Record<string, unknown>;
/** A mutation that fast-check prints by what it does (in counterexamples). */
const labelled = (label: string, apply: (p: Payload) => void): Mutation => Object.assign({ apply }, { [fc.toStringMethod]: () => label });
const isObject = (v: unknown): v is Payload => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The first entitlement's product, whatever earlier mutations left there. */
const firstProduct = (p: Payload): string => {
  const list = p.entitlements;
  const first: unknown = Array.isArray(list) ? list[0] : undefined;
  return isObject(first) && typeof first.product === 'string' ? first.product : 'ACD_AGENT';
};

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .record({ field: fc.constantFrom(...NUMBER_FIELDS), value: numberish })
    .map(({ field, value }) => labelled(`${field} = ${value}`, (p) => void (p[field] = value))),
  fc
    .record({ field: fc.constantFrom('validFrom', 'issuedAt'), value: instantish })
    .map(({ field, value }) => labelled(`${field} = ${JSON.stringify(value)}`, (p) => void (p[field] = value))),
  fc.record({ index: fc.nat(3), field: fc.constantFrom(...ENTITLEMENT_NUMBERS), value: numberish }).map(({ index, field, value }) =>
    labelled(`entitlements[${index} mod length].${field} = ${value}`, (p) => {
      const list = p.entitlements;
      const e: unknown = Array.isArray(list) ? list[index % Math.max(list.length, 1)] : undefined;
      if (isObject(e)) e[field] = value;
    }),
  ),
  fc
    .record({ field: fc.constantFrom('v', 'keyId', 'catalog', 'autoRenew', 'entitlements', 'extra'), value: anyJson })
    .map(({ field, value }) => labelled(`${field} = ${JSON.stringify(value)}`, (p) => void (p[field] = value))),
  fc
    .record({ field: fc.constantFrom('keyId', 'customerRef'), length: fc.constantFrom(199, 200, 201, 5000) })
    .map(({ field, length }) =>
      labelled(`${field} of ${length} characters`, (p) => void (p[field] = `${String(p[field])}${'x'.repeat(length)}`.slice(0, length))),
    ),
  fc
    .record({ count: fc.constantFrom(0, 1, 199, 200, 201), quantity: numberish })
    .map(({ count, quantity }) =>
      labelled(
        `${count} entitlements of quantity ${quantity}`,
        (p) =>
          void (p.entitlements = Array.from({ length: count }, (_, i) => ({ product: i === 0 ? firstProduct(p) : `P${i}`, quantity }))),
      ),
    ),
);

/** Text-level damage after serialising: duplicate members, truncation, a flipped character. */
type TextMutation =
  | { kind: 'none' }
  | { kind: 'duplicate'; member: string; value: string }
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; char: string };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  { arbitrary: fc.constant<TextMutation>({ kind: 'none' }), weight: 4 },
  fc.record({
    kind: fc.constant('duplicate' as const),
    member: fc.constantFrom('quantity', 'graceDays', 'customerRef', 'keyId', 'product'),
    value: fc.constantFrom('100000', '1e12', '"X"', 'null'),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), char: fc.constantFrom('{', '}', '"', ',', ':', '\\', '\u0000', 'é', '9') }),
);

function damage(text: string, m: TextMutation): string {
  switch (m.kind) {
    case 'none':
      return text;
    case 'duplicate': {
      const at = text.indexOf(`"${m.member}":`);
      return at < 0 ? text : `${text.slice(0, at)}"${m.member}":${m.value},${text.slice(at)}`;
    }
    case 'truncate':
      return text.slice(0, m.at % (text.length + 1));
    case 'flip': {
      const at = m.at % text.length;
      return `${text.slice(0, at)}${m.char}${text.slice(at + 1)}`;
    }
  }
}

/** A product of `catalog` sold on its own, so that unmutated keys activate. */
const productOf = (catalog: string): string => CATALOGS.get(catalog)!.products.find((p) => p.purchasable)!.code;

function basePayload(customerRef: string, keyId: string, catalog: string): Record<string, unknown> {
  return {
    v: 1,
    keyId,
    customerRef,
    catalog,
    validFrom: '2026-11-01T00:00:00.000Z',
    termMonths: 12,
    graceDays: 14,
    demoAgentLimit: 2,
    autoRenew: true,
    noticeMonths: 3,
    issuedAt: '2026-10-01T00:00:00.000Z',
    entitlements: [
      { product: productOf(catalog), quantity: 5, allocation: null, emergencyQuantity: 0, overageAllowed: null, overageGraceMinutes: null },
    ],
  };
}

const keyCase = fc.record({
  mutations: fc.array(mutation, { minLength: 0, maxLength: 3 }),
  text: textMutation,
  catalog: fc.constantFrom(...CATALOG_CODES),
});

function keyOf(customerRef: string, keyId: string, c: { mutations: Mutation[]; text: TextMutation; catalog: string }): string {
  const payload = basePayload(customerRef, keyId, c.catalog);
  for (const m of c.mutations) m.apply(payload);
  return signPayloadText(damage(JSON.stringify(payload), c.text));
}

describe('[R-KEY-1] fuzzed licence keys: decoding', () => {
  it('verifyKey never throws; decodeKey throws only MalformedKeyError; a payload that verifies has terms that are real dates', () => {
    let n = 0;
    fc.assert(
      fc.property(keyCase, (c) => {
        const key = keyOf('CUST-FUZZ', `K-FUZZ-${++n}`, c);
        const result = verifyKey(key, TRUSTED_KEYS);
        if (result.ok) {
          const term = keyTerm(result.payload);
          for (const date of Object.values(term)) expect(Number.isNaN(date.getTime())).toBe(false);
          for (const date of Object.values(term)) expect(() => date.toISOString()).not.toThrow();
        } else {
          expect(['MALFORMED', 'INVALID_PAYLOAD']).toContain(result.reason);
        }
        try {
          const decoded = decodeKey(key);
          try {
            parsePayload(decoded.content);
          } catch (error) {
            expect(error).toBeInstanceOf(KeyFormatError);
          }
        } catch (error) {
          expect(error).toBeInstanceOf(MalformedKeyError);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('arbitrary strings as keys are refused with a reason, never an exception', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'binary' }),
          fc.stringMatching(/^LK1\.[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{0,200}\.[A-Za-z0-9_-]{86}$/),
        ),
        (key) => {
          const result = verifyKey(key, TRUSTED_KEYS);
          expect(result.ok).toBe(false);
        },
      ),
      { numRuns: 400 },
    );
  });
});

const ALLOWED_CODES = ['INVALID_LICENSE_KEY', 'BAD_USER_INPUT'];
const READ = `query($id: ID!) { organization(id: $id) {
  license { state keyId validFrom validUntil graceUntil renewalDueAt cancellationDeadline evaluatedAt demoAgentLimit entitlements { product { code } quantity total unitsTotal emergencyQuantity overageGraceMinutes } units { unit total } }
  licenseMapping { ${MAPPING_COLUMNS} }
  warnings { code message }
} }`;

for (const kind of DATABASES) {
  describe(`[R-KEY-3] fuzzed licence keys: activation on ${kind}`, () => {
    let gw: TestGateway;
    beforeAll(async () => {
      gw = await startGateway(kind, { trustedKeys: TRUSTED_KEYS });
    });
    afterAll(() => gw?.close());

    it('activation answers the licence or a coded refusal, never "Unexpected error."; an accepted key renders its licence, mapping and sweep', async () => {
      let n = 0;
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(keyCase, async (c) => {
          const customerRef = uniqueCustomerRef();
          const created = await gw.ok(
            `mutation($input: CreateOrganizationInput!) { createOrganization(input: $input) { organization { id } } }`,
            {
              input: { name: `Fuzz ${kind} ${++n}`, catalog: c.catalog, customerRef },
            },
          );
          const organizationId = created.createOrganization.organization.id as string;
          const key = keyOf(customerRef, `K-FUZZ-${kind}-${n}`, c);
          const result = await gw.gql(
            `mutation($input: ActivateLicenseKeyInput!) { activateLicenseKey(input: $input) { license { state validUntil graceUntil } } }`,
            { input: { organizationId, key } },
            OPERATOR_TOKEN,
          );
          expect(JSON.stringify(result)).not.toMatch(/Unexpected error|RangeError|Invalid time value/);
          if (result.errors) {
            expect(ALLOWED_CODES, JSON.stringify(result.errors)).toContain(result.errors[0]?.extensions?.code);
            return;
          }
          accepted += 1;
          const read = await gw.gql(READ, { id: organizationId });
          expect(read.errors, JSON.stringify(read.errors)).toBeUndefined();
          const failures: unknown[] = [];
          await sweepLicenseStates(gw.database.db, gw.clock, CATALOGS, { onFailure: (_id, error) => failures.push(error) });
          expect(failures).toEqual([]);
        }),
        { numRuns: 60 },
      );
      // The generator is not all refusals: some keys survive their mutations and are activated.
      expect(accepted).toBeGreaterThan(0);
    });
  });
}
