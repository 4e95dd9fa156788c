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

/**
 * An object whose every property is made by its factory on first read, then
 * kept: a request builds only the loaders it uses (most use one or none).
 * The properties are own and enumerable, so `Object.values` reaches them all.
 */
/** `make`'s value, made on the first call and kept. */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => {
    made ??= { value: make() };
    return made.value;
  };
}

function lazily<T extends object>(factories: { [K in keyof T]: () => T[K] }): T {
  const out = {} as T;
  for (const key of Object.keys(factories) as (keyof T)[]) {
    Object.defineProperty(out, key, {
      enumerable: true,
      configurable: true,
      get() {
        const value = factories[key]();
        Object.defineProperty(out, key, { value, enumerable: true, writable: false, configurable: false });
        return value;
      },
    });
  }
  return out;
}

export function createLoaders(db: Db, deps: { clock: Clock; catalogs: ReadonlyMap<string, Catalog>; allocations: AllocationCache }) {
  const organization = once(() => byId<Organization>((ids) => tenancy.organizationsByIds(db, ids)));
  const { allocations } = deps;
  const scopeOf = async (id: string) => {
    const org = await must(organization(), id, 'organization');
    const catalog = deps.catalogs.get(org.catalog_code);
    if (!catalog) throw new Error(`catalog ${org.catalog_code} is not loaded`);
    return { org, catalog };
  };
  /**
   * The named-licence allocation of an organization, once per request, at
   * the request's instant; its stored inputs come from the process-wide
   * cache while the organization's revision is unchanged. After a write in
   * the same request clear this loader and `organization` (which carries
   * the revision).
   */
  const allocation = once(
    () =>
      new DataLoader<string, AllocationView>((ids) =>
        Promise.all(
          ids.map(async (id) => {
            const { org, catalog } = await scopeOf(id);
            return allocations.view(db, org, catalog, deps.clock.now());
          }),
        ),
      ),
  );
  return lazily({
    organization,
    allocation,
    /**
     * What the licence mapping takes of the allocation, once per request:
     * from the cached allocation where the process holds it, else from the
     * allocation the last write stored while it is current (a just-started
     * gateway reads no user, assignment or slot), else computed as
     * `allocation` (which then holds it). Cleared with `allocation`.
     */
    mapping: () =>
      new DataLoader<string, MappingFigures>((ids) =>
        Promise.all(
          ids.map(async (id) => {
            const { org, catalog } = await scopeOf(id);
            if (!allocations.holds(org)) {
              const stored = await allocations.storedMapping(db, org, catalog, deps.clock.now());
              if (stored) return stored;
            }
            return figuresOfView(await allocation().load(id));
          }),
        ),
      ),
    site: () => byId<Site>((ids) => tenancy.sitesByIds(db, ids)),
    group: () => byId<ConfigurationGroup>((ids) => tenancy.groupsByIds(db, ids)),
    team: () => byId<Team>((ids) => tenancy.teamsByIds(db, ids)),
    user: () => byId<User>((ids) => tenancy.usersByIds(db, ids)),
    groupsOfSite: () => groupedBy<ConfigurationGroup, 'site_id'>('site_id', (ids) => tenancy.groupsOfSites(db, ids)),
    licenseKeys: () => groupedBy<LicenseKey, 'organization_id'>('organization_id', (ids) => keysOfOrganizations(db, ids)),
    membersOfTeam: () => groupedBy<User, 'team_id'>('team_id', (ids) => tenancy.membersOfTeams(db, ids)),
    /**
     * R-RES-6: per concurrent product, the sites' and groups' reservations,
     * caps and seats in use (seatUsage's units), once per organization of a
     * request: the licence mapping's rows read it, not a query each.
     */
    seatUnits: () => new DataLoader<string, Map<string, UnitUsage[]>>((ids) => Promise.all(ids.map((id) => unitUsageOf(db, id)))),
    /** The seat and unit rows of sessions, keyed by `sessionSeatsKey`: one query per organization of a page of sessions. */
    sessionSeats: () =>
      new DataLoader<string, SessionSeatRow[]>(async (keys) => {
        const byOrg = new Map<string, string[]>();
        for (const key of keys) {
          const [org = '', id = ''] = key.split(' ');
          byOrg.set(org, [...(byOrg.get(org) ?? []), id]);
        }
        const rows = (await Promise.all([...byOrg].map(([org, ids]) => seatsOfSessions(db, org, ids)))).flat();
        const map = new Map<string, SessionSeatRow[]>();
        for (const row of rows) {
          const key = sessionSeatsKey(row.organization_id, row.session_id);
          map.set(key, [...(map.get(key) ?? []), row]);
        }
        return keys.map((key) => map.get(key) ?? []);
      }),
    /**
     * Whether a user has a security key enrolled (R-2FA-2), keyed by
     * `userKey`: one query per organization however many users a request
     * asks about. A write of the fact clears its key.
     */
    securityKey: () =>
      new DataLoader<string, boolean>(async (keys) => {
        const byOrg = new Map<string, string[]>();
        for (const key of keys) {
          const [org = '', id = ''] = key.split(' ');
          byOrg.set(org, [...(byOrg.get(org) ?? []), id]);
        }
        const enrolled = new Set<string>();
        for (const [org, ids] of await Promise.all(
          [...byOrg].map(async ([org, ids]) => [org, await usersWithSecurityKey(db, org, ids)] as const),
        )) {
          for (const id of ids) enrolled.add(userKey(org, id));
        }
        return keys.map((key) => enrolled.has(key));
      }),
  });
}

export type Loaders = ReturnType<typeof createLoaders>;

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
