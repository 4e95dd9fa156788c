import DataLoader from 'dataloader';
import type { LicenseKey } from '../licenses/license-key.ts';
import type { AllocationCache } from '../allocation/cache.ts';
import type { AllocationView } from '../allocation/view.ts';
import { figuresOfView, type MappingFigures } from '../allocation/stored.ts';
import type { Catalog } from '../catalogs/types.ts';
import type { Clock } from '../clock.ts';
import type { Db } from '../db/database.ts';
import type { SessionSeatRow } from '../db/schema.ts';
import type { Organization, User, ConfigurationGroup, Site, Team } from '../tenancy/domain.ts';
import { keysOfOrganizations } from '../licenses/license.repository.ts';
import * as tenancy from '../tenancy/tenancy.repository.ts';
import { seatsOfSessions } from '../sessions/sessions.repository.ts';
import { type UnitUsage, unitUsageOf } from '../sessions/seat-usage.ts';
import { usersWithSecurityKey } from '../second-factor/security-keys.repository.ts';

/** Batches by id: a page of users costs one query per related table, not one per user (R-API-4). */
function byId<T extends { id: string }>(fetch: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T | undefined>(async (ids) => {
    const rows = await fetch(ids);
    const map = new Map(rows.map((r) => [r.id, r]));
    return ids.map((id) => map.get(id));
  });
}

function groupedBy<T, K extends keyof T>(key: K, fetch: (ids: readonly string[]) => Promise<T[]>) {
  return new DataLoader<string, T[]>(async (ids) => {
    const rows = await fetch(ids);
    const map = new Map<string, T[]>();
    for (const row of rows) {
      const k = String(row[key]);
      const list = map.get(k) ?? [];
      list.push(row);
      map.set(k, list);
    }
    return ids.map((id) => map.get(id) ?? []);
  });
}

type LoaderDeps = { clock: Clock; catalogs: ReadonlyMap<string, Catalog>; allocations: AllocationCache };

/** Keys of a loader keyed by organization and id (`userKey`, `sessionSeatsKey`), grouped by organization. */
function idsByOrganization(keys: readonly string[]): Map<string, string[]> {
  const byOrg = new Map<string, string[]>();
  for (const key of keys) {
    const [org = '', id = ''] = key.split(' ');
    const ids = byOrg.get(org);
    if (ids) ids.push(id);
    else byOrg.set(org, [id]);
  }
  return byOrg;
}

/**
 * The DataLoaders of one operation. Each is made when a resolver first reads
 * it: a request builds only those it uses (an agent client's start uses
 * none), instead of all fourteen with their caches and closures.
 */
export class Loaders {
  /** The loaders made so far, by name. */
  readonly #made = new Map<string, { clearAll(): unknown }>();

  constructor(
    private readonly db: Db,
    private readonly deps: LoaderDeps,
  ) {}

  /** Clears every loader made so far: after a write, the request's loaders hold rows of before it. */
  clearAll(): void {
    for (const loader of this.#made.values()) loader.clearAll();
  }

  /** The loader `name` of this operation, made by `make` on first use. */
  #once<T extends { clearAll(): unknown }>(name: string, make: () => T): T {
    let loader = this.#made.get(name) as T | undefined;
    if (!loader) {
      loader = make();
      this.#made.set(name, loader);
    }
    return loader;
  }

