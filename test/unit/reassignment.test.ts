/**
 * Base licence reassignment (connect storm BASE, 90 days): slot states,
 * the licence-mapping figures and the slot a new holder takes
 * (R-REASSIGN-1..3), pure, no database.
 */
import { describe, expect, it } from 'vitest';
import { getCatalog } from '../../src/catalogs/index.ts';
import { DAY_MS } from '../../src/licensing/dates.ts';
import { pickSlot, slotState, slotSummarySpan, summarizeSlots, type Slot } from '../../src/licensing/reassignment.ts';

const COOLDOWN = getCatalog('connect-storm')?.products.find((p) => p.code === 'BASE')?.reassignCooldownDays ?? NaN;
const DAY0 = Date.UTC(2026, 2, 1, 9, 30);
const day = (n: number, ms = 0): Date => new Date(DAY0 + n * DAY_MS + ms);

const held = (slotNo: number, holder: string, windowDay: number, earlyUsed = false): Slot => ({
  slotNo,
  holderUserId: holder,
  windowStart: day(windowDay),
  earlyUsed,
});
const freed = (slotNo: number, windowDay: number, earlyUsed: boolean): Slot => ({
  slotNo,
  holderUserId: null,
  windowStart: day(windowDay),
  earlyUsed,
});

/** What the service stores when `choice` is taken by `holder` at `now` (assignments.service syncSlots). */
function take(slots: Slot[], holder: string, now: Date, total: number): Slot[] {
  const choice = pickSlot(slots, now, COOLDOWN, total);
  if (!choice) throw new Error('no slot');
  const existing = slots.find((s) => s.slotNo === choice.slotNo);
  const next: Slot = {
    slotNo: choice.slotNo,
    holderUserId: holder,
    windowStart: choice.opensWindow ? now : (existing?.windowStart ?? now),
    earlyUsed: !choice.opensWindow,
  };
  return [...slots.filter((s) => s.slotNo !== choice.slotNo), next];
}

const release = (slots: Slot[], holder: string): Slot[] => slots.map((s) => (s.holderUserId === holder ? { ...s, holderUserId: null } : s));

