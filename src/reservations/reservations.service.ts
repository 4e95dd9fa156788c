/**
 * Seat reservations and caps per site and configuration group (R-RES-1 …
 * R-RES-6): `setSeatBound` writes one unit's bound of one concurrent
 * product, checked against its site's reservation and the pool's regular
 * capacity (licensing/reservations.ts), in the lock order (lock-order.ts:
 * the organization row, then the pool row, so the seats it reports are
 * exact). `dryRun` runs the same change and rolls it back.
 */
import type { Context } from '../context.ts';
import type { SeatBoundsInput } from '../licensing/explain.ts';
import type { User } from '../tenancy/domain.ts';
import { getGroup, getSite, lockOrganizationFor } from '../tenancy/access.ts';
import { badInput } from '../errors.ts';
import { isId } from '../ids.ts';
import { boundsProblem, seatsOfUnit } from '../licensing/reservations.ts';
import { withTransaction } from '../db/transaction.ts';
import { lockPoolCounter, poolsOfOrganizations } from '../sessions/sessions.repository.ts';
import { catalogOf } from '../tenancy/access.ts';
import { boundsOf, openSeatsByUnit, putBound } from './reservations.repository.ts';

export interface SeatBoundInput {
  product: string;
  siteId?: string | null;
  configurationGroupId?: string | null;
  reserved?: number | null;
  cap?: number | null;
  dryRun?: boolean | null;
}

export interface SeatBoundResult {
  applied: boolean;
  product: string;
  siteId: string;
  siteName: string;
  groupId: string | null;
  groupName: string | null;
  reserved: number;
  cap: number | null;
  inUse: number;
  /** Seats its members hold beyond the new cap (they keep them; no new seat until below it). */
  overCap: number;
}

/** Thrown to roll a dry run back after it computed its answer. */
class Rehearsed extends Error {
  constructor(readonly result: SeatBoundResult) {
    super('dry run');
  }
}

const MAX_SEATS = 1_000_000;

/**
 * R-RES-1, R-RES-2, R-RES-5: sets the reservation and cap of one concurrent
 * product on a site or a configuration group (exactly one of `siteId`,
 * `configurationGroupId`). `reserved` 0 and `cap` null remove the bound.
 * Refused, naming the numbers, when a group's reservations would exceed its
 * site's, the sites' would exceed the pool's regular capacity, or a cap is
 * below its reservation. A cap below the seats held now is accepted: they
 * keep their seats, and no member gets a new one until below it.
 *
 * @example
 * await setSeatBound(ctx, { product: 'AGENT_SEAT', siteId: berlin, reserved: 20 });
 */
export async function setSeatBound(ctx: Context, input: SeatBoundInput): Promise<SeatBoundResult> {
  const reserved = input.reserved ?? 0;
  const cap = input.cap ?? null;
  if (!Number.isInteger(reserved) || reserved < 0 || reserved > MAX_SEATS)
    throw badInput('input.reserved', `must be a whole number from 0 to ${MAX_SEATS}`, 'R-RES-2');
  if (cap !== null && (!Number.isInteger(cap) || cap < 0 || cap > MAX_SEATS))
    throw badInput('input.cap', `must be a whole number from 0 to ${MAX_SEATS}, or null for no cap`, 'R-RES-5');
  if (cap !== null && cap < reserved) throw badInput('input.cap', `cap ${cap} is below the reservation of ${reserved}`, 'R-RES-5');
  const bySite = input.siteId != null;
  if (bySite === (input.configurationGroupId != null))
    throw badInput('input.siteId', 'give exactly one of siteId and configurationGroupId', 'R-RES-1');
  const unitId = (bySite ? input.siteId : input.configurationGroupId) as string;
  const field = bySite ? 'input.siteId' : 'input.configurationGroupId';
  if (!isId(unitId)) throw badInput(field, 'is not an id');
  try {
    return await withTransaction(
      ctx.db,
      async (trx) => {
        const unit = bySite
          ? { site: await getSite(ctx, unitId, 'write', trx), group: null }
          : await (async () => {
              const group = await getGroup(ctx, unitId, 'write', trx);
              return { site: await getSite(ctx, group.site_id, 'write', trx), group };
            })();
        // Lock order 1: the organization; 3: the pool (the seats counted below are exact under it).
        const org = await lockOrganizationFor(ctx, trx, unit.site.organization_id, 'write');
        const catalog = catalogOf(ctx, org);
        const product = catalog.products.find((p) => p.code === input.product);
        if (!product) throw badInput('input.product', `unknown product "${input.product}" in catalog ${catalog.code}`);
        const pool = await lockPoolCounter(trx, org.id, product.code);
        if (product.allocation !== 'CONCURRENT' && !pool)
          throw badInput(
            'input.product',
            `${product.code} has no concurrent pool: reservations and caps bound concurrent seats and units`,
            'R-RES-1',
          );
        const bound = {
          product: product.code,
          siteId: unit.site.id,
          groupId: unit.group?.id ?? null,
          reserved,
          cap,
          label: unit.group ? `group ${unit.group.name}` : `site ${unit.site.name}`,
        };
        const others = (await boundsOf(trx, org.id, product.code)).filter(
          (b) => !(b.siteId === bound.siteId && b.groupId === bound.groupId),
        );
        const after = [...others, bound].filter((b) => b.reserved > 0 || b.cap !== null);
        const problem = boundsProblem(product.code, pool?.capacity ?? 0, after);
        if (problem) {
          const rule = problem.match(/ \((R-RES-\d)\)$/);
          throw badInput(reserved > 0 ? 'input.reserved' : 'input.cap', rule ? problem.slice(0, rule.index) : problem, rule?.[1]);
        }
        await putBound(trx, org.id, bound);
        const inUse = seatsOfUnit(bound, await openSeatsByUnit(trx, org.id, product.code));
        const result: SeatBoundResult = {
          applied: !input.dryRun,
          product: product.code,
          siteId: unit.site.id,
          siteName: unit.site.name,
          groupId: unit.group?.id ?? null,
          groupName: unit.group?.name ?? null,
          reserved,
          cap,
          inUse,
          overCap: cap === null ? 0 : Math.max(0, inUse - cap),
        };
        if (input.dryRun) throw new Rehearsed(result);
        return result;
      },
      { label: 'setSeatBound' },
    );
  } catch (error) {
    if (error instanceof Rehearsed) return error.result;
    throw error;
  }
}

/**
 * What `User.explain` needs to name the reservations and caps that bind the
 * user's next session of a concurrent product (R-RES-3, R-RES-5): the
 * product's bounds, its open seats by unit and the pool's limits, read
 * without a lock (a snapshot, as seatUsage). Undefined when the product has
 * no bound (one query) or no pool.
 */
export async function seatBoundsOfUser(ctx: Context, user: User, product: string): Promise<SeatBoundsInput | undefined> {
  const bounds = await boundsOf(ctx.db, user.organization_id, product);
  if (bounds.length === 0) return undefined;
  const [seats, pools] = await Promise.all([
    openSeatsByUnit(ctx.db, user.organization_id, product),
    poolsOfOrganizations(ctx.db, [user.organization_id]),
  ]);
  const pool = pools.find((p) => p.product_code === product);
  if (!pool) return undefined;
  return {
    pool: { capacity: pool.capacity, emergencyCapacity: pool.emergency_capacity, overageAllowed: pool.overage_allowed, inUse: pool.in_use },
    bounds,
    seats,
    member: { siteId: user.site_id, groupId: user.configuration_group_id },
  };
}
