/**
 * What a session start takes, decided before any seat is (R-CONC-1,
 * R-CHAN-1, R-DEMO-1), and the refusals of a start with their messages.
 * Pure: the caller reads the licensing state and the user's grants, asks
 * `planSession`, and then takes the planned units in `units` order (the pool
 * lock order) or answers with the refusal.
 *
 * @example
 * const outcome = planSession({ catalog, entitlements, status, grants, channels: ['VOICE'], userName: 'Ada' });
 * if ('refusal' in outcome) return outcome.refusal; // { code: 'NOT_LICENSED', message: '…' }
 * outcome.plan.units; // [{ product: 'AGENT_SEAT', channel: null }, { product: 'VOICE', channel: 'VOICE' }]
 */
import type { Catalog } from '../catalogs/types.ts';
import type { SeatKind } from './metering.ts';
import { allocationOf, concurrentSeatProducts, DEMO_POOL, type EntitledAllocations, loginLicences } from './seats.ts';

export type DenialCode =
  | 'NO_SEAT_AVAILABLE'
  | 'NOT_LICENSED'
  | 'USER_NOT_ACTIVE'
  | 'LICENSE_INACTIVE'
  | 'DEMO_LIMIT_REACHED'
  | 'MISSING_PREREQUISITE'
  | 'CAP_REACHED'
  | 'SEATS_RESERVED';

/** A start refused, as data (`StartSessionPayload.denial`). */
export interface Refusal {
  code: DenialCode;
  message: string;
  /** The product the refusal is about, where it names one (NO_SEAT_AVAILABLE: the full pool). */
  product?: string;
}

/** A requested channel the session does not get. */
export interface ChannelDenial extends Refusal {
  channel: string;
}

/** Why a start is refused once it is planned: the user, a full pool, or the demo limit. */
export type RefusalCause =
  | { code: 'USER_NOT_ACTIVE'; userName: string; status: string }
  | { code: 'NO_SEAT_AVAILABLE'; product: string }
  | { code: 'DEMO_LIMIT_REACHED'; state: string; demoAgentLimit: number };

/** The refusal of a start, with the message that says which rule refused it. */
export function refusal(cause: RefusalCause): Refusal {
  switch (cause.code) {
    case 'USER_NOT_ACTIVE':
      return { code: cause.code, message: `${cause.userName} is ${cause.status}; only ACTIVE users may start sessions` };
    case 'NO_SEAT_AVAILABLE':
      return { code: cause.code, product: cause.product, message: `all ${cause.product} seats are in use (capacity and emergency seats)` };
    case 'DEMO_LIMIT_REACHED':
      return {
        code: cause.code,
        message: `the licence is ${cause.state}: demo mode allows ${cause.demoAgentLimit} session(s) at once and they are taken`,
      };
  }
}

/** A pooled channel whose unit was not free when the start took it. */
export const channelUnitTaken = (channel: string, product: string): ChannelDenial => ({
  channel,
  code: 'NO_SEAT_AVAILABLE',
  message: `all ${product} units are in use`,
});

export interface SeatPlanInput {
  catalog: Catalog;
  entitlements: EntitledAllocations;
  /** The licence's status: full use, or demo mode (NONE, PENDING, DEMO) with its session limit. */
  status: { fullUse: boolean; state: string; demoAgentLimit: number };
  /** The user's stored grants by product code (GRANTED, MISSING_PREREQUISITE, …); unused in demo mode. */
  grants: ReadonlyMap<string, string>;
  /** Requested channels, normalized (upper case, no duplicates). */
  channels: readonly string[];
  userName: string;
  /** What the holder lacks, in words, for grants that are MISSING_PREREQUISITE by a holder fact (R-2FA-2). */
  gaps?: ReadonlyMap<string, readonly string[]>;
}

export interface SeatPlan {
  /** Demo mode: one unit of the demo pool, whatever the catalog (R-LIFE-5, R-DEMO-1). */
  demo: boolean;
  /**
   * A named session (R-NAMED-5): the user holds a named or fixed-seat user
   * licence and no concurrent seat product, so the session takes no seat
   * (`seatProducts` empty) and its kind is NAMED.
   */
  named: boolean;
  /** Seat products to take one seat of each (R-CONC-1), by product code; in demo mode the demo pool. */
  seatProducts: string[];
  /** Channels licensed without a pool (held feature, tier feature, or not licensed separately). */
  heldChannels: string[];
  /** Channels that need a unit of a concurrent pool, by product code. */
  pooledChannels: { channel: string; product: string }[];
  deniedChannels: ChannelDenial[];
  /** Every unit to take (seats, then pooled channels), in the pool lock order: product code, byte order. */
  units: { product: string; channel: string | null }[];
}

/** Product codes in byte order: the pool lock order (SQL `collate "C"`; `*DEMO` sorts first). */
export const byCode = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/**
 * R-CONC-1, R-CHAN-1 and eligibility. With full use: one seat of every
 * concurrent seat product the user is eligible for; without one, a held
 * named or fixed-seat user licence (R-NAMED-5, R-FIX-1) opens a NAMED
 * session that takes no seat; refused when neither. Per requested channel or
 * concurrent feature (R-FEAT-1, a feature licence named by its code): licensed when the user holds its channel feature (named,
 * fixed seat, or included in their tier), or when a unit of its concurrent
 * pool is free (emergency included). A catalog without channel features does
 * not license channels separately (innoACD). In demo mode: one demo seat,
 * and no channel licences.
 */