describe('base licence reassignment (R-REASSIGN)', () => {
  it('[R-REASSIGN-1] the connect storm BASE cool-down is 90 days', () => {
    expect(COOLDOWN).toBe(90);
  });

  it('[R-REASSIGN-2] worked example: assigned day 0, user deleted day 10 → REUSABLE; reassigned and deleted again day 20 → BOUND until day 90', () => {
    let slots = take([], 'alice', day(0), 1);
    expect(slots).toEqual([{ slotNo: 0, holderUserId: 'alice', windowStart: day(0), earlyUsed: false }]);
    expect(slotState(slots[0] as Slot, day(0), COOLDOWN)).toBe('HELD');

    // Day 10: alice is deleted within the window: the licence may be reassigned once right away.
    slots = release(slots, 'alice');
    expect(slotState(slots[0] as Slot, day(10), COOLDOWN)).toBe('REUSABLE');
    expect(summarizeSlots(slots, day(10), COOLDOWN, 1)).toEqual({ total: 1, held: 0, bound: 0, reusable: 1, inUse: 1, available: 1 });
    expect(pickSlot(slots, day(10), COOLDOWN, 1)).toEqual({ slotNo: 0, opensWindow: false, usesEarlyReassignment: true });

    // Reassigned to bob on day 10: the window stays (day 0), the early reassignment is spent.
    slots = take(slots, 'bob', day(10), 1);
    expect(slots).toEqual([{ slotNo: 0, holderUserId: 'bob', windowStart: day(0), earlyUsed: true }]);
    expect(summarizeSlots(slots, day(15), COOLDOWN, 1)).toEqual({ total: 1, held: 1, bound: 0, reusable: 0, inUse: 1, available: 0 });

    // Day 20: bob is deleted too: a second early reassignment waits until the window ends.
    slots = release(slots, 'bob');
    const slot = slots[0] as Slot;
    expect(slotState(slot, day(20), COOLDOWN)).toBe('BOUND');
    expect(summarizeSlots(slots, day(20), COOLDOWN, 1)).toEqual({ total: 1, held: 0, bound: 1, reusable: 0, inUse: 1, available: 0 });
    expect(pickSlot(slots, day(20), COOLDOWN, 1)).toBeNull();

    // Exact boundary: 90 days after the window start.
    expect(slotState(slot, day(90, -1), COOLDOWN)).toBe('BOUND');
    expect(pickSlot(slots, day(90, -1), COOLDOWN, 1)).toBeNull();
    expect(slotState(slot, day(90), COOLDOWN)).toBe('FREE');
    expect(summarizeSlots(slots, day(90), COOLDOWN, 1)).toEqual({ total: 1, held: 0, bound: 0, reusable: 0, inUse: 0, available: 1 });
    expect(pickSlot(slots, day(90), COOLDOWN, 1)).toEqual({ slotNo: 0, opensWindow: true, usesEarlyReassignment: false });

    // The next holder opens a fresh window with its own early reassignment.
    slots = take(slots, 'carol', day(90), 1);
    expect(slots).toEqual([{ slotNo: 0, holderUserId: 'carol', windowStart: day(90), earlyUsed: false }]);
    expect(slotState({ ...(slots[0] as Slot), holderUserId: null }, day(100), COOLDOWN)).toBe('REUSABLE');
  });

  it('[R-REASSIGN-2] a reusable licence stays reusable up to the end of its window, then is simply free', () => {
    const slot = freed(0, 0, false);
    expect(slotState(slot, day(0), COOLDOWN)).toBe('REUSABLE');
    expect(slotState(slot, day(90, -1), COOLDOWN)).toBe('REUSABLE');
    expect(slotState(slot, day(90), COOLDOWN)).toBe('FREE');
  });

  it('[R-REASSIGN-1] a licence freed after 90 days is simply free, even with the early reassignment spent', () => {
    expect(slotState(freed(0, 0, true), day(100), COOLDOWN)).toBe('FREE');
    expect(slotState(freed(0, 0, false), day(100), COOLDOWN)).toBe('FREE');
    expect(pickSlot([freed(0, 0, true)], day(100), COOLDOWN, 1)).toEqual({ slotNo: 0, opensWindow: true, usesEarlyReassignment: false });
  });

  it('[R-REASSIGN-1] a held licence is HELD whatever its window; a slot never used is FREE', () => {
    expect(slotState(held(0, 'a', 0, true), day(5), COOLDOWN)).toBe('HELD');
    expect(slotState(held(0, 'a', 0), day(500), COOLDOWN)).toBe('HELD');
    expect(slotState({ slotNo: 0, holderUserId: null, windowStart: null, earlyUsed: false }, day(0), COOLDOWN)).toBe('FREE');
  });

  it('[R-REASSIGN-3] summarizeSlots: inUse = held + bound (reusable included), available = total − inUse + reusable', () => {
    const slots = [
      held(0, 'a', 0),
      held(1, 'b', -200, true),
      freed(2, 0, false), // reusable at day 30
      freed(3, 0, true), // bound at day 30
      freed(4, -100, true), // window over: free
      // slots 5..9 never used: free
    ];
    const s = summarizeSlots(slots, day(30), COOLDOWN, 10);
    expect(s).toEqual({ total: 10, held: 2, bound: 1, reusable: 1, inUse: 4, available: 7 });
    expect(s.available).toBe(s.total - s.inUse + s.reusable);
    // At day 90 the reusable and the bound one are free again.
    expect(summarizeSlots(slots, day(90), COOLDOWN, 10)).toEqual({ total: 10, held: 2, bound: 0, reusable: 0, inUse: 2, available: 8 });
  });

  it('[R-REASSIGN-3] slots numbered at or above the total (a smaller key) are ignored', () => {
    const slots = [held(0, 'a', 0), freed(1, 0, true), held(2, 'c', 0), freed(3, 0, false), held(7, 'h', 0)];
    expect(summarizeSlots(slots, day(30), COOLDOWN, 2)).toEqual({ total: 2, held: 1, bound: 1, reusable: 0, inUse: 2, available: 0 });
    expect(pickSlot(slots, day(30), COOLDOWN, 2)).toBeNull();
    // Slot 3 is reusable but beyond a total of 3; slot 2 is held.
    expect(pickSlot(slots, day(30), COOLDOWN, 3)).toBeNull();
    expect(pickSlot(slots, day(30), COOLDOWN, 4)).toEqual({ slotNo: 3, opensWindow: false, usesEarlyReassignment: true });
    expect(summarizeSlots(slots, day(30), COOLDOWN, 0)).toEqual({ total: 0, held: 0, bound: 0, reusable: 0, inUse: 0, available: 0 });
    expect(pickSlot(slots, day(30), COOLDOWN, 0)).toBeNull();
  });

  it('[R-REASSIGN-2] pickSlot prefers a FREE slot over a REUSABLE one, keeping the early reassignment', () => {
    const slots = [freed(0, 0, false), held(1, 'b', 0), freed(2, 0, true)];
    // Slot 3 was never used.
    expect(pickSlot(slots, day(30), COOLDOWN, 4)).toEqual({ slotNo: 3, opensWindow: true, usesEarlyReassignment: false });
    // A slot whose window is over is free too, and preferred although it has a higher number than the reusable one.
    const aged = [freed(0, 0, false), freed(1, -95, true)];
    expect(pickSlot(aged, day(30), COOLDOWN, 2)).toEqual({ slotNo: 1, opensWindow: true, usesEarlyReassignment: false });
    // Only reusable ones left: the lowest-numbered is spent.
    const reusable = [freed(0, 0, true), freed(1, 5, false), held(2, 'c', 0), freed(3, 1, false)];
    expect(pickSlot(reusable, day(30), COOLDOWN, 4)).toEqual({ slotNo: 1, opensWindow: false, usesEarlyReassignment: true });
  });

  it('[R-REASSIGN-2] pickSlot returns null when every licence is held or bound', () => {
    const slots = [held(0, 'a', 0), freed(1, 0, true), held(2, 'c', -300, true)];
    expect(pickSlot(slots, day(30), COOLDOWN, 3)).toBeNull();
    expect(summarizeSlots(slots, day(30), COOLDOWN, 3).available).toBe(0);
    expect(pickSlot([], day(0), COOLDOWN, 0)).toBeNull();
    expect(pickSlot([], day(0), COOLDOWN, 2)).toEqual({ slotNo: 0, opensWindow: true, usesEarlyReassignment: false });
  });

  it('[R-REASSIGN-3] slotSummarySpan: the summary is the same at every instant of the span, and differs just outside it', () => {
    const slots = [held(0, 'a', 0), freed(1, 10, true), freed(2, 30, false), freed(3, -200, false), held(4, 'e', -300), freed(9, 5, false)];
    const total = 5; // slot 9 is beyond the key: ignored
    const now = day(60);
    const span = slotSummarySpan(slots, now, COOLDOWN, total);
    // Slot 3's window ended at day -110; slot 1's ends at day 100 (the nearest ahead).
    expect(span).toEqual({ from: day(-110).getTime(), until: day(100).getTime() });
    const at = summarizeSlots(slots, now, COOLDOWN, total);
    for (const t of [span.from!, span.until! - 1, day(0).getTime()])
      expect(summarizeSlots(slots, new Date(t), COOLDOWN, total)).toEqual(at);
    expect(summarizeSlots(slots, new Date(span.until!), COOLDOWN, total)).not.toEqual(at);
    expect(summarizeSlots(slots, new Date(span.from! - 1), COOLDOWN, total)).not.toEqual(at);
    // Nothing freed within a window: unbounded on both sides.
    expect(slotSummarySpan([held(0, 'a', 0)], now, COOLDOWN, 1)).toEqual({ from: null, until: null });
  });
});
