/**
 * Licence lifecycle (R-KEY-4, R-LIFE-1..6): which key governs at a given
 * instant and in which state. Pure: the caller passes the activated keys, the
 * clock's `now` and the organization's recorded high-water time.
 *
 * @example
 * const status = licenseStatus({ keys, now: clock.now(), highWater });
 * if (!status.fullUse) limitSessionsTo(status.demoAgentLimit);
 */
import { PAYLOAD_DEFAULTS, type KeyEntitlement, type LicenseKeyPayload } from '../keys/payload.ts';
import { DAY_MS, addDaysUtc, addMonthsUtc } from './dates.ts';

export type LicenseState = 'NONE' | 'PENDING' | 'ACTIVE' | 'RENEWAL_DUE' | 'GRACE' | 'DEMO';

export type LicenseWarningCode = 'RENEWAL_DUE' | 'LICENSE_IN_GRACE' | 'DEMO_MODE' | 'CLOCK_ROLLBACK';

export interface LicenseWarning {
  code: LicenseWarningCode;
  message: string;
}

/** A key as activated for one organization; `seq` is the activation order (higher = later). */
export interface ActivatedKey {
  payload: LicenseKeyPayload;
  activatedAt: Date;
  seq: number;
}

/** The dates of one key's term; `validUntil` and `graceUntil` are exclusive ends. */
export interface KeyTerm {
  validFrom: Date;
  validUntil: Date;
  graceUntil: Date;
  renewalDueAt: Date;
  cancellationDeadline: Date;
}

export interface LicenseStatusInput {
  keys: readonly ActivatedKey[];
  now: Date;
  /** The latest time the organization has seen (R-LIFE-6); null before the first. */
  highWater: Date | null;
}

export interface LicenseStatusResult {
  state: LicenseState;
  keyId: string | null;
  validFrom: Date | null;
  validUntil: Date | null;
  graceUntil: Date | null;
  renewalDueAt: Date | null;
  cancellationDeadline: Date | null;
  autoRenew: boolean;
  demoAgentLimit: number;
  /** The current key's entitlements; empty with no current key. */
  entitlements: KeyEntitlement[];
  /** True while the licence grants everything it lists: ACTIVE, RENEWAL_DUE, GRACE. */
  fullUse: boolean;
  /** The next key that will take over when its start date comes. */
  pendingKey: ActivatedKey | null;
  /** The instant the state was computed for: max(now, highWater). */
  effectiveAt: Date;
  warnings: LicenseWarning[];
}

/** R-LIFE-2: the renewal key comes at the latest four weeks before the end. */
export const RENEWAL_WINDOW_DAYS = 28;
/** R-LIFE-6: a clock more than this far behind the high-water time is reported. */
export const CLOCK_ROLLBACK_TOLERANCE_MS = DAY_MS;

/**
 * @example
 * keyTerm(payload); // validFrom 2026-01-15 → validUntil 2027-01-15, renewalDueAt 2026-12-18, cancellationDeadline 2026-10-15
 */
export function keyTerm(payload: LicenseKeyPayload): KeyTerm {
  const validFrom = new Date(payload.validFrom);
  const validUntil = addMonthsUtc(validFrom, payload.termMonths);
  return {
    validFrom,
    validUntil,
    graceUntil: addDaysUtc(validUntil, payload.graceDays),
    renewalDueAt: addDaysUtc(validUntil, -RENEWAL_WINDOW_DAYS),
    cancellationDeadline: addMonthsUtc(validUntil, -payload.noticeMonths),
  };
}

const startOf = (key: ActivatedKey): number => new Date(key.payload.validFrom).getTime();

/** "1d 1h 0m": precise enough for a person, without seconds noise. */
function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  return `${days > 0 ? `${days}d ` : ''}${hours}h ${minutes % 60}m`;
}

function demoWarning(limit: number, why: string): LicenseWarning {
  return { code: 'DEMO_MODE', message: `${why}: demo mode, at most ${limit} agent(s) may hold a session at once.` };
}

/** R-LIFE-6: the instant a licence is evaluated at, max(now, highWater), so a clock set back never extends a term. */
export function effectiveInstant(now: Date, highWater: Date | null): Date {
  return highWater !== null && highWater.getTime() > now.getTime() ? highWater : now;
}

/**
 * R-KEY-4: the key that governs at `at` (the latest-activated one that has
 * started) and the next key that will take over when its start date comes.
 */
export function governingKeys(keys: readonly ActivatedKey[], at: Date): { current: ActivatedKey | null; pendingKey: ActivatedKey | null } {
  const t = at.getTime();
  let current: ActivatedKey | null = null;
  for (const key of keys) {
    if (startOf(key) <= t && (current === null || key.seq > current.seq)) current = key;
  }
  // Keys activated before the current one never take over: the current key replaced them.
  let pendingKey: ActivatedKey | null = null;
  for (const key of keys) {
    if (startOf(key) <= t || (current !== null && key.seq < current.seq)) continue;
    if (pendingKey === null || startOf(key) < startOf(pendingKey) || (startOf(key) === startOf(pendingKey) && key.seq > pendingKey.seq)) {
      pendingKey = key;
    }
  }
  return { current, pendingKey };
}

