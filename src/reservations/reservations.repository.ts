import { sql } from 'kysely';
import type { Executor } from '../db/database.ts';
import type { SeatBound, UnitSeats } from '../licensing/reservations.ts';

/* All SQL for seat reservations and caps per site and configuration group (R-RES). */

/** A stored bound with its unit's name. */
export interface StoredBound extends SeatBound {
  product: string;
  siteName: string;
  groupName: string | null;
}

/** The bounds of the organization (of one product, when given), sites before their groups. */
export async function boundsOf(db: Executor, organizationId: string, product?: string): Promise<StoredBound[]> {
  let q = db
    .selectFrom('seat_bounds as b')
    .innerJoin('sites as s', (j) => j.onRef('s.organization_id', '=', 'b.organization_id').onRef('s.id', '=', 'b.site_id'))
    .leftJoin('configuration_groups as g', (j) =>
      j.onRef('g.organization_id', '=', 'b.organization_id').onRef('g.id', '=', 'b.configuration_group_id'),
    )
    .select([
      'b.product_code',
      'b.site_id',
      'b.configuration_group_id',
      'b.reserved',
      'b.cap',
      's.name as site_name',
      'g.name as group_name',
    ])
    .where('b.organization_id', '=', organizationId);
  if (product !== undefined) q = q.where('b.product_code', '=', product);
  const rows = await q
    .orderBy(sql`b.product_code collate "C"`)
    .orderBy('s.name')
    .orderBy(sql`b.configuration_group_id is not null`)
    .orderBy('g.name')
    .execute();
  return rows.map((r) => ({
    product: r.product_code,
    siteId: r.site_id,
    groupId: r.configuration_group_id,
    reserved: r.reserved,
    cap: r.cap,
    siteName: r.site_name,
    groupName: r.group_name,
    label: r.group_name === null ? `site ${r.site_name}` : `group ${r.group_name}`,
  }));
}

/**
 * Open seats of `product` by the site and group their holders had when they
 * took them. Exact when the caller holds the pool's row lock: every take and
 * every release of the pool's seats waits for it (lock-order.ts).
 */
export async function openSeatsByUnit(db: Executor, organizationId: string, product: string): Promise<UnitSeats[]> {
  const rows = await db
    .selectFrom('sessions as s')
    .innerJoin('session_seats as ss', (j) => j.onRef('ss.organization_id', '=', 's.organization_id').onRef('ss.session_id', '=', 's.id'))
    .select(['ss.site_id', 'ss.configuration_group_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('s.organization_id', '=', organizationId)
    .where('s.ended_at', 'is', null)
    .where('ss.product_code', '=', product)
    .groupBy(['ss.site_id', 'ss.configuration_group_id'])
    .execute();
  return rows.map((r) => ({ siteId: r.site_id, groupId: r.configuration_group_id, seats: Number(r.n) }));
}

/** Writes one bound; a bound with no reservation and no cap is removed. */
export async function putBound(
  db: Executor,
  organizationId: string,
  b: { product: string; siteId: string; groupId: string | null; reserved: number; cap: number | null },
): Promise<void> {
  let del = db
    .deleteFrom('seat_bounds')
    .where('organization_id', '=', organizationId)
    .where('product_code', '=', b.product)
    .where('site_id', '=', b.siteId);
  del = b.groupId === null ? del.where('configuration_group_id', 'is', null) : del.where('configuration_group_id', '=', b.groupId);
  await del.execute();
  if (b.reserved === 0 && b.cap === null) return;
  await db
    .insertInto('seat_bounds')
    .values({
      organization_id: organizationId,
      product_code: b.product,
      site_id: b.siteId,
      configuration_group_id: b.groupId,
      reserved: b.reserved,
      cap: b.cap,
    })
    .execute();
}

/** Open seats of every pool of the organization by product and the site and group their holders had (seatUsage, R-RES-6). */
export async function openSeatsOfOrganization(db: Executor, organizationId: string): Promise<(UnitSeats & { product: string })[]> {
  const rows = await db
    .selectFrom('sessions as s')
    .innerJoin('session_seats as ss', (j) => j.onRef('ss.organization_id', '=', 's.organization_id').onRef('ss.session_id', '=', 's.id'))
    .select(['ss.product_code', 'ss.site_id', 'ss.configuration_group_id', (eb) => eb.fn.countAll<string>().as('n')])
    .where('s.organization_id', '=', organizationId)
    .where('s.ended_at', 'is', null)
    .groupBy(['ss.product_code', 'ss.site_id', 'ss.configuration_group_id'])
    .execute();
  return rows.map((r) => ({ product: r.product_code, siteId: r.site_id, groupId: r.configuration_group_id, seats: Number(r.n) }));
}

/** Site names by id, of one organization. */
export async function siteNames(db: Executor, organizationId: string, ids: readonly string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .selectFrom('sites')
    .select(['id', 'name'])
    .where('organization_id', '=', organizationId)
    .where('id', 'in', ids)
    .execute();
  return new Map(rows.map((r) => [r.id, r.name]));
}
