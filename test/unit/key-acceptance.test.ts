import { describe, expect, it } from 'vitest';
import { loadPresetCatalogs } from '../../src/catalogs/index.ts';
import { parsePayload, type LicenseKeyPayload } from '../../src/keys/payload.ts';
import { keyFitsKeys, keyFitsOrganization, type KeyHolder, type KeysFitInput } from '../../src/licensing/key-acceptance.ts';
import type { ActivatedKey } from '../../src/licensing/lifecycle.ts';

const CATALOG = loadPresetCatalogs().get('innoacd')!;
const NOW = new Date('2026-06-01T00:00:00.000Z');
const HOLDER: KeyHolder = { catalogCode: 'innoacd', customerRef: 'CUST-1', clockHighWater: null };

function payload(overrides: Record<string, unknown> = {}): LicenseKeyPayload {
  return parsePayload({
    v: 1,
    keyId: 'K-NEW',
    customerRef: 'CUST-1',
    catalog: 'innoacd',
    validFrom: '2026-01-15T00:00:00Z',
    issuedAt: '2026-01-10T00:00:00Z',
    entitlements: [{ product: 'ACD_AGENT', quantity: 50 }],
    ...overrides,
  });
}

const activated = (seq: number, overrides: Record<string, unknown>): ActivatedKey => ({
  payload: payload(overrides),
  activatedAt: new Date('2026-01-15T00:00:00Z'),
  seq,
});

const fits = (input: Partial<KeysFitInput> = {}) =>
  keyFitsKeys({ payload: payload(), org: HOLDER, keys: [], now: NOW, elsewhere: { keyId: false, customerRef: false }, ...input });

describe('key acceptance (R-KEY-3, R-KEY-4)', () => {
  it('[R-KEY-3] the catalog is checked before the customer reference, then the catalog products', () => {
    const input = { catalog: CATALOG, org: HOLDER, catalogProductsProblem: 'entitlements[0].product: unknown' };
    expect(keyFitsOrganization({ ...input, payload: payload({ catalog: 'connect-storm', customerRef: 'OTHER' }) })?.check).toBe(
      'CATALOG_MISMATCH',
    );
    expect(keyFitsOrganization({ ...input, payload: payload({ customerRef: 'OTHER' }) })).toEqual({
      kind: 'REFUSE',
      check: 'CUSTOMER_MISMATCH',
      message: "the key is for customer OTHER, not for this organization's customer reference CUST-1",
    });
    expect(keyFitsOrganization({ ...input, payload: payload() })?.check).toBe('CATALOG_PRODUCTS');
    expect(keyFitsOrganization({ ...input, payload: payload(), catalogProductsProblem: null })).toBeNull();
    // An organization without a customer reference takes the key's.
    expect(
      keyFitsOrganization({ ...input, payload: payload({ customerRef: 'OTHER' }), org: { ...HOLDER, customerRef: null } })?.check,
    ).toBe('CATALOG_PRODUCTS');
  });

  it('[R-KEY-4] the governing key pasted again is accepted as it is; an older one activated before is SUPERSEDED', () => {
    const keys = [activated(1, { keyId: 'K-OLD' }), activated(2, { keyId: 'K-NEW' })];
    expect(fits({ keys })).toEqual({ kind: 'ALREADY_GOVERNING' });
    expect(fits({ keys, payload: payload({ keyId: 'K-OLD' }) })).toMatchObject({ kind: 'REFUSE', check: 'SUPERSEDED' });
  });

  it('[R-KEY-3] a key id or a customer reference another organization holds is refused, the latter only without a reference of its own', () => {
    expect(fits({ elsewhere: { keyId: true, customerRef: false } })).toMatchObject({ check: 'CUSTOMER_MISMATCH' });
    expect(fits({ elsewhere: { keyId: false, customerRef: true } })).toEqual({ kind: 'ACCEPT' });
    expect(fits({ org: { ...HOLDER, customerRef: null }, elsewhere: { keyId: false, customerRef: true } })).toMatchObject({
      check: 'CUSTOMER_MISMATCH',
      message: 'the key is for customer reference CUST-1, which is held by another organization',
    });
  });

  it('[R-KEY-4] a key issued before the governing or the pending key is SUPERSEDED; one issued later is accepted', () => {
    const governing = [activated(1, { keyId: 'K-GOV', issuedAt: '2026-02-01T00:00:00Z' })];
    expect(fits({ keys: governing })).toMatchObject({ check: 'SUPERSEDED' });
    expect(fits({ keys: governing, payload: payload({ issuedAt: '2026-03-01T00:00:00Z' }) })).toEqual({ kind: 'ACCEPT' });
    const pending = [activated(1, { keyId: 'K-LATER', validFrom: '2027-01-15T00:00:00Z', issuedAt: '2026-04-01T00:00:00Z' })];
    expect(fits({ keys: pending, payload: payload({ issuedAt: '2026-03-01T00:00:00Z' }) })).toMatchObject({ check: 'SUPERSEDED' });
  });

  it('[R-LIFE-6] a key whose grace period ended is EXPIRED, judged at the later of now and the high-water time', () => {
    // 12 months from 2026-01-15 plus 14 days of grace: ends 2027-01-29.
    expect(fits({ now: new Date('2027-01-28T00:00:00Z') })).toEqual({ kind: 'ACCEPT' });
    expect(fits({ now: new Date('2027-01-29T00:00:00Z') })).toMatchObject({ check: 'EXPIRED' });
    expect(fits({ org: { ...HOLDER, clockHighWater: new Date('2027-02-01T00:00:00Z') } })).toMatchObject({ check: 'EXPIRED' });
  });
});