/**
 * The licence state at max(now, highWater), so a clock set back never
 * extends a term (R-LIFE-6). The governing key is the latest-activated one
 * that has started (R-KEY-4: a new key replaces the previous entitlements;
 * a future-dated key waits for its start).
 */
export function licenseStatus(input: LicenseStatusInput): LicenseStatusResult {
  const { keys, now, highWater } = input;
  const effectiveAt = effectiveInstant(now, highWater);
  const t = effectiveAt.getTime();
  const clockWarnings: LicenseWarning[] = [];
  if (highWater !== null && now.getTime() < highWater.getTime() - CLOCK_ROLLBACK_TOLERANCE_MS) {
    clockWarnings.push({
      code: 'CLOCK_ROLLBACK',
      message: `The system clock (${now.toISOString()}) is ${formatDuration(highWater.getTime() - now.getTime())} behind the latest time seen (${highWater.toISOString()}); the licence is evaluated at the latest time seen.`,
    });
  }

  const { current, pendingKey } = governingKeys(keys, effectiveAt);

  const shown = current ?? pendingKey;
  if (shown === null) {
    return {
      state: 'NONE',
      keyId: null,
      validFrom: null,
      validUntil: null,
      graceUntil: null,
      renewalDueAt: null,
      cancellationDeadline: null,
      autoRenew: false,
      demoAgentLimit: PAYLOAD_DEFAULTS.demoAgentLimit,
      entitlements: [],
      fullUse: false,
      pendingKey: null,
      effectiveAt,
      warnings: [demoWarning(PAYLOAD_DEFAULTS.demoAgentLimit, 'No licence key is active'), ...clockWarnings],
    };
  }

  const term = keyTerm(shown.payload);
  const limit = shown.payload.demoAgentLimit;
  let state: LicenseState;
  let warning: LicenseWarning | null = null;
  if (current === null) {
    state = 'PENDING';
    warning = demoWarning(limit, `Licence key ${shown.payload.keyId} starts at ${term.validFrom.toISOString()}; until then`);
  } else if (t < term.renewalDueAt.getTime() || (t < term.validUntil.getTime() && pendingKey !== null)) {
    state = 'ACTIVE';
  } else if (t < term.validUntil.getTime()) {
    state = 'RENEWAL_DUE';
    const days = Math.ceil((term.validUntil.getTime() - t) / DAY_MS);
    warning = {
      code: 'RENEWAL_DUE',
      message: `The licence ends at ${term.validUntil.toISOString()} (in ${days} day(s)) and no follow-up key is activated; a renewal key is due.`,
    };
  } else if (t < term.graceUntil.getTime()) {
    state = 'GRACE';
    warning = {
      code: 'LICENSE_IN_GRACE',
      message: `The licence term ended at ${term.validUntil.toISOString()}; everything keeps working during the grace period until ${term.graceUntil.toISOString()}. Activate a new key before then.`,
    };
  } else {
    state = 'DEMO';
    warning = demoWarning(
      limit,
      `The licence ended at ${term.validUntil.toISOString()} and its grace period at ${term.graceUntil.toISOString()}`,
    );
  }

  return {
    state,
    keyId: shown.payload.keyId,
    ...term,
    autoRenew: shown.payload.autoRenew,
    demoAgentLimit: limit,
    entitlements: current === null ? [] : current.payload.entitlements,
    fullUse: state === 'ACTIVE' || state === 'RENEWAL_DUE' || state === 'GRACE',
    pendingKey,
    effectiveAt,
    warnings: warning === null ? clockWarnings : [warning, ...clockWarnings],
  };
}

/**
 * The next instant after `result.effectiveAt` at which `licenseStatus` gives a
 * different state or a different governing key (a pending key taking over);
 * null when nothing changes without a new key. Schedule STATE_CHANGED events here.
 *
 * @example
 * const at = nextTransitionAt(status); // e.g. status.renewalDueAt
 */
export function nextTransitionAt(result: LicenseStatusResult): Date | null {
  const t = result.effectiveAt.getTime();
  const candidates = [result.pendingKey === null ? null : new Date(result.pendingKey.payload.validFrom)];
  if (result.state !== 'NONE' && result.state !== 'PENDING') {
    // With a follow-up key RENEWAL_DUE never starts (R-LIFE-2).
    if (result.pendingKey === null) candidates.push(result.renewalDueAt);
    candidates.push(result.validUntil, result.graceUntil);
  }
  let next: Date | null = null;
  for (const at of candidates) {
    if (at !== null && at.getTime() > t && (next === null || at.getTime() < next.getTime())) next = at;
  }
  return next;
}
