import type { Organization } from '../tenancy/domain.ts';
import type { LicenseKey } from '../licenses/license-key.ts';

/** What the last probe of a start read for one organization. */
export interface StartCacheEntry {
  revision: number;
  org: Organization;
  keys: LicenseKey[];
  /**
   * The one-statement start's judgement of these keys (start.ts,
   * directSeatProducts): the seat products it may take (null: none, the probe
   * path decides), valid for effective instants from `from` until `until`
   * (ms; null: no transition ahead).
   */
  direct?: { from: number; until: number | null; seatProducts: readonly string[] | null };
}

/**
 * Per organization, what the last start probe read: the organization row,
 * its revision, and its stored licence keys. Key rows are only ever inserted
 * and each insert bumps the revision (migration 0005), so an equal revision
 * means the same keys: a probe reads them again only after a change, and a
 * key activated on any instance is seen by the next start. The one-statement
 * start (`startDirect` in start.ts) has its statement compare the revision.
 * Bounded: the oldest entries go first. One per app (`createApp`), handed
 * through the Context as `startCache`.
 */
export class StartCache {
  private readonly entries = new Map<string, StartCacheEntry>();

  constructor(private readonly limit = 5_000) {}

  get(organizationId: string): StartCacheEntry | undefined {
    return this.entries.get(organizationId);
  }

  /** Remembers `entry` as the newest (it goes last of all). */
  set(organizationId: string, entry: StartCacheEntry): void {
    this.entries.delete(organizationId);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(organizationId, entry);
  }
}
