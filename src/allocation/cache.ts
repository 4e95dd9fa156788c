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
 * One per app: `createApp` builds it (bound ALLOCATION_CACHE_USERS) and hands
 * it through the Context (`ctx.caches.allocation`; `ctx.writeTransaction`
 * runs `writeTransaction` with it); background sweeps get it passed.
 *
 * Entries, their users and their results are shared between requests and
 * must not be mutated. Memory is bounded by the users cached over all
 * organizations (least recently used first out); an organization larger than
 * the bound is not kept.
 *
 * @example
 * const cache = new AllocationCache({ maxUsers: config.allocationCacheUsers, parsedKeys });
 * const view = await cache.view(db, org, catalog, clock.now());
 */
import type { Catalog } from '../catalogs/types.ts';
import type { LicenseKey } from '../licenses/license-key.ts';
import type { Organization } from '../tenancy/domain.ts';
import type { Db, Executor, Trx } from '../db/database.ts';
import { withTransaction } from '../db/transaction.ts';
import type { LicenseStatusResult } from '../licensing/lifecycle.ts';
import { organizationRevision } from './allocation.repository.ts';
import { cachedInputs, readAllocationInputs, type AllocationInputs } from './inputs.ts';
import type { ParsedKeys } from './keys.ts';
import { readStoredMapping, storeAllocation, type MappingFigures } from './stored.ts';
import {
  allocationViewOf,
  loadAllocation,
  loadedAllocationOf,
  type AllocateMemo,
  type AllocationView,
  type LoadedAllocation,
} from './view.ts';

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
  /** Parses the stored keys of every view (shared with the app's other licence status reads). */
  readonly parsedKeys: ParsedKeys | undefined;

  constructor(options: { maxUsers?: number; parsedKeys?: ParsedKeys } = {}) {
    this.maxUsers = options.maxUsers ?? DEFAULT_ALLOCATION_CACHE_USERS;
    this.parsedKeys = options.parsedKeys;
  }

  /** Changes the bound; 0 disables the cache (every read computes from SQL; the licence mapping may still come from the stored allocation). */
  setMaxUsers(maxUsers: number): void {
    this.maxUsers = maxUsers;
    this.evict();
  }

  /**
   * Counters since the cache was made: views served from a cached entry,
   * reads of the inputs from SQL, runs of `allocate` (a miss, or an instant
   * whose licence status or cool-down differs from the memo's), and
   * allocations of committed write transactions put in, and licence
   * mappings served from the stored allocation (`storedMapping`).
   */
  readonly stats = { hits: 0, misses: 0, allocations: 0, published: 0, stored: 0 };

  /** Users held now. */
  get cachedUsers(): number {
    return this.users;
  }

  /** Forgets every entry (the next read of each organization goes to SQL). */
  clear(): void {
    this.entries.clear();
    this.users = 0;
  }

  /** True when a view of `org` (at its revision) comes from a cached entry, without reading the inputs. */
  holds(org: Organization): boolean {
    return this.maxUsers > 0 && this.entries.get(org.id)?.revision === org.revision;
  }

  /**
   * The licence mapping's figures of `org` at `now` from the allocation the
   * last write stored (stored.ts), or null when they are not current: for a
   * read that `holds` no entry for, instead of reading every input.
   */
  async storedMapping(db: Db, org: Organization, catalog: Catalog, now: Date): Promise<MappingFigures | null> {
    const figures = await readStoredMapping(db, org.id, catalog, now, this.parsedKeys);
    if (figures) this.stats.stored += 1;
    return figures;
  }

  /** The allocation view of `org` at `now`; equal to `loadAllocation(db, org, catalog, now)`. */
  async view(db: Db, org: Organization, catalog: Catalog, now: Date): Promise<AllocationView> {
    let entry = this.entries.get(org.id);
    if (this.maxUsers <= 0 || (entry && entry.revision > org.revision)) {
      // Disabled; or this request read the organization row before a change the entry already holds: it reads its own.
      this.stats.misses += 1;
      this.stats.allocations += 1;
      return loadAllocation(db, org, catalog, now, this.parsedKeys);
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
    const { view, memo } = allocationViewOf(org, catalog, now, inputs, entry.memo, { parsedKeys: this.parsedKeys });
    if (memo !== entry.memo) this.stats.allocations += 1;
    entry.memo = memo;
    return view;
  }

  private store(db: Db, org: Organization): Entry {
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

  /**
   * Runs `work` in a transaction of `db` whose last allocation per
   * organization is published here at commit (see `writeTransaction`).
   */
  writeTransaction<T>(db: Db, work: (trx: Trx, write: AllocationWrite) => Promise<T>): Promise<T> {
    return writeTransaction(db, this, work);
  }
}

/** ALLOCATION_CACHE_USERS default: one 100,000-user organization and then some (about 0.85 KiB of heap per cached user: ~100 MiB). */
export const DEFAULT_ALLOCATION_CACHE_USERS = 120_000;

/** An allocation a write transaction computed, to store and publish once it commits. */
interface Pending {
  /** The organization's revision right after the inputs were read. */
  revision: number;
  inputs: AllocationInputs;
  memo: AllocateMemo;
  view: AllocationView;
}

/**
 * One run of a write transaction, as `writeTransaction` hands it to its work:
 * loads the allocation on the transaction and remembers, per organization,
 * the last one loaded after the transaction's writes, to publish at commit.
 */
export class AllocationWrite {
  /** The allocations to store and publish, by organization. */
  readonly pending = new Map<string, Pending>();

  constructor(
    readonly trx: Executor,
    readonly parsedKeys: ParsedKeys | undefined,
  ) {}

  /** The allocation as the transaction sees it now, without publishing it (e.g. the state before a change). */
  load(org: Organization, catalog: Catalog, now: Date): Promise<LoadedAllocation> {
    return loadAllocation(this.trx, org, catalog, now, this.parsedKeys);
  }

  /**
   * `load` for the view the transaction ends with: call it after the
   * transaction's last change of an input (users, groups, assignments,
   * slots, keys, the organization row). It is stored (stored.ts) as the
   * transaction's last statement and published to the cache once the
   * transaction commits. `known` passes what the caller holds already
   * as the transaction sees it now: the organization's keys and their
   * licence status at `now`, which are then neither read nor computed again.
   */
  async loadAfterWrites(
    org: Organization,
    catalog: Catalog,
    now: Date,
    known: { keys?: LicenseKey[]; status?: LicenseStatusResult } = {},
  ): Promise<LoadedAllocation> {
    const inputs = await readAllocationInputs(this.trx, org.id, { keys: known.keys });
    const { view, memo } = loadedAllocationOf(org, catalog, now, inputs, { parsedKeys: this.parsedKeys, status: known.status });
    const revision = await organizationRevision(this.trx, org.id);
    if (revision !== undefined) this.pending.set(org.id, { revision, inputs, memo, view });
    return view;
  }
}

/**
 * Runs `work` in a transaction of `db`, like `db.transaction().execute`.
 * The allocation it loaded last with `write.loadAfterWrites` (per
 * organization) is stored (`storeAllocation`, the transaction's last
 * statements) and goes into `cache` once the transaction has committed,
 * under the revision the organization has at its end, read just before. Every caller holds the organization's row
 * lock until the commit, so no other writer can move that revision in
 * between; the transaction's own trigger bumps are in it. If the revision
 * moved after the allocation was loaded (a later write in the same
 * transaction), nothing is stored or published. A transaction that rolls
 * back (an error, a dry run) stores and publishes nothing; without a cache
 * the allocation is still stored.
 *
 * @example
 * await ctx.writeTransaction(async (trx, write) => {
 *   await lockOrganization(trx, org.id);
 *   … writes …
 *   await persistAllocation(trx, await write.loadAfterWrites(org, catalog, now), actor);
 * });
 */
export async function writeTransaction<T>(
  db: Db,
  cache: AllocationCache | null,
  work: (trx: Trx, write: AllocationWrite) => Promise<T>,
  parsedKeys: ParsedKeys | undefined = cache?.parsedKeys,
): Promise<T> {
  let write: AllocationWrite | null = null;
  // A run aborted by a deadlock or serialization failure is run again whole (withTransaction); only the last run publishes.
  const value = await withTransaction(db, async (trx) => {
    const run = new AllocationWrite(trx, parsedKeys);
    write = run;
    const result = await work(trx, run);
    for (const [id, p] of run.pending) if ((await organizationRevision(trx, id)) !== p.revision) run.pending.delete(id);
    // The stored row takes no input's revision bump: it goes with the revision just checked.
    for (const [id, p] of run.pending) await storeAllocation(trx, id, p.revision, p.view, p.inputs);
    return result;
  });
  const done = write as AllocationWrite | null;
  if (cache && done) for (const [id, p] of done.pending) cache.publish(id, p.revision, p.inputs, p.memo);
  return value;
}
