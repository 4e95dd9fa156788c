import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.ts';
import { parsePayload } from '../../src/keys/payload.ts';
import { DAY_MS, addMonthsUtc } from '../../src/licensing/dates.ts';
import { keyTerm, licenseStatus, nextTransitionAt, type ActivatedKey, type LicenseStatusResult } from '../../src/licensing/lifecycle.ts';

const HOUR_MS = 3_600_000;
const at = (iso: string): Date => new Date(iso);
const plus = (date: Date, ms: number): Date => new Date(date.getTime() + ms);

/** A key activated `seq`-th; the innoACD defaults unless `terms` says otherwise. */
function key(seq: number, validFrom: string, terms: Record<string, unknown> = {}, quantity = 50): ActivatedKey {
  const payload = parsePayload({
    v: 1,
    keyId: `K-${seq}`,
    customerRef: 'CUST-1',
    catalog: 'innoacd',
    validFrom,
    issuedAt: '2025-12-01T00:00:00Z',
    entitlements: [{ product: 'ACD_AGENT', quantity }],
    ...terms,
  });
  return { payload, activatedAt: at('2025-12-01T00:00:00Z'), seq };
}

function status(keys: ActivatedKey[], now: Date, highWater: Date | null = null): LicenseStatusResult {
  return licenseStatus({ keys, now, highWater });
}

const codes = (result: LicenseStatusResult): string[] => result.warnings.map((w) => w.code);

// The worked example: start 2026-01-15, 12 months, 14 days' grace, 3 months' notice.
const K1 = key(1, '2026-01-15T00:00:00Z');
const END = at('2027-01-15T00:00:00Z');
const RENEWAL_DUE = at('2026-12-18T00:00:00Z');
const GRACE_END = at('2027-01-29T00:00:00Z');

describe('addMonthsUtc', () => {
  it('clamps to the end of a shorter month and keeps the time of day', () => {
    expect(addMonthsUtc(at('2026-01-31T08:15:00Z'), 1)).toEqual(at('2026-02-28T08:15:00Z'));
    expect(addMonthsUtc(at('2028-01-31T08:15:00Z'), 1)).toEqual(at('2028-02-29T08:15:00Z'));
    expect(addMonthsUtc(at('2026-03-31T00:00:00Z'), -1)).toEqual(at('2026-02-28T00:00:00Z'));
    expect(addMonthsUtc(at('2026-12-31T23:59:59.999Z'), 2)).toEqual(at('2027-02-28T23:59:59.999Z'));
    expect(addMonthsUtc(at('2027-01-15T00:00:00Z'), -3)).toEqual(at('2026-10-15T00:00:00Z'));
    expect(addMonthsUtc(at('2026-01-15T00:00:00Z'), 12)).toEqual(at('2027-01-15T00:00:00Z'));
  });
});

describe('licence term', () => {
  it('[R-LIFE-1] "12 months": a key is valid for 12 months from its start date by default', () => {
    expect(K1.payload.termMonths).toBe(12);
    expect(keyTerm(K1.payload).validUntil).toEqual(END);
    expect(keyTerm(key(2, '2026-01-31T00:00:00Z', { termMonths: 1 }).payload).validUntil).toEqual(at('2026-02-28T00:00:00Z'));
  });

  it('[R-LIFE-3] worked example: start 2026-01-15 → end 2027-01-15, cancellation deadline 2026-10-15, renewal due 2026-12-18', () => {
    const result = status([K1], at('2026-06-01T00:00:00Z'));
    expect(result).toMatchObject({
      state: 'ACTIVE',
      keyId: 'K-1',
      validFrom: at('2026-01-15T00:00:00Z'),
      validUntil: END,
      cancellationDeadline: at('2026-10-15T00:00:00Z'),
      renewalDueAt: RENEWAL_DUE,
      graceUntil: GRACE_END,
      autoRenew: true,
      fullUse: true,
      warnings: [],
    });
    expect(result.entitlements).toEqual(K1.payload.entitlements);
  });

  it('[R-LIFE-3] the notice period and auto-renewal come from the key', () => {
    const result = status([key(1, '2026-01-15T00:00:00Z', { noticeMonths: 1, autoRenew: false })], at('2026-06-01T00:00:00Z'));
    expect(result.cancellationDeadline).toEqual(at('2026-12-15T00:00:00Z'));
    expect(result.autoRenew).toBe(false);
  });
});

