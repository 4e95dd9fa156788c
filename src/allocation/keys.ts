import type { Organization } from '../tenancy/domain.ts';
import type { LicenseKey } from '../licenses/license-key.ts';
import { invalidStoredKey } from '../errors.ts';
import { KeyFormatError, parsePayload } from '../keys/payload.ts';
import { licenseStatus, type ActivatedKey, type LicenseStatusResult } from '../licensing/lifecycle.ts';

/** Entries a ParsedKeys keeps by default. */
export const PARSED_KEYS_LIMIT = 10_000;

/**
 * Parsed licence keys by (organization, seq, key id), per process: `createApp`
 * builds one and hands it through the Context (`ctx.caches.parsedKeys`).
 * Stored keys are never changed (rows are only inserted; an organization's seq
 * never repeats), so an entry stays true for as long as it lives. Bounded: the
 * oldest entries go first.
 *
 * @example
 * const parsedKeys = new ParsedKeys();
 * const status = statusFrom(org, keyRows, clock.now(), parsedKeys);
 */
export class ParsedKeys {
  private readonly entries = new Map<string, ActivatedKey>();

  constructor(private readonly limit: number = PARSED_KEYS_LIMIT) {}

  /** Keys held now. */
  get size(): number {
    return this.entries.size;
  }

  /** The stored key as the lifecycle rules take it, parsed once per key and process (see `toActivatedKey`). */
  get(row: LicenseKey): ActivatedKey {
    const id = `${row.organization_id}:${row.seq}:${row.key_id}`;
    const known = this.entries.get(id);
    if (known) return known;
    const key = toActivatedKey(row);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(id, key);
    return key;
  }
}

/**
 * Stored payloads were validated at activation; parsing again gives typed
 * values without casts, and holds rows that an older gateway accepted (before
 * the bounds of docs/license-keys.md) or that were written by hand to today's
 * bounds: such a row is an INVALID_LICENSE_KEY error naming the key and the
 * field, never a RangeError further on.
 */
export function toActivatedKey(row: LicenseKey): ActivatedKey {
  let payload: ActivatedKey['payload'];
  try {
    payload = parsePayload(row.payload);
  } catch (error) {
    if (error instanceof KeyFormatError) throw invalidStoredKey(row.key_id, error.message);
    throw error;
  }
  return { payload, activatedAt: row.activated_at, seq: row.seq };
}

/**
 * The organization's licence status at `now` from its stored keys. With
 * `parsed` each key is parsed once per process; without it, on every call.
 */
export function statusFrom(org: Organization, keys: readonly LicenseKey[], now: Date, parsed?: ParsedKeys): LicenseStatusResult {
  const activated = keys.map((row) => (parsed ? parsed.get(row) : toActivatedKey(row)));
  return licenseStatus({ keys: activated, now, highWater: org.clock_high_water });
}
