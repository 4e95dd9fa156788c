/**
 * The stored state the named-licence allocation of one organization is
 * computed from, read in four queries whatever the number of users (R-API-4).
 *
 * @example
 * const inputs = await readAllocationInputs(trx, org.id);
 * inputs.allocationUsers; // as `allocate` takes them
 */
import type { Executor } from '../db/database.ts';
import type { LicenseKey } from '../licenses/license-key.ts';
import type { AssignmentRow, LicenseSlotRow } from '../db/schema.ts';
import type { AllocationUser, ConfiguredProduct } from '../licensing/allocation.ts';
import type { Slot } from '../licensing/reassignment.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import * as repo from './allocation.repository.ts';

/**
 * The stored state the allocation is computed from: everything but the
 * organization row, the catalog and the instant. What the allocation cache
 * keeps per organization; read-only once built.
 */
export interface AllocationInputs {
  keys: LicenseKey[];
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

/**
 * Reads the allocation's inputs: four queries whatever the number of users
 * (R-API-4); three when the caller already holds the organization's keys as
 * this executor sees them now (`known.keys`, e.g. read under the
 * organization's row lock, with the rows it inserted since).
 */
export async function readAllocationInputs(
  db: Executor,
  organizationId: string,
  known: { keys?: LicenseKey[] } = {},
): Promise<LoadedInputs> {
  const [keys, users, assignments, slotRows] = await Promise.all([
    known.keys ?? keysOfOrganizations(db, [organizationId]),
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
    // Only ACTIVE users hold a base licence (R-TEN-4): a slot a stored row still gives to another user (written
    // before that rule; the next configuration change releases it) reads as released, with its window.
    const holder = row.holder_user_id === null ? undefined : usersById.get(row.holder_user_id);
    const slot: Slot = {
      slotNo: row.slot_no,
      holderUserId: holder?.status === 'ACTIVE' ? holder.id : null,
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
