import type { SessionRow, SessionSeatRow } from '../db/schema.ts';
import type { SessionSeatKind } from '../licensing/session-plan.ts';

/**
 * Why a session ended (`sessions.end_reason`, `Session.endReason`): ENDED by
 * its client, EXPIRED without heartbeat, or ended because its user was
 * deleted or left ACTIVE (USER_DELETED, USER_INACTIVE, USER_PREPARING).
 */
export const END_REASONS = ['ENDED', 'EXPIRED', 'USER_DELETED', 'USER_INACTIVE', 'USER_PREPARING'] as const;
export type EndReason = (typeof END_REASONS)[number];

export const SEAT_KINDS = ['REGULAR', 'EMERGENCY', 'OVERAGE', 'DEMO', 'NAMED'] as const satisfies readonly SessionSeatKind[];

/** A session: its row, with its seat kind and end reason checked. */
export type Session = Omit<SessionRow, 'seat_kind' | 'end_reason'> & { seat_kind: SessionSeatKind; end_reason: EndReason | null };

/** The session a stored row is; a seat kind or end reason this gateway does not write is a fault. */
export function sessionOf(row: SessionRow): Session {
  if (!(SEAT_KINDS as readonly string[]).includes(row.seat_kind))
    throw new Error(`stored session ${row.id} has seat kind ${row.seat_kind}, which is not a SeatKind`);
  if (row.end_reason !== null && !(END_REASONS as readonly string[]).includes(row.end_reason))
    throw new Error(`stored session ${row.id} has end reason ${row.end_reason}, which is not a SessionEndReason`);
  return row as Session;
}

/** The kinds a channel unit can have: a unit of a concurrent feature pool (R-CHAN-1, R-FEAT-1). */
export const CHANNEL_UNIT_KINDS = ['REGULAR', 'EMERGENCY', 'OVERAGE'] as const satisfies readonly SessionSeatKind[];
export type ChannelUnitKind = (typeof CHANNEL_UNIT_KINDS)[number];

/**
 * A unit of a concurrent channel or feature pool that a session holds
 * (`Session.channelUnits`): its kind is the unit's own, apart from the
 * session's `seatKind`, which describes the seat alone.
 */
export interface ChannelUnit {
  channel: string;
  product: string;
  kind: ChannelUnitKind;
}

/** The channel units among a session's stored seat rows (rows with a channel), in channel order; an unknown kind is a fault. */
export function channelUnitsOf(rows: readonly SessionSeatRow[]): ChannelUnit[] {
  return rows
    .filter((r): r is SessionSeatRow & { channel: string } => r.channel !== null)
    .map((r) => {
      const kind = CHANNEL_UNIT_KINDS.find((k) => k === r.seat_kind);
      if (kind === undefined) throw new Error(`stored unit ${r.product_code} of session ${r.session_id} has kind ${r.seat_kind}`);
      return { channel: r.channel, product: r.product_code, kind };
    })
    .sort((x, y) => (x.channel < y.channel ? -1 : x.channel > y.channel ? 1 : 0));
}
