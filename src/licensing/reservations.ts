/**
 * Seat reservations and caps per site and configuration group (R-RES-1 …
 * R-RES-6), as pure rules: whether a bound set is valid for a pool, and
 * whether one more seat for a member of a site and group keeps every bound.
 *
 * A *reservation* keeps `reserved` seats of the pool's regular capacity for
 * the unit's members; a *cap* bounds how many seats its members hold at
 * once, whatever their kind. A group's reservation lies within its site's;
 * the sites' reservations lie within the pool's regular capacity (R-RES-1).
 * Emergency seats (R-EMER-1) and overage (R-OVER-1) are the pool's shared
 * reserve: they ignore reservations and respect caps (R-RES-4).
 *
 * A seat counts against the site and group its holder had when it was taken.
 *
 * @example
 * const bounds = [{ siteId: 'berlin', groupId: null, reserved: 20, cap: null, label: 'site Berlin' }];
 * admitSeat('AGENT_SEAT', { capacity: 100, emergencyCapacity: 0, overageAllowed: false, inUse: 80 }, bounds, [], { siteId: 'munich', groupId: null });
 * // { code: 'SEATS_RESERVED', message: 'the free AGENT_SEAT seats are reserved: site Berlin 20 (0 in use) (R-RES-3)', … }
 */

/** A bound of one product on a site (`groupId` null) or on a group of that site. */
export interface SeatBound {
  siteId: string;
  groupId: string | null;
  reserved: number;
  cap: number | null;
  /** For messages: "site Munich", "group Temps". */
  label: string;
}

/** Open seats of the product by the site and group their holders had when they took them. */
export interface UnitSeats {
  siteId: string | null;
  groupId: string | null;
  seats: number;
}

export interface PoolLimits {
  capacity: number;
  emergencyCapacity: number;
  overageAllowed: boolean;
  /** Seats in use before the take. */
  inUse: number;
}

export interface Member {
  siteId: string;
  groupId: string | null;
}

/** Why a bound refused a seat: the unit's cap (R-RES-5), or reservations of other units (R-RES-3). */
export interface BoundRefusal {
  code: 'CAP_REACHED' | 'SEATS_RESERVED';
  product: string;
  message: string;
}

const applies = (b: SeatBound, m: Member) => (b.groupId === null ? b.siteId === m.siteId : b.groupId === m.groupId);

/** Seats held by a bound's unit. */
export function seatsOfUnit(bound: Pick<SeatBound, 'siteId' | 'groupId'>, seats: readonly UnitSeats[]): number {
  let n = 0;
  for (const s of seats) if (bound.groupId === null ? s.siteId === bound.siteId : s.groupId === bound.groupId) n += s.seats;
  return n;
}

/**
 * The seats the pool must count as taken: seats in use plus the unused part
 * of every reservation. A group's claim is the larger of its use and its
 * reservation; a site's the larger of its reservation and its members'
 * seats outside reserving groups plus its groups' claims.
 */
export function claimedSeats(inUse: number, bounds: readonly SeatBound[], seats: readonly UnitSeats[]): number {
  const sites = new Map<string, { reserved: number; groups: SeatBound[] }>();
  for (const b of bounds) {
    const site = sites.get(b.siteId) ?? { reserved: 0, groups: [] };
    if (b.groupId === null) site.reserved = b.reserved;
    else site.groups.push(b);
    sites.set(b.siteId, site);
  }
  let total = inUse;
  for (const [siteId, site] of sites) {
    const siteUse = seatsOfUnit({ siteId, groupId: null }, seats);
    let groupsUse = 0;
    let groupsClaim = 0;
    for (const g of site.groups) {
      const use = seatsOfUnit(g, seats);
      groupsUse += use;
      groupsClaim += Math.max(use, g.reserved);
    }
    const claim = Math.max(site.reserved, Math.max(0, siteUse - groupsUse) + groupsClaim);
    total += claim - siteUse;
  }
  return total;
}