describe('state boundaries', () => {
  it('[R-LIFE-2] renewalDueAt: ACTIVE 1 ms before, RENEWAL_DUE at the instant and after, with a warning', () => {
    expect(status([K1], plus(RENEWAL_DUE, -1)).state).toBe('ACTIVE');
    const atBoundary = status([K1], RENEWAL_DUE);
    expect(atBoundary.state).toBe('RENEWAL_DUE');
    expect(atBoundary.fullUse).toBe(true);
    expect(atBoundary.warnings).toEqual([
      {
        code: 'RENEWAL_DUE',
        message: 'The licence ends at 2027-01-15T00:00:00.000Z (in 28 day(s)) and no follow-up key is activated; a renewal key is due.',
      },
    ]);
    expect(status([K1], plus(RENEWAL_DUE, 1)).state).toBe('RENEWAL_DUE');
  });

  it('[R-LIFE-1] [R-LIFE-4] validUntil: RENEWAL_DUE 1 ms before, GRACE at the instant and after, everything still works', () => {
    expect(status([K1], plus(END, -1)).state).toBe('RENEWAL_DUE');
    const atBoundary = status([K1], END);
    expect(atBoundary).toMatchObject({ state: 'GRACE', fullUse: true, entitlements: K1.payload.entitlements });
    expect(codes(atBoundary)).toEqual(['LICENSE_IN_GRACE']);
    expect(atBoundary.warnings[0]?.message).toContain('until 2027-01-29T00:00:00.000Z');
    expect(status([K1], plus(END, 1)).state).toBe('GRACE');
  });

  it('[R-LIFE-5] graceUntil: GRACE 1 ms before, DEMO at the instant and after, full use ends', () => {
    expect(status([K1], plus(GRACE_END, -1)).state).toBe('GRACE');
    const atBoundary = status([K1], GRACE_END);
    expect(atBoundary).toMatchObject({ state: 'DEMO', fullUse: false, demoAgentLimit: 2 });
    expect(codes(atBoundary)).toEqual(['DEMO_MODE']);
    expect(atBoundary.warnings[0]?.message).toContain('at most 2 agent(s)');
    expect(status([K1], plus(GRACE_END, 1)).state).toBe('DEMO');
  });

  it('[R-LIFE-4] [R-LIFE-5] "14 days\' grace": a key ending at T is in GRACE at T+13d23h59m59.999s and DEMO at T+14d', () => {
    expect(K1.payload.graceDays).toBe(14);
    expect(status([K1], plus(END, 14 * DAY_MS - 1)).state).toBe('GRACE');
    expect(status([K1], plus(END, 14 * DAY_MS)).state).toBe('DEMO');
  });

  it('[R-LIFE-5] "2 demo agents": the default demoAgentLimit is 2; a key may set another', () => {
    expect(K1.payload.demoAgentLimit).toBe(2);
    expect(status([], at('2026-06-01T00:00:00Z')).demoAgentLimit).toBe(2);
    expect(status([key(1, '2026-01-15T00:00:00Z', { demoAgentLimit: 5 })], GRACE_END).demoAgentLimit).toBe(5);
  });

  it('[R-LIFE-5] with no key ever the state is NONE: demo mode, nothing granted', () => {
    const result = status([], at('2026-06-01T00:00:00Z'));
    expect(result).toMatchObject({
      state: 'NONE',
      keyId: null,
      validUntil: null,
      fullUse: false,
      entitlements: [],
      pendingKey: null,
      autoRenew: false,
    });
    expect(codes(result)).toEqual(['DEMO_MODE']);
    expect(nextTransitionAt(result)).toBeNull();
  });

  it('[R-LIFE-5] a new valid key restores full use at once', () => {
    const now = plus(GRACE_END, 30 * DAY_MS);
    expect(status([K1], now).state).toBe('DEMO');
    const renewed = status([K1, key(2, now.toISOString())], now);
    expect(renewed).toMatchObject({ state: 'ACTIVE', keyId: 'K-2', fullUse: true, warnings: [] });
  });
});

