/**
 * The named-licence allocation of one organization at one instant, computed
 * from its stored inputs (users, configured products, base licence slots,
 * licence keys). Reads go through the allocation cache (allocation-cache.ts),
 * write paths load it on their transaction; both build the view with the one
 * pure `allocationViewOf`.
 *
 * @example
 * const view = await loadAllocation(trx, org, catalog, clock.now());
 * view.result.users.get(userId); // the user's licences
 */
import type { Catalog, Product } from '../catalogs/types.ts';
import type { Executor } from '../db/database.ts';
import type { AssignmentRow, LicenseKeyRow, LicenseSlotRow, OrganizationRow } from '../db/schema.ts';
import { allocate, type AllocationResult, type AllocationUser, type ConfiguredProduct } from '../licensing/allocation.ts';
import { entitlementsOf, type EntitlementView } from '../licensing/entitlements.ts';
import type { LicenseStatusResult } from '../licensing/lifecycle.ts';
import { summarizeSlots, type Slot, type SlotSummary } from '../licensing/reassignment.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import { statusFrom } from '../licenses/status.ts';
import * as repo from './assignments.repository.ts';

/**
 * Everything the named-licence rules need about one organization at one
 * instant, and their result. Its users and result may be shared with the
 * allocation cache and other requests: never mutate them.
 */
export interface AllocationView {
  org: OrganizationRow;
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

/**
 * The stored state the allocation is computed from: everything but the
 * organization row, the catalog and the instant. What the allocation cache
 * keeps per organization; read-only once built.
 */
export interface AllocationInputs {
  keys: LicenseKeyRow[];
  users: repo.AllocationUserRow[];
  /** The base licence slots per product, as the reassignment rules take them. */
  slotsByProduct: Map<string, Slot[]>;
  /** `users` as `allocate` takes them (group options, configured products). */
  allocationUsers: AllocationUser[];
}

/** The inputs with the rows a write path changes from (not kept by the cache). */
export interface LoadedInputs extends AllocationInputs {
  usersById: Map<string, repo.AllocationUserRow>;
  assignments: AssignmentRow[];
  slotRows: LicenseSlotRow[];
}

/** The result of `allocate` and the inputs it depended on besides the users: reusable while they are equal. */
export interface AllocateMemo {
  catalog: Catalog;
  entitlements: readonly EntitlementView[];
  fullUse: boolean;
  bound: ReadonlyMap<string, number>;
  result: AllocationResult;
}

/**
 * One copy of each repeated value of a read: the drivers return a new string
 * for every uuid, status and product code of every row and a new Date for
 * every timestamp, which at 100,000 users is most of a cached entry's heap.
 */
class Interner {
  private readonly strings = new Map<string, string>();
  private readonly dates = new Map<number, Date>();

  string<T extends string | null>(s: T): T {
    if (s === null) return s;
    const known = this.strings.get(s);
    if (known !== undefined) return known as T;
    this.strings.set(s, s);
    return s;
  }

