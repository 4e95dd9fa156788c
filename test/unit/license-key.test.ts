import { describe, expect, it } from 'vitest';
import type { LicenseKeyRow } from '../../src/db/schema.ts';
import { licenseKeyOf } from '../../src/licenses/license-key.ts';

/*
 * Licence keys leave the database through licenseKeyOf: license_keys.seq is a
 * bigserial, a string from node-postgres and a number from PGlite; the mapper
 * makes it a number on both, and refuses what is not an activation order.
 */

const key: LicenseKeyRow = {
  organization_id: '01JDQ0000000000000000000AA',
  seq: 7,
  key_id: 'K-1',
  kid: 'k1',
  payload: { v: 1 },
  raw: 'LK1.x',
  activated_at: new Date('2026-11-22T10:00:00Z'),
  activated_by: 'operator',
};

describe('licence key mapper', () => {
  it('[mappers] licenseKeyOf reads the activation order as a number, whichever driver stored it', () => {
    expect(licenseKeyOf(key)).toEqual(key);
    expect(licenseKeyOf({ ...key, seq: '7' as unknown as number })).toEqual(key);
  });

  it('[mappers] licenseKeyOf refuses a stored activation order that is not a positive integer, naming the key', () => {
    for (const seq of ['seven', '1.5', '0', '9007199254740993'])
      expect(() => licenseKeyOf({ ...key, seq: seq as unknown as number })).toThrow(
        `stored licence key K-1 has activation order ${seq}, which is not a positive integer`,
      );
  });
});
