import type { Organization } from '../tenancy/domain.ts';
import { effectiveInstant, governingKeys, keyTerm, type ActivatedKey, type KeyTerm } from '../licensing/lifecycle.ts';
import type { ParsedKeys } from '../allocation/keys.ts';
import { toActivatedKey } from '../allocation/keys.ts';
import type { LicenseKey } from './license-key.ts';

/**
 * Where an activated key stands now (R-KEY-4):
 * - GOVERNING: the key whose entitlements apply (the latest activated that has started), term or grace not over;
 * - PENDING: starts later and will take over then;
 * - SUPERSEDED: a later activated key replaced it (it never governs again);
 * - EXPIRED: it governs still, but its term and grace are over (demo mode, R-LIFE-4/5).
 */
export type KeyHistoryState = 'GOVERNING' | 'PENDING' | 'SUPERSEDED' | 'EXPIRED';

export interface KeyHistoryEntry {
  keyId: string;
  seq: number;
  activatedAt: Date;
  activatedBy: string;
  term: KeyTerm;
  state: KeyHistoryState;
}

/** Every key the organization activated, newest activation first, with its state at the licence's instant (R-LIFE-6). */
export function keyHistory(org: Organization, rows: readonly LicenseKey[], now: Date, parsed?: ParsedKeys): KeyHistoryEntry[] {
  const keys: { row: LicenseKey; key: ActivatedKey }[] = rows.map((row) => ({ row, key: parsed ? parsed.get(row) : toActivatedKey(row) }));
  const at = effectiveInstant(now, org.clock_high_water);
  const { current } = governingKeys(
    keys.map((k) => k.key),
    at,
  );
  const entries = keys.map(({ row, key }): KeyHistoryEntry => {
    const term = keyTerm(key.payload);
    let state: KeyHistoryState;
    if (current !== null && key.seq === current.seq) state = at.getTime() >= term.graceUntil.getTime() ? 'EXPIRED' : 'GOVERNING';
    else if (term.validFrom.getTime() > at.getTime() && (current === null || key.seq > current.seq)) state = 'PENDING';
    else state = 'SUPERSEDED';
    return { keyId: row.key_id, seq: key.seq, activatedAt: row.activated_at, activatedBy: row.activated_by, term, state };
  });
  return entries.sort((a, b) => b.seq - a.seq);
}
