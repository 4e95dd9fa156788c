import type { LicenseKeyRow, OrganizationRow } from '../db/schema.ts';
import { invalidStoredKey } from '../errors.ts';
import { KeyFormatError, parsePayload } from '../keys/payload.ts';
import { licenseStatus, type ActivatedKey, type LicenseStatusResult } from '../licensing/lifecycle.ts';

/**
 * Parsed keys by (organization, seq). Stored keys are never changed (rows are
 * only inserted; an organization's seq never repeats), so an entry stays true
 * for as long as it lives. Bounded: the oldest entries go first.
 */
const parsed = new Map<string, ActivatedKey>();
const PARSED_KEYS_LIMIT = 10_000;

/**
 * Stored payloads were validated at activation; parsing again gives typed
 * values without casts (once per key and process), and holds rows that an
 * older gateway accepted (before the bounds of docs/license-keys.md) or that
 * were written by hand to today's bounds: such a row is an INVALID_LICENSE_KEY
 * error naming the key and the field, never a RangeError further on.
 */
export function toActivatedKey(row: LicenseKeyRow): ActivatedKey {
  const id = `${row.organization_id}:${row.seq}:${row.key_id}`;
  const known = parsed.get(id);
  if (known) return known;
  let payload: ActivatedKey['payload'];
  try {
    payload = parsePayload(row.payload);
  } catch (error) {
    if (error instanceof KeyFormatError) throw invalidStoredKey(row.key_id, error.message);
    throw error;
  }
  const key: ActivatedKey = { payload, activatedAt: row.activated_at, seq: Number(row.seq) };
  if (parsed.size >= PARSED_KEYS_LIMIT) parsed.delete(parsed.keys().next().value as string);
  parsed.set(id, key);
  return key;
}

export function statusFrom(org: OrganizationRow, keys: readonly LicenseKeyRow[], now: Date): LicenseStatusResult {
  return licenseStatus({ keys: keys.map(toActivatedKey), now, highWater: org.clock_high_water });
}