  date<T extends Date | null>(d: T): T {
    if (d === null) return d;
    const t = d.getTime();
    const known = this.dates.get(t);
    if (known !== undefined) return known as T;
    this.dates.set(t, d);
    return d;
  }
}

/** Reads the allocation's inputs: four queries whatever the number of users (R-API-4). */
export async function readAllocationInputs(db: Executor, organizationId: string): Promise<LoadedInputs> {
  const [keys, users, assignments, slotRows] = await Promise.all([
    keysOfOrganizations(db, [organizationId]),
    repo.usersWithOptions(db, organizationId),
    repo.assignmentsOf(db, organizationId),
    repo.slotsOf(db, organizationId),
  ]);
  const intern = new Interner();
  const groupOptions = new Map<string, string[] | null>();
  for (const u of users) {
    u.organization_id = intern.string(u.organization_id);
    u.site_id = intern.string(u.site_id);
    u.configuration_group_id = intern.string(u.configuration_group_id);
    u.team_id = intern.string(u.team_id);
    u.role = intern.string(u.role);
    u.status = intern.string(u.status);
    u.created_at = intern.date(u.created_at);
    // Every member of a group has the same options (one read): one array per group.
    if (u.configuration_group_id !== null) {
      const shared = groupOptions.get(u.configuration_group_id);
      if (shared === undefined) groupOptions.set(u.configuration_group_id, u.group_options);
      else u.group_options = shared;
    }
  }
  const usersById = new Map(users.map((u) => [u.id, u]));
  const userId = (id: string): string => usersById.get(id)?.id ?? id;
  const configured = new Map<string, ConfiguredProduct[]>();
  for (const a of assignments) {
    const list = configured.get(a.user_id);
    const entry: ConfiguredProduct = {
      product: intern.string(a.product_code),
      source: a.source,
      configuredAt: intern.date(a.configured_at),
    };
    if (list) list.push(entry);
    else configured.set(a.user_id, [entry]);
  }
  const NO_OPTIONS: readonly string[] = [];
  const NOT_CONFIGURED: readonly ConfiguredProduct[] = [];
  const allocationUsers = users.map((u) => {
    const list = configured.get(u.id);
    // A list grown by push keeps spare room for a dozen more; the cache keeps an exact copy.
    return {
      id: u.id,
      status: u.status,
      options: u.group_options ?? NO_OPTIONS,
      configured: list === undefined ? NOT_CONFIGURED : list.length > 1 ? list.slice() : list,
    };
  });
  const slotsByProduct = new Map<string, Slot[]>();
  for (const row of slotRows) {
    const slot: Slot = {
      slotNo: row.slot_no,
      holderUserId: row.holder_user_id === null ? null : userId(row.holder_user_id),
      windowStart: intern.date(row.window_start),
      earlyUsed: row.early_used,
    };
    const list = slotsByProduct.get(row.product_code);
    if (list) list.push(slot);
    else slotsByProduct.set(row.product_code, [slot]);
  }
  return { keys, users, usersById, assignments, slotRows, slotsByProduct, allocationUsers };
}

/** What the cache keeps of the inputs: without the rows only a write path needs. */
export function cachedInputs(inputs: AllocationInputs): AllocationInputs {
  return { keys: inputs.keys, users: inputs.users, slotsByProduct: inputs.slotsByProduct, allocationUsers: inputs.allocationUsers };
}

function sameEntitlements(a: readonly EntitlementView[], b: readonly EntitlementView[]): boolean {
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

/**
 * The allocation view at `now` from stored inputs: licence status,
 * entitlements and slot summaries are computed for this instant; `allocate`
 * runs unless `memo` was computed from equal inputs (then its result is
 * reused). Pure. Returns the memo that goes with the view.
 *
 * @example
 * const { view, memo } = allocationViewOf(org, catalog, now, await readAllocationInputs(db, org.id), null);
 */
export function allocationViewOf(
  org: OrganizationRow,
  catalog: Catalog,
  now: Date,
  inputs: AllocationInputs,
  memo: AllocateMemo | null,
): { view: AllocationView; memo: AllocateMemo } {
  const status = statusFrom(org, inputs.keys, now);
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
  org: OrganizationRow,
  catalog: Catalog,
  now: Date,
  inputs: LoadedInputs,
): { view: LoadedAllocation; memo: AllocateMemo } {
  const { view, memo } = allocationViewOf(org, catalog, now, inputs, null);
  return { view: { ...view, usersById: inputs.usersById, assignments: inputs.assignments, slotRows: inputs.slotRows }, memo };
}

/**
 * Loads the stored state and computes the allocation: four queries whatever
 * the number of users (R-API-4). Write paths call it on their transaction
 * (and `loadAllocationAfterWrites` for the view they end with); reads go
 * through the allocation cache.
 */
export async function loadAllocation(db: Executor, org: OrganizationRow, catalog: Catalog, now: Date): Promise<LoadedAllocation> {
  return loadedAllocationOf(org, catalog, now, await readAllocationInputs(db, org.id)).view;
}