/**
 * R-RES-3 … R-RES-5: whether one more seat for `member` keeps every bound:
 * null when it does, else the refusal naming the bound. The caller holds the
 * pool's row lock, so `pool.inUse` and `seats` are exact; the pool's own
 * limit (capacity + emergency, or overage) is checked by the seat take.
 */
export function admitSeat(
  product: string,
  pool: PoolLimits,
  bounds: readonly SeatBound[],
  seats: readonly UnitSeats[],
  member: Member,
): BoundRefusal | null {
  // R-RES-5: caps hold for every seat kind, emergency and overage included (site first, then group).
  const own = bounds.filter((b) => applies(b, member)).sort((x, y) => Number(x.groupId !== null) - Number(y.groupId !== null));
  for (const b of own) {
    const held = seatsOfUnit(b, seats);
    if (b.cap !== null && held + 1 > b.cap)
      return {
        code: 'CAP_REACHED',
        product,
        message: `${b.label} holds its cap of ${b.cap} ${product} seat(s) (R-RES-5)`,
      };
  }
  // R-RES-3: a seat outside every unused reservation needs room beyond them (emergency seats count as room, R-RES-4).
  const limit = pool.overageAllowed ? Number.POSITIVE_INFINITY : pool.capacity + pool.emergencyCapacity;
  // A full pool is the take's own refusal (NO_SEAT_AVAILABLE), whoever holds the seats.
  if (pool.inUse >= limit) return null;
  const before = claimedSeats(pool.inUse, bounds, seats);
  const after = claimedSeats(pool.inUse + 1, bounds, [...seats, { siteId: member.siteId, groupId: member.groupId, seats: 1 }]);
  if (after <= limit || after <= before) return null;
  const others = bounds
    .filter((b) => b.reserved > 0 && !applies(b, member))
    .map((b) => ({ b, held: seatsOfUnit(b, seats) }))
    .filter(({ b, held }) => held < b.reserved)
    .map(({ b, held }) => `${b.label} ${b.reserved} (${held} in use)`);
  return {
    code: 'SEATS_RESERVED',
    product,
    message: `the free ${product} seats are reserved: ${others.join(', ') || 'for other units'} (R-RES-3)`,
  };
}

/**
 * R-RES-1, R-RES-2: the bounds of one product after a change, checked
 * against the pool's regular capacity. Null when valid, else the message
 * naming the numbers.
 */
export function boundsProblem(product: string, capacity: number, bounds: readonly SeatBound[]): string | null {
  for (const b of bounds) {
    if (!Number.isInteger(b.reserved) || b.reserved < 0) return `${b.label}: reserved must be a whole number ≥ 0`;
    if (b.cap !== null && (!Number.isInteger(b.cap) || b.cap < b.reserved))
      return `${b.label}: cap ${b.cap} must be a whole number ≥ its reservation of ${b.reserved} (R-RES-5)`;
  }
  for (const site of bounds.filter((b) => b.groupId === null || !bounds.some((s) => s.groupId === null && s.siteId === b.siteId))) {
    const groups = bounds.filter((b) => b.groupId !== null && b.siteId === site.siteId);
    const inGroups = groups.reduce((n, g) => n + g.reserved, 0);
    const siteReserved = site.groupId === null ? site.reserved : 0;
    if (inGroups > siteReserved) {
      const siteLabel = site.groupId === null ? site.label : 'their site';
      return `${product}: the groups of ${siteLabel} would reserve ${inGroups} seat(s) (${groups
        .filter((g) => g.reserved > 0)
        .map((g) => `${g.label} ${g.reserved}`)
        .join(', ')}) but ${siteLabel} reserves ${siteReserved}: a group's reservation lies within its site's (R-RES-2)`;
    }
  }
  const total = bounds.filter((b) => b.groupId === null).reduce((n, b) => n + b.reserved, 0);
  if (total > capacity)
    return `${product}: the reservations would total ${total} seat(s) but the pool has ${capacity} regular seat(s) (R-RES-1)`;
  return null;
}