export function planSession(input: SeatPlanInput): { plan: SeatPlan } | { refusal: Refusal } {
  const { catalog, entitlements, status, grants, channels, userName } = input;
  if (!status.fullUse) {
    return {
      plan: {
        demo: true,
        named: false,
        seatProducts: [DEMO_POOL],
        heldChannels: [],
        pooledChannels: [],
        deniedChannels: channels.map((channel) => ({
          channel,
          code: 'LICENSE_INACTIVE',
          message: `the licence is ${status.state}: channel licences are not granted in demo mode`,
        })),
        units: [{ product: DEMO_POOL, channel: null }],
      },
    };
  }
  const seatProducts = concurrentSeatProducts(catalog, entitlements);
  const eligible = seatProducts.filter((p) => grants.get(p.code) === 'GRANTED');
  // R-NAMED-5: without a concurrent seat, a held named or fixed-seat user licence is the user's access (no seat taken).
  const named = eligible.length === 0 && loginLicences(catalog, entitlements).some((p) => grants.get(p.code) === 'GRANTED');
  if (eligible.length === 0 && !named) {
    const missing = seatProducts.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (missing)
      return {
        refusal: {
          code: 'MISSING_PREREQUISITE',
          message: `${missing.code} is configured for ${userName} but a prerequisite is missing (see user.explain)`,
        },
      };
    // R-NAMED-5, R-2FA-2: a named or fixed-seat licence with an unmet prerequisite (a security key) is no access.
    const login = loginLicences(catalog, entitlements).find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (login) {
      const gaps = input.gaps?.get(login.code);
      return {
        refusal: {
          code: 'MISSING_PREREQUISITE',
          message: `${login.code} is configured for ${userName} but ${gaps?.length ? `needs ${gaps.join('; ')}` : 'a prerequisite is missing (see user.explain)'}`,
        },
      };
    }
    const configured = seatProducts.find((p) => grants.has(p.code));
    return {
      refusal: {
        code: 'NOT_LICENSED',
        message: configured
          ? `the organization has no ${configured.code} licences`
          : `no concurrent seat licence (${seatProducts.map((p) => p.code).join(', ') || 'none in this catalog'}) is configured for ${userName}`,
      },
    };
  }
  const plan: SeatPlan = {
    demo: false,
    named,
    seatProducts: eligible.map((p) => p.code).sort(byCode),
    heldChannels: [],
    pooledChannels: [],
    deniedChannels: [],
    units: [],
  };
  const channelProducts = catalog.products.filter((p) => p.channel !== null);
  for (const channel of channels) {
    if (channelProducts.length === 0) {
      plan.heldChannels.push(channel);
      continue;
    }
    // A requested name is a channel (VOICE) or a feature licence without a channel (CALL_RECORDING, R-FEAT-1).
    const candidates = catalog.products.filter(
      (p) => p.channel === channel || (p.channel === null && p.kind === 'FEATURE' && p.code === channel),
    );
    if (candidates.length === 0) {
      plan.deniedChannels.push({
        channel,
        code: 'NOT_LICENSED',
        message: `${catalog.code} has no licence for channel or feature ${channel}`,
      });
      continue;
    }
    const held = candidates.find((p) => allocationOf(p, entitlements) !== 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const pooled = candidates.find((p) => allocationOf(p, entitlements) === 'CONCURRENT' && grants.get(p.code) === 'GRANTED');
    const missing = candidates.find((p) => grants.get(p.code) === 'MISSING_PREREQUISITE');
    if (held) plan.heldChannels.push(channel);
    else if (pooled) plan.pooledChannels.push({ channel, product: pooled.code });
    else if (missing)
      plan.deniedChannels.push({
        channel,
        code: 'MISSING_PREREQUISITE',
        message: `${missing.code} is configured but a prerequisite is missing`,
      });
    else
      plan.deniedChannels.push({
        channel,
        code: 'NOT_LICENSED',
        message: `${candidates.map((p) => p.code).join(' or ')} is not licensed for this user`,
      });
  }
  plan.pooledChannels.sort((x, y) => byCode(x.product, y.product));
  plan.units = [
    ...plan.seatProducts.map((product) => ({ product, channel: null as string | null })),
    ...plan.pooledChannels.map((c) => ({ product: c.product, channel: c.channel as string | null })),
  ].sort((x, y) => byCode(x.product, y.product));
  return { plan };
}

/** The kind of a seat a session took: a pool's seat kind, DEMO for the demo pool, NAMED for a session without a seat (R-NAMED-5). */
export type SessionSeatKind = SeatKind | 'DEMO' | 'NAMED';

/** Worst kind first: the session's kind is the most exceptional seat it took. */
const KIND_ORDER: Record<SessionSeatKind, number> = { NAMED: -1, REGULAR: 0, EMERGENCY: 1, OVERAGE: 2, DEMO: 3 };

/**
 * The kind of a session: the most exceptional of its seats' kinds; a
 * session that took no seat is NAMED when its plan says so (R-NAMED-5),
 * REGULAR otherwise. Feature units of a named session do not make it a seat
 * session: its kind stays NAMED.
 */
export function sessionKind(kinds: readonly SessionSeatKind[], named = false): SessionSeatKind {
  if (named) return 'NAMED';
  return kinds.reduce<SessionSeatKind>((worst, kind) => (KIND_ORDER[kind] > KIND_ORDER[worst] ? kind : worst), 'REGULAR');
}
