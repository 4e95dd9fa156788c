import type { LicenseKeyRow } from '../db/schema.ts';

/**
 * An activated licence key as the gateway reads it: its row, with its
 * activation order a number. `license_keys.seq` is a bigserial, which
 * node-postgres returns as a string and PGlite as a number; the payload stays
 * unparsed here (src/allocation/keys.ts `toActivatedKey` parses it and answers
 * INVALID_LICENSE_KEY for a payload it refuses).
 */
export type LicenseKey = Omit<LicenseKeyRow, 'seq'> & { seq: number };

/** The licence key a stored row is; an activation order that is not a positive integer is a fault. */
export function licenseKeyOf(row: LicenseKeyRow): LicenseKey {
  const seq = Number(row.seq);
  if (!Number.isSafeInteger(seq) || seq < 1)
    throw new Error(`stored licence key ${row.key_id} has activation order ${String(row.seq)}, which is not a positive integer`);
  return { ...row, seq };
}
