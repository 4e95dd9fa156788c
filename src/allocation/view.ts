/**
 * The named-licence allocation of one organization at one instant, computed
 * from its stored inputs (users, configured products, base licence slots,
 * licence keys; inputs.ts). Reads go through the allocation cache (cache.ts),
 * write paths load it on their transaction; both build the view with the one
 * pure `allocationViewOf`.
 *
 * @example
 * const view = await loadAllocation(trx, org, catalog, clock.now(), parsedKeys);
 * view.result.users.get(userId); // the user's licences
 */
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Executor } from '../db/database.ts';
import type { AssignmentRow, LicenseSlotRow } from '../db/schema.ts';
import { allocate, type AllocationResult } from '../licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseStatusResult } from '../licensing/lifecycle.ts';
import { summarizeSlots, type Slot, type SlotSummary } from '../licensing/reassignment.ts';
import type * as repo from './allocation.repository.ts';
import { readAllocationInputs, type AllocationInputs, type LoadedInputs } from './inputs.ts';
import { statusFrom, type ParsedKeys } from './keys.ts';

/**
 * Everything the named-licence rules need about one organization at one
 * instant, and their result. Its users and result may be shared with the
 * allocation cache and other requests: never mutate them.
 */
export interface AllocationView {
  org: Organization;
  catalog: Catalog;
  now: Date;
  status: LicenseStatusResult;
  entitlements: EntitlementView[];
  users: readonly repo.AllocationUserRow[];
  /** Per product with a reassignment cool-down. */
  slots: Map<string, SlotSummary>;
  result: AllocationResult;
}

/** The view a write path loads in its transaction, with the stored rows its changes start from. */
export interface LoadedAllocation extends AllocationView {
  usersById: Map<string, repo.AllocationUserRow>;
  assignments: AssignmentRow[];
  slotRows: LicenseSlotRow[];
}

export const toSlot = (row: LicenseSlotRow): Slot => ({
  slotNo: row.slot_no,
  holderUserId: row.holder_user_id,
  windowStart: row.window_start,
  earlyUsed: row.early_used,
});

export function cooldownProducts(catalog: Catalog): Product[] {
  return catalog.products.filter((p) => p.reassignCooldownDays !== null);
}

/** The result of `allocate` and the inputs it depended on besides the users: reusable while they are equal. */
export interface AllocateMemo {
  catalog: Catalog;
  entitlements: readonly EntitlementView[];
  fullUse: boolean;
  bound: ReadonlyMap<string, number>;
  result: AllocationResult;
}

/** Equal in everything `allocate` takes of the entitlements. */
export function sameEntitlements(a: readonly EntitlementView[], b: readonly EntitlementView[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return (
        y !== undefined &&
        x.product === y.product &&
        x.quantity === y.quantity &&
        x.total === y.total &&
        x.allocation === y.allocation &&
        x.unitsTotal === y.unitsTotal &&
        x.emergencyQuantity === y.emergencyQuantity &&
        x.overageAllowed === y.overageAllowed &&
        x.overageGraceMinutes === y.overageGraceMinutes
      );
    })
  );
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** How a view's licence status comes about: from the inputs' keys (parsed through `parsedKeys`), or given. */
export interface StatusSource {
  parsedKeys?: ParsedKeys;
  /** The status of these inputs' keys at this instant, when the caller computed it already. */
  status?: LicenseStatusResult;
}

/**
 * The allocation view at `now` from stored inputs: licence status,
 * entitlements and slot summaries are computed for this instant; `allocate`
 * runs unless `memo` was computed from equal inputs (then its result is
 * reused). Pure but for the parsed-key cache. Returns the memo that goes with the view.
 *
 * @example
 * const { view, memo } = allocationViewOf(org, catalog, now, await readAllocationInputs(db, org.id), null, { parsedKeys });
 */
export function allocationViewOf(
  org: Organization,
  catalog: Catalog,
  now: Date,
  inputs: AllocationInputs,
  memo: AllocateMemo | null,
  source: StatusSource = {},
): { view: AllocationView; memo: AllocateMemo } {
  const status = source.status ?? statusFrom(org, inputs.keys, now, source.parsedKeys);
  const entitlements = entitlementsOf(catalog, status.entitlements);
  const totals = new Map(entitlements.map((e) => [e.product, e.total]));
  const slots = new Map<string, SlotSummary>();
  const bound = new Map<string, number>();
  for (const p of cooldownProducts(catalog)) {
    const summary = summarizeSlots(
      inputs.slotsByProduct.get(p.code) ?? [],
      status.effectiveAt,
      p.reassignCooldownDays ?? 0,
      totals.get(p.code) ?? 0,
    );
    slots.set(p.code, summary);
    bound.set(p.code, summary.bound);
  }
  const reuse =
    memo !== null &&
    memo.catalog === catalog &&
    memo.fullUse === status.fullUse &&
    sameEntitlements(memo.entitlements, entitlements) &&
    sameCounts(memo.bound, bound);
  const next: AllocateMemo = reuse
    ? memo
    : {
        catalog,
        entitlements,
        fullUse: status.fullUse,
        bound,
        result: allocate({ catalog, entitlements, fullUse: status.fullUse, boundByCooldown: bound, users: inputs.allocationUsers }),
      };
  const view: AllocationView = { org, catalog, now, status, entitlements, users: inputs.users, slots, result: next.result };
  return { view, memo: next };
}

/** The write path's view from freshly read inputs, with the memo that goes with it. */
export function loadedAllocationOf(
  org: Organization,
  catalog: Catalog,
  now: Date,
  inputs: LoadedInputs,
  source: StatusSource = {},
): { view: LoadedAllocation; memo: AllocateMemo } {
  const { view, memo } = allocationViewOf(org, catalog, now, inputs, null, source);
  return { view: { ...view, usersById: inputs.usersById, assignments: inputs.assignments, slotRows: inputs.slotRows }, memo };
}

/**
 * Loads the stored state and computes the allocation: four queries whatever
 * the number of users (R-API-4). Write paths call it on their transaction
 * (through `AllocationWrite`, whose `loadAfterWrites` gives the view they end with); reads go
 * through the allocation cache.
 */
export async function loadAllocation(
  db: Executor,
  org: Organization,
  catalog: Catalog,
  now: Date,
  parsedKeys?: ParsedKeys,
): Promise<LoadedAllocation> {
  return loadedAllocationOf(org, catalog, now, await readAllocationInputs(db, org.id), { parsedKeys }).view;
}
