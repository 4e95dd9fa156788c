/**
 * The named-licence allocation of an organization for reads (R-PERF-2),
 * without reading every user, assignment, slot and key per request.
 *
 * An entry holds what `readAllocationInputs` read, keyed by the
 * organization's `revision` (migration 0005: triggers bump it with every
 * change of an input, by any writer on any instance), and the last result of
 * `allocate` with the inputs it came from. Each request still computes
 * everything that depends on the instant (licence status, entitlements, slot
 * summaries and the licences bound by the cool-down) and reruns `allocate`,
 * without SQL, when those differ from the memo's: the view is exactly what
 * `loadAllocation` gives at that instant.
 *
 * The key is the revision of the organization row the request read *before*
 * the inputs, so an entry never holds data older than its key; a request
 * whose row is newer misses and reads again. Write paths never use it: they
 * call `loadAllocation` on their transaction.
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
import type { Db } from '../db/database.ts';
import type { OrganizationRow } from '../db/schema.ts';
import { allocationViewOf, loadAllocation, readAllocationInputs, type AllocateMemo, type AllocationInputs, type AllocationView } from './assignments.service.ts';


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
   * reads of the inputs from SQL, and runs of `allocate` (a miss, or an
   * instant whose licence status or cool-down differs from the memo's).
   */
  readonly stats = { hits: 0, misses: 0, allocations: 0 };

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
    const entry: Entry = { revision: org.revision, inputs: readAllocationInputs(db, org.id), users: 0, memo: null };
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
