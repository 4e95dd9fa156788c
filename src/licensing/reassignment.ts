/**
 * Base licence reassignment (R-REASSIGN-1..3, connect storm BASE: 90 days).
 * Each licence is a slot with a window start (the assignment that opened its
 * current window) and an "early reassignment used" mark. When freed within
 * the window it is *reusable* once (reassigning it uses the mark and keeps
 * the window); after that it stays bound until the window ends.
 *
 * @example
 * const summary = summarizeSlots(slots, now, 90, 10);
 * summary.available; // total - inUse + reusable
 */
import { DAY_MS } from './dates.ts';

export interface Slot {
  slotNo: number;
  holderUserId: string | null;
  windowStart: Date | null;
  earlyUsed: boolean;
}

export type SlotState = 'HELD' | 'FREE' | 'REUSABLE' | 'BOUND';

export function slotState(slot: Slot, now: Date, cooldownDays: number): SlotState {
  if (slot.holderUserId !== null) return 'HELD';
  if (slot.windowStart === null || now.getTime() >= slot.windowStart.getTime() + cooldownDays * DAY_MS) return 'FREE';
  return slot.earlyUsed ? 'BOUND' : 'REUSABLE';
}

export interface SlotSummary {
  total: number;
  held: number;
  /** Freed within their window with the early reassignment spent: nobody may take them yet. */
  bound: number;
  /** Freed within their window, early reassignment still available. */
  reusable: number;
  /** R-REASSIGN-3: held by users plus bound by the cool-down (reusable ones included). */
  inUse: number;
  /** total - inUse + reusable */
  available: number;
}

/** Slots numbered `total` and above (a smaller key) are ignored. Missing slots are free. */
export function summarizeSlots(slots: readonly Slot[], now: Date, cooldownDays: number, total: number): SlotSummary {
  let held = 0;
  let bound = 0;
  let reusable = 0;
  for (const slot of slots) {
    if (slot.slotNo >= total) continue;
    const state = slotState(slot, now, cooldownDays);
    if (state === 'HELD') held += 1;
    else if (state === 'BOUND') bound += 1;
    else if (state === 'REUSABLE') reusable += 1;
  }
  const inUse = held + bound + reusable;
  return { total, held, bound, reusable, inUse, available: total - inUse + reusable };
}

/**
 * The instants around `now` at which `summarizeSlots(slots, t, cooldownDays, total)`
 * equals its value at `now`: from `from` (inclusive; null: any earlier) to
 * `until` (exclusive; null: any later). Only a freed slot's window ending
 * changes a state by time alone (REUSABLE or BOUND becomes FREE), so the
 * bounds are the nearest window ends on either side.
 */
export function slotSummarySpan(
  slots: readonly Slot[],
  now: Date,
  cooldownDays: number,
  total: number,
): { from: number | null; until: number | null } {
  let from: number | null = null;
  let until: number | null = null;
  const t = now.getTime();
  for (const slot of slots) {
    if (slot.slotNo >= total || slot.holderUserId !== null || slot.windowStart === null) continue;
    const end = slot.windowStart.getTime() + cooldownDays * DAY_MS;
    if (end <= t) from = from === null ? end : Math.max(from, end);
    else until = until === null ? end : Math.min(until, end);
  }
  return { from, until };
}

export interface SlotChoice {
  slotNo: number;
  /** The assignment opens a new 90-day window (the slot was simply free). */
  opensWindow: boolean;
  /** The assignment spends the slot's one early reassignment. */
  usesEarlyReassignment: boolean;
}

/**
 * The slot a new holder takes: a free one first (it opens a new window),
 * else a reusable one (spending its early reassignment); null when every
 * licence is held or bound.
 */
export function pickSlot(slots: readonly Slot[], now: Date, cooldownDays: number, total: number): SlotChoice | null {
  const byNo = new Map(slots.map((s) => [s.slotNo, s]));
  let reusable: number | null = null;
  for (let slotNo = 0; slotNo < total; slotNo++) {
    const slot = byNo.get(slotNo);
    const state = slot ? slotState(slot, now, cooldownDays) : 'FREE';
    if (state === 'FREE') return { slotNo, opensWindow: true, usesEarlyReassignment: false };
    if (state === 'REUSABLE' && reusable === null) reusable = slotNo;
  }
  return reusable === null ? null : { slotNo: reusable, opensWindow: false, usesEarlyReassignment: true };
}
