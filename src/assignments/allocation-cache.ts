/**
 * The named-licence allocation of an organization for reads (R-PERF-2),
 * without reading every user, assignment, slot and key per request.
 *
 * An entry holds what `readAllocationInputs` read (without the rows only
 * write paths need), keyed by the organization's `revision` (migration 0005:
 * triggers bump it with every change of an input, by any writer on any
 * instance), and the last result of `allocate` with the inputs it came from.
 * Each request still computes everything that depends on the instant
 * (licence status, entitlements, slot summaries and the licences bound by the
 * cool-down) and reruns `allocate`, without SQL, when those differ from the
 * memo's: the view is exactly what `loadAllocation` gives at that instant.
 *
 * Entries come from two places. A read that misses reads the inputs; its key
 * is the revision of the organization row the request read *before* the
 * inputs, so an entry never holds data older than its key, and a request
 * whose row is newer misses and reads again. A write transaction
 * (`writeTransaction`) publishes the allocation it ended with once it has
 * committed, under the revision the organization had at its end: the first
 * read after a write does not read everything again. Write paths never read
 * from the cache.
 *
 * Entries, their users and their results are shared between requests and
 * must not be mutated. Memory is bounded by the users cached over all
 * organizations (least recently used first out); an organization larger than
 * the bound is not kept.
 *
 * @example
 * const view = await allocationCacheOf(db).view(db, org, catalog, clock.now());
 */
import type { Catalog } from '../catalogs/types.ts';
import { DEFAULT_ALLOCATION_CACHE_USERS } from '../config.ts';
import type { Db, Executor, Trx } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import type { OrganizationRow } from '../db/schema.ts';
import {
  allocationViewOf,
  cachedInputs,
  loadAllocation,
  loadedAllocationOf,
  readAllocationInputs,
  type AllocateMemo,
  type AllocationInputs,
  type AllocationView,
  type LoadedAllocation,
} from './allocation-view.ts';
import { organizationRevision } from './assignments.repository.ts';

interface Entry {
  revision: number;
  /** Shared by the requests of one revision that arrive while it is read. */
  inputs: Promise<AllocationInputs>;
  /** Users counted against the bound; 0 while the read is pending. */
  users: number;
  memo: AllocateMemo | null;
}

export class AllocationCache {
  /** In use order: the least recently used first. */
  private readonly entries = new Map<string, Entry>();
  private users = 0;
  private maxUsers: number;

  constructor(maxUsers: number = DEFAULT_ALLOCATION_CACHE_USERS) {
    this.maxUsers = maxUsers;
  }

  /** Changes the bound; 0 disables the cache (every read computes from SQL). */
  setMaxUsers(maxUsers: number): void {
    this.maxUsers = maxUsers;
    this.evict();
  }

  /**
   * Counters since the cache was made: views served from a cached entry,
   * reads of the inputs from SQL, runs of `allocate` (a miss, or an instant
   * whose licence status or cool-down differs from the memo's), and
   * allocations of committed write transactions put in.
   */
  readonly stats = { hits: 0, misses: 0, allocations: 0, published: 0 };

  /** Users held now. */
  get cachedUsers(): number {
    return this.users;
  }

  /** Forgets every entry (the next read of each organization goes to SQL). */
  clear(): void {
    this.entries.clear();
    this.users = 0;
  }

  /** The allocation view of `org` at `now`; equal to `loadAllocation(db, org, catalog, now)`. */
  async view(db: Db, org: OrganizationRow, catalog: Catalog, now: Date): Promise<AllocationView> {
    let entry = this.entries.get(org.id);
    if (this.maxUsers <= 0 || (entry && entry.revision > org.revision)) {
      // Disabled; or this request read the organization row before a change the entry already holds: it reads its own.
      this.stats.misses += 1;
      this.stats.allocations += 1;
      return loadAllocation(db, org, catalog, now);
    }
    if (entry && entry.revision === org.revision) {
      this.stats.hits += 1;
      this.entries.delete(org.id);
      this.entries.set(org.id, entry);
    } else {
      this.stats.misses += 1;
      entry = this.store(db, org);
    }
    const inputs = await entry.inputs;
    const { view, memo } = allocationViewOf(org, catalog, now, inputs, entry.memo);
    if (memo !== entry.memo) this.stats.allocations += 1;
    entry.memo = memo;
    return view;
  }

  private store(db: Db, org: OrganizationRow): Entry {
    this.remove(org.id);
    const entry: Entry = { revision: org.revision, inputs: readAllocationInputs(db, org.id).then(cachedInputs), users: 0, memo: null };
    this.entries.set(org.id, entry);
    entry.inputs.then(
      (inputs) => {
        if (this.entries.get(org.id) !== entry) return;
        entry.users = inputs.users.length;
        this.users += entry.users;
        this.evict();
      },
      () => {
        if (this.entries.get(org.id) === entry) this.remove(org.id);
      },
    );
    return entry;
  }