  /** A loader by organization id whose value needs the organization's row and catalog. */
  #perOrganization<V>(load: (org: Organization, catalog: Catalog, id: string) => Promise<V>): DataLoader<string, V> {
    return new DataLoader<string, V>((ids) =>
      Promise.all(
        ids.map(async (id) => {
          const org = await must(this.organization, id, 'organization');
          const catalog = this.deps.catalogs.get(org.catalog_code);
          if (!catalog) throw new Error(`catalog ${org.catalog_code} is not loaded`);
          return load(org, catalog, id);
        }),
      ),
    );
  }

  get organization(): DataLoader<string, Organization | undefined> {
    return this.#once('organization', () => byId<Organization>((ids) => tenancy.organizationsByIds(this.db, ids)));
  }

  /**
   * The named-licence allocation of an organization, once per request, at
   * the request's instant; its stored inputs come from the process-wide
   * cache while the organization's revision is unchanged. After a write in
   * the same request clear this loader and `organization` (which carries
   * the revision).
   */
  get allocation(): DataLoader<string, AllocationView> {
    return this.#once('allocation', () =>
      this.#perOrganization((org, catalog) => this.deps.allocations.view(this.db, org, catalog, this.deps.clock.now())),
    );
  }

  /**
   * What the licence mapping takes of the allocation, once per request:
   * from the cached allocation where the process holds it, else from the
   * allocation the last write stored while it is current (a just-started
   * gateway reads no user, assignment or slot), else computed as
   * `allocation` (which then holds it). Cleared with `allocation`.
   */
  get mapping(): DataLoader<string, MappingFigures> {
    return this.#once('mapping', () =>
      this.#perOrganization(async (org, catalog, id) => {
        const { allocations, clock } = this.deps;
        if (!allocations.holds(org)) {
          const stored = await allocations.storedMapping(this.db, org, catalog, clock.now());
          if (stored) return stored;
        }
        return figuresOfView(await this.allocation.load(id));
      }),
    );
  }

  get site(): DataLoader<string, Site | undefined> {
    return this.#once('site', () => byId<Site>((ids) => tenancy.sitesByIds(this.db, ids)));
  }

  get group(): DataLoader<string, ConfigurationGroup | undefined> {
    return this.#once('group', () => byId<ConfigurationGroup>((ids) => tenancy.groupsByIds(this.db, ids)));
  }

  get team(): DataLoader<string, Team | undefined> {
    return this.#once('team', () => byId<Team>((ids) => tenancy.teamsByIds(this.db, ids)));
  }

  get user(): DataLoader<string, User | undefined> {
    return this.#once('user', () => byId<User>((ids) => tenancy.usersByIds(this.db, ids)));
  }

  get groupsOfSite(): DataLoader<string, ConfigurationGroup[]> {
    return this.#once('groupsOfSite', () =>
      groupedBy<ConfigurationGroup, 'site_id'>('site_id', (ids) => tenancy.groupsOfSites(this.db, ids)),
    );
  }

  get licenseKeys(): DataLoader<string, LicenseKey[]> {
    return this.#once('licenseKeys', () =>
      groupedBy<LicenseKey, 'organization_id'>('organization_id', (ids) => keysOfOrganizations(this.db, ids)),
    );
  }

  get membersOfTeam(): DataLoader<string, User[]> {
    return this.#once('membersOfTeam', () => groupedBy<User, 'team_id'>('team_id', (ids) => tenancy.membersOfTeams(this.db, ids)));
  }

  /**
   * R-RES-6: per concurrent product, the sites' and groups' reservations,
   * caps and seats in use (seatUsage's units), once per organization of a
   * request: the licence mapping's rows read it, not a query each.
   */
  get seatUnits(): DataLoader<string, Map<string, UnitUsage[]>> {
    return this.#once(
      'seatUnits',
      () => new DataLoader<string, Map<string, UnitUsage[]>>((ids) => Promise.all(ids.map((id) => unitUsageOf(this.db, id)))),
    );
  }

  /** The seat and unit rows of sessions, keyed by `sessionSeatsKey`: one query per organization of a page of sessions. */
  get sessionSeats(): DataLoader<string, SessionSeatRow[]> {
    return this.#once(
      'sessionSeats',
      () =>
        new DataLoader<string, SessionSeatRow[]>(async (keys) => {
          const byOrg = idsByOrganization(keys);
          const rows = (await Promise.all([...byOrg].map(([org, ids]) => seatsOfSessions(this.db, org, ids)))).flat();
          const map = new Map<string, SessionSeatRow[]>();
          for (const row of rows) {
            const key = sessionSeatsKey(row.organization_id, row.session_id);
            map.set(key, [...(map.get(key) ?? []), row]);
          }
          return keys.map((key) => map.get(key) ?? []);
        }),
    );
  }

  /**
   * Whether a user has a security key enrolled (R-2FA-2), keyed by
   * `userKey`: one query per organization however many users a request
   * asks about. A write of the fact clears its key.
   */
  get securityKey(): DataLoader<string, boolean> {
    return this.#once(
      'securityKey',
      () =>
        new DataLoader<string, boolean>(async (keys) => {
          const enrolled = new Set<string>();
          for (const [org, ids] of await Promise.all(
            [...idsByOrganization(keys)].map(async ([org, ids]) => [org, await usersWithSecurityKey(this.db, org, ids)] as const),
          )) {
            for (const id of ids) enrolled.add(userKey(org, id));
          }
          return keys.map((key) => enrolled.has(key));
        }),
    );
  }
}

export function createLoaders(db: Db, deps: LoaderDeps): Loaders {
  return new Loaders(db, deps);
}

/** The key of a user in a loader keyed by organization and user (ids never hold a space). */
export const userKey = (organizationId: string, userId: string) => `${organizationId} ${userId}`;

/** The key of a session in `sessionSeats` (ids never hold a space). */
export const sessionSeatsKey = (organizationId: string, sessionId: string) => `${organizationId} ${sessionId}`;

/** Loads a row that must exist (a foreign key points at it). */
export async function must<T>(loader: DataLoader<string, T | undefined>, id: string, what: string): Promise<T> {
  const row = await loader.load(id);
  if (row === undefined) throw new Error(`${what} ${id} vanished`);
  return row;
}