describe('several keys', () => {
  it('[R-KEY-4] a key whose start lies in the future is PENDING until its start, then ACTIVE', () => {
    const future = key(1, '2026-03-01T00:00:00Z');
    const before = status([future], at('2026-02-01T00:00:00Z'));
    expect(before).toMatchObject({
      state: 'PENDING',
      keyId: 'K-1',
      validFrom: at('2026-03-01T00:00:00Z'),
      fullUse: false,
      entitlements: [],
      pendingKey: future,
    });
    expect(codes(before)).toEqual(['DEMO_MODE']);
    expect(nextTransitionAt(before)).toEqual(at('2026-03-01T00:00:00Z'));
    expect(status([future], at('2026-02-28T23:59:59.999Z')).state).toBe('PENDING');
    expect(status([future], at('2026-03-01T00:00:00Z'))).toMatchObject({ state: 'ACTIVE', keyId: 'K-1', pendingKey: null });
  });

  it('[R-KEY-4] a later activation replaces the previous entitlements once it has started', () => {
    const replacement = key(2, '2026-02-01T00:00:00Z', {}, 80);
    const result = status([K1, replacement], at('2026-03-01T00:00:00Z'));
    expect(result).toMatchObject({ state: 'ACTIVE', keyId: 'K-2', validUntil: at('2027-02-01T00:00:00Z') });
    expect(result.entitlements[0]?.quantity).toBe(80);
    // Before the replacement starts, the first key still governs and the replacement waits.
    const waiting = status([K1, replacement], at('2026-01-20T00:00:00Z'));
    expect(waiting).toMatchObject({ keyId: 'K-1', pendingKey: replacement });
  });

  it('[R-KEY-4] a key activated earlier never takes over from a later activation, even if it starts later', () => {
    const earlierFuture = key(1, '2026-06-01T00:00:00Z', {}, 10);
    const later = key(2, '2026-01-15T00:00:00Z');
    const result = status([earlierFuture, later], at('2026-07-01T00:00:00Z'));
    expect(result).toMatchObject({ keyId: 'K-2', pendingKey: null });
    expect(status([earlierFuture, later], at('2026-02-01T00:00:00Z')).pendingKey).toBeNull();
  });

  it('[R-LIFE-2] a follow-up key suppresses RENEWAL_DUE and takes over at its start', () => {
    const followUp = key(2, END.toISOString(), {}, 60);
    const due = status([K1, followUp], RENEWAL_DUE);
    expect(due).toMatchObject({ state: 'ACTIVE', keyId: 'K-1', pendingKey: followUp, warnings: [] });
    expect(nextTransitionAt(due)).toEqual(END);
    expect(status([K1, followUp], plus(END, -1))).toMatchObject({ state: 'ACTIVE', keyId: 'K-1' });
    const after = status([K1, followUp], END);
    expect(after).toMatchObject({ state: 'ACTIVE', keyId: 'K-2', validUntil: at('2028-01-15T00:00:00Z'), pendingKey: null });
    expect(after.entitlements[0]?.quantity).toBe(60);
  });

  it('[R-LIFE-4] a follow-up key that starts after the term leaves a GRACE gap', () => {
    const late = key(2, plus(END, 3 * DAY_MS).toISOString());
    expect(status([K1, late], plus(END, DAY_MS))).toMatchObject({ state: 'GRACE', keyId: 'K-1', pendingKey: late });
    expect(status([K1, late], plus(END, 3 * DAY_MS))).toMatchObject({ state: 'ACTIVE', keyId: 'K-2' });
  });
});

describe('clock', () => {
  it('[R-LIFE-6] a clock set back 25 h is reported and the state is computed at the high-water time', () => {
    const highWater = GRACE_END;
    const now = plus(highWater, -25 * HOUR_MS);
    const result = status([K1], now, highWater);
    expect(result).toMatchObject({ state: 'DEMO', effectiveAt: highWater, fullUse: false });
    expect(codes(result)).toEqual(['DEMO_MODE', 'CLOCK_ROLLBACK']);
    expect(result.warnings[1]?.message).toContain('is 1d 1h 0m behind the latest time seen (2027-01-29T00:00:00.000Z)');
  });

  it('[R-LIFE-6] a clock set back 23 h is not reported, and still does not extend the term', () => {
    const highWater = GRACE_END;
    const result = status([K1], plus(highWater, -23 * HOUR_MS), highWater);
    expect(result).toMatchObject({ state: 'DEMO', effectiveAt: highWater });
    expect(codes(result)).toEqual(['DEMO_MODE']);
    expect(codes(status([K1], plus(highWater, -DAY_MS), highWater))).not.toContain('CLOCK_ROLLBACK');
  });

  it('[R-LIFE-6] a clock ahead of the high-water time is simply now', () => {
    const now = at('2026-06-01T00:00:00Z');
    expect(status([K1], now, at('2026-05-01T00:00:00Z')).effectiveAt).toEqual(now);
  });

  it('[R-LIFE-6] ManualClock: one injectable source of now', () => {
    const clock = new ManualClock(at('2026-01-15T00:00:00Z'));
    clock.advance(DAY_MS);
    expect(clock.now()).toEqual(at('2026-01-16T00:00:00Z'));
    clock.set(END);
    clock.now().setTime(0);
    expect(status([K1], clock.now()).state).toBe('GRACE');
  });
});

describe('nextTransitionAt', () => {
  it('names the next boundary of each state', () => {
    expect(nextTransitionAt(status([K1], at('2026-06-01T00:00:00Z')))).toEqual(RENEWAL_DUE);
    expect(nextTransitionAt(status([K1], RENEWAL_DUE))).toEqual(END);
    expect(nextTransitionAt(status([K1], END))).toEqual(GRACE_END);
    expect(nextTransitionAt(status([K1], GRACE_END))).toBeNull();
    const renewal = key(2, '2027-03-01T00:00:00Z');
    expect(nextTransitionAt(status([K1, renewal], GRACE_END))).toEqual(at('2027-03-01T00:00:00Z'));
  });
});
