import type { LicenseKeyRow, OrganizationRow } from '../db/schema.ts';
import { parsePayload } from '../keys/payload.ts';
import { licenseStatus, type ActivatedKey, type LicenseStatusResult } from '../licensing/lifecycle.ts';

/** Stored payloads were validated at activation; parsing again gives typed values without casts. */
export function toActivatedKey(row: LicenseKeyRow): ActivatedKey {
  return { payload: parsePayload(row.payload), activatedAt: row.activated_at, seq: Number(row.seq) };
}

export function statusFrom(org: OrganizationRow, keys: readonly LicenseKeyRow[], now: Date): LicenseStatusResult {
  return licenseStatus({ keys: keys.map(toActivatedKey), now, highWater: org.clock_high_water });
}