  /**
   * Puts the allocation a committed write transaction ended with under the
   * revision the organization had at its end (see `writeTransaction`),
   * unless the cache already holds that revision or a later one.
   */
  publish(organizationId: string, revision: number, inputs: AllocationInputs, memo: AllocateMemo): void {
    if (this.maxUsers <= 0 || inputs.users.length > this.maxUsers) return;
    const current = this.entries.get(organizationId);
    if (current && current.revision >= revision) return;
    this.remove(organizationId);
    const entry: Entry = { revision, inputs: Promise.resolve(cachedInputs(inputs)), users: inputs.users.length, memo };
    this.entries.set(organizationId, entry);
    this.users += entry.users;
    this.stats.published += 1;
    this.evict();
  }

  private remove(organizationId: string): void {
    const entry = this.entries.get(organizationId);
    if (!entry) return;
    this.users -= entry.users;
    this.entries.delete(organizationId);
  }

  private evict(): void {
    if (this.maxUsers <= 0) {
      this.entries.clear();
      this.users = 0;
      return;
    }
    for (const id of this.entries.keys()) {
      if (this.users <= this.maxUsers) break;
      this.remove(id);
    }
  }
}

/**
 * One cache per database handle: entries are only valid for the database
 * they were read from. Several apps on one handle (tests) share it, which
 * the revision keys make safe.
 */
const caches = new WeakMap<Db, AllocationCache>();
let configuredMaxUsers = DEFAULT_ALLOCATION_CACHE_USERS;

export function allocationCacheOf(db: Db): AllocationCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new AllocationCache(configuredMaxUsers);
    caches.set(db, cache);
  }
  return cache;
}

/**
 * ALLOCATION_CACHE_USERS (config.allocationCacheUsers): the bound of caches
 * made from now on (call it before serving), or of the one cache of `db`.
 */
export function configureAllocationCache(maxUsers: number, db?: Db): void {
  if (db) {
    allocationCacheOf(db).setMaxUsers(maxUsers);
    return;
  }
  configuredMaxUsers = maxUsers;
}

/** An allocation a write transaction computed, to publish once it commits. */
interface Pending {
  /** The organization's revision right after the inputs were read. */
  revision: number;
  inputs: AllocationInputs;
  memo: AllocateMemo;
}

/** The allocations to publish per open write transaction, by organization. */
const pendingOf = new WeakMap<Executor, Map<string, Pending>>();

/**
 * Runs `work` in a transaction of `db`, like `db.transaction().execute`.
 * The allocation it loaded last with `loadAllocationAfterWrites` (per
 * organization) goes into the cache once the transaction has committed,
 * under the revision the organization has at its end, read as the
 * transaction's last statements. Every caller holds the organization's row
 * lock until the commit, so no other writer can move that revision in
 * between; the transaction's own trigger bumps are in it. If the revision
 * moved after the allocation was loaded (a later write in the same
 * transaction), nothing is published. A transaction that rolls back (an
 * error, a dry run) publishes nothing.
 *
 * @example
 * await writeTransaction(ctx.db, async (trx) => {
 *   await lockOrganization(trx, org.id);
 *   … writes …
 *   await persistAllocation(trx, await loadAllocationAfterWrites(trx, org, catalog, now), actor);
 * });
 */
export async function writeTransaction<T>(db: Db, work: (trx: Trx) => Promise<T>): Promise<T> {
  let pending = new Map<string, Pending>();
  // A run aborted by a deadlock or serialization failure is run again whole (withTransaction); only the last run publishes.
  const value = await withTransaction(db, async (trx) => {
    pending = new Map<string, Pending>();
    pendingOf.set(trx, pending);
    const result = await work(trx);
    for (const [id, p] of pending) if ((await organizationRevision(trx, id)) !== p.revision) pending.delete(id);
    return result;
  });
  const cache = allocationCacheOf(db);
  for (const [id, p] of pending) cache.publish(id, p.revision, p.inputs, p.memo);
  return value;
}

/**
 * `loadAllocation` for the view a write transaction ends with: load it after
 * the transaction's last change of an input (users, groups, assignments,
 * slots, keys, the organization row). Within `writeTransaction` it is
 * published to the cache once the transaction commits; elsewhere it is just
 * `loadAllocation`.
 */
export async function loadAllocationAfterWrites(
  trx: Executor,
  org: OrganizationRow,
  catalog: Catalog,
  now: Date,
): Promise<LoadedAllocation> {
  const inputs = await readAllocationInputs(trx, org.id);
  const { view, memo } = loadedAllocationOf(org, catalog, now, inputs);
  const pending = pendingOf.get(trx);
  if (pending) {
    const revision = await organizationRevision(trx, org.id);
    if (revision !== undefined) pending.set(org.id, { revision, inputs, memo });
  }
  return view;
}
